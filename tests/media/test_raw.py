"""Camera RAW files: sniffing, exiv2 metadata, LibRaw's preview or demosaic, damaged files; DNGs written from real
photos (tests/rawfactory.py: a Bayer mosaic, a JPEG preview in IFD0, EXIF written by exiv2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rawpy")
pytest.importorskip("pyexiv2")
pytest.importorskip("tifffile")

from chronicon.errors import MediaError
from chronicon.media.photo import open_image, read_photo_metadata
from chronicon.media.raw import decode_raw, raw_format, read_raw_tags
from chronicon.media.sniff import IMAGE_EXTENSIONS, RAW_EXTENSIONS, Sniffed, sniff_bytes, sniff_file
from chronicon.types import MediaKind
from mediafactory import make_jpeg
from rawfactory import make_dng, real_photo

IMAGE = MediaKind.IMAGE
LIMIT = 100_000_000

CAMERA_EXIF = {
    "Exif.Photo.FNumber": "28/10",
    "Exif.Photo.ExposureTime": "1/250",
    "Exif.Photo.ISOSpeedRatings": "400",
    "Exif.Photo.FocalLength": "50/1",
    "Exif.Photo.LensModel": "RF50mm F1.8 STM",
    "Exif.GPSInfo.GPSLatitudeRef": "N",
    "Exif.GPSInfo.GPSLatitude": "48/1 51/1 2400/100",
    "Exif.GPSInfo.GPSLongitudeRef": "E",
    "Exif.GPSInfo.GPSLongitude": "2/1 21/1 0/1",
    "Exif.GPSInfo.GPSAltitudeRef": "0",
    "Exif.GPSInfo.GPSAltitude": "35/1",
}


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return real_photo("chelsea", (450, 300))  # scikit-image's cat, landscape


def _similarity(image: Image.Image, reference: Image.Image) -> float:
    """Correlation of two pictures' grey pixels at the same size (1 = the same picture)."""
    a = np.asarray(image.convert("L").resize((96, 64)), dtype=np.float64).ravel()
    b = np.asarray(reference.convert("L").resize((96, 64)), dtype=np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


# --- recognition -----------------------------------------------------------------------------------------


def test_a_written_dng_is_recognised_by_content_and_name(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "IMG_0001.DNG"
    make_dng(path, cat)
    assert sniff_file(path) == Sniffed(IMAGE, "dng")
    assert raw_format(path) == "dng"
    head = path.read_bytes()[:64]
    assert sniff_bytes(head) == Sniffed(IMAGE, "tiff")  # the bytes alone: a TIFF
    assert sniff_bytes(head, name="x.tif") == Sniffed(IMAGE, "tiff")
    for ext, fmt in ((".nef", "nef"), (".ARW", "arw"), (".pef", "pef"), (".srw", "srw"), (".nrw", "nef")):
        assert sniff_bytes(head, name=f"shot{ext}") == Sniffed(IMAGE, fmt)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00" + b"\x00" * 20, "cr2"),  # Canon CR2, whatever the name
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "cr3"),  # Canon CR3 (ISO-BMFF)
        (b"FUJIFILMCCD-RAW 0201FF383501", "raf"),
        (b"IIRO\x08\x00\x00\x00" + b"\x00" * 8, "orf"),
        (b"IIRS\x08\x00\x00\x00" + b"\x00" * 8, "orf"),
        (b"MMOR\x00\x00\x00\x08" + b"\x00" * 8, "orf"),
        (b"IIU\x00\x08\x00\x00\x00" + b"\x00" * 8, "rw2"),
    ],
)
def test_raw_signatures(head: bytes, fmt: str) -> None:
    assert sniff_bytes(head) == Sniffed(IMAGE, fmt)
    assert sniff_bytes(head, name="renamed.jpg") == Sniffed(IMAGE, fmt)


def test_raw_extensions_are_image_extensions() -> None:
    assert {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"} <= RAW_EXTENSIONS <= IMAGE_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in RAW_EXTENSIONS)


def test_a_jpeg_is_not_raw(tmp_path: Path) -> None:
    make_jpeg(tmp_path / "a.dng")  # a JPEG with a RAW name stays a JPEG
    assert raw_format(tmp_path / "a.dng") is None
    assert sniff_file(tmp_path / "a.dng") == Sniffed(IMAGE, "jpeg")


# --- metadata --------------------------------------------------------------------------------------------


def test_metadata_has_the_photo_shape(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "IMG_0002.dng"
    make_dng(
        path, cat, taken_at="2024:05:06 07:08:09", subsec="25", offset="+02:00", orientation=6, exif=CAMERA_EXIF,
        make="Canon", model="EOS R8",
    )  # fmt: skip
    jpeg = tmp_path / "ref.jpg"
    make_jpeg(jpeg)
    meta = read_photo_metadata(str(path))
    assert set(meta) == set(read_photo_metadata(str(jpeg)))
    assert meta == {
        "format": "DNG",
        "width": 300,  # stored 450×300, orientation 6: a portrait
        "height": 450,
        "orientation": 6,
        "taken_at": "2024-05-06T07:08:09.250000+02:00",
        "taken_at_source": "exif DateTimeOriginal",
        "taken_at_offset": "file",
        "camera_make": "Canon",
        "camera_model": "EOS R8",
        "lens": "RF50mm F1.8 STM",
        "iso": 400,
        "f_number": 2.8,
        "exposure_time": 0.004,
        "focal_length": 50.0,
        "gps_lat": 48.8566667,
        "gps_lon": 2.35,
        "gps_alt": 35.0,
    }


def test_tiff_ep_dates_in_ifd0_and_no_exif(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "ep.dng"
    make_dng(path, cat, taken_at=None, exif={"Exif.Image.DateTimeOriginal": "2019:01:02 03:04:05"})
    assert read_photo_metadata(str(path))["taken_at"] == "2019-01-02T03:04:05"
    bare = tmp_path / "bare.dng"
    make_dng(bare, cat, taken_at=None)
    meta = read_photo_metadata(str(bare))
    assert meta["taken_at"] is None and meta["iso"] is None and meta["gps_lat"] is None
    assert (meta["width"], meta["height"]) == (450, 300)
    tags = read_raw_tags(str(bare))
    assert tags.size == (450, 300) and tags.format == "DNG"


# --- pixels: preview or demosaic -------------------------------------------------------------------------


def test_a_large_enough_preview_is_used_and_drafted(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "full.dng"
    make_dng(path, cat, preview="full")
    picture = decode_raw(str(path), max_pixels=LIMIT, draft_size=120)
    assert picture.source == "preview"
    assert picture.image.size == (225, 150)  # the JPEG preview decoded at 1/2 scale (DCT), still >= 120
    assert picture.image.mode == "RGB"
    assert _similarity(picture.image, cat) > 0.98
    whole = decode_raw(str(path), max_pixels=LIMIT)
    assert whole.source == "preview" and whole.image.size == (450, 300)  # a full-size preview is the full picture


def test_a_preview_smaller_than_asked_means_a_demosaic(tmp_path: Path, cat: Image.Image) -> None:
    small = tmp_path / "small-preview.dng"
    make_dng(small, cat, preview=96)
    assert decode_raw(str(small), max_pixels=LIMIT, draft_size=64).source == "preview"  # 96×64: enough
    picture = decode_raw(str(small), max_pixels=LIMIT, draft_size=200)
    assert picture.source == "demosaic"
    assert picture.image.size == (450, 300)  # half size (225×150) would be below 200
    assert _similarity(picture.image, cat) > 0.9
    half = decode_raw(str(small), max_pixels=LIMIT, draft_size=140)
    assert half.source == "demosaic" and half.image.size == (225, 150)  # LibRaw's half size is enough


def test_no_preview_at_all_means_a_demosaic(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "none.dng"
    make_dng(path, cat, preview=None)  # IFD0 holds only a 16×16 bitmap
    picture = decode_raw(str(path), max_pixels=LIMIT, draft_size=100)
    assert picture.source == "demosaic"
    colors = np.asarray(picture.image, dtype=np.float64).mean(axis=(0, 1))
    reference = np.asarray(cat.resize(picture.image.size), dtype=np.float64).mean(axis=(0, 1))
    assert _similarity(picture.image, cat) > 0.9
    assert colors[0] > colors[2] and reference[0] > reference[2]  # a ginger cat stays warm (camera white balance)


@pytest.mark.parametrize("preview", ["full", None])
@pytest.mark.parametrize(("orientation", "turn"), [(6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)])
def test_both_paths_are_upright(tmp_path: Path, cat: Image.Image, preview: Any, orientation: int, turn: Any) -> None:
    path = tmp_path / "turned.dng"
    make_dng(path, cat, preview=preview, orientation=orientation)
    image = open_image(str(path), max_pixels=LIMIT, draft_size=150)
    upright = cat.transpose(turn)
    assert image.size[0] < image.size[1]
    assert _similarity(image, upright) > 0.9
    assert _similarity(image, upright) > _similarity(image, upright.transpose(Image.Transpose.ROTATE_180)) + 0.2


def test_the_pixel_limit_refuses_before_decoding(tmp_path: Path, cat: Image.Image) -> None:
    path = tmp_path / "big.dng"
    make_dng(path, cat)
    with pytest.raises(MediaError, match=r"450×300 .*scan\.max_image_pixels"):
        open_image(str(path), max_pixels=100_000)


# --- damaged files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_truncated_raw_data_is_a_media_error(tmp_path: Path, cat: Image.Image, keep: float) -> None:
    whole = tmp_path / "whole.dng"
    make_dng(whole, cat, preview=None)
    data = whole.read_bytes()
    cut = tmp_path / "cut.dng"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MediaError, match="truncated or corrupt RAW data"):
        open_image(str(cut), max_pixels=LIMIT, draft_size=100)


def test_intact_preview_of_a_truncated_raw_still_shows(tmp_path: Path, cat: Image.Image) -> None:
    # The preview comes first in the file: a RAW cut in its sensor data still has a picture to index.
    whole = tmp_path / "whole.dng"
    make_dng(whole, cat, preview="full")
    data = whole.read_bytes()
    cut = tmp_path / "cut.dng"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert decode_raw(str(cut), max_pixels=LIMIT, draft_size=100).source == "preview"
    assert read_photo_metadata(str(cut))["width"] == 450


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("junk.dng", b"II*\x00\x08\x00\x00\x00"),
        ("junk.cr2", b"II*\x00\x10\x00\x00\x00CR\x02\x00"),
        ("junk.raf", b"FUJIFILMCCD-RAW 0201"),
        ("junk.orf", b"IIRO\x08\x00\x00\x00"),
        ("junk.cr3", b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom"),
    ],
)
def test_garbage_with_a_raw_signature_is_a_media_error(tmp_path: Path, name: str, head: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(head + bytes(range(256)) * 20)
    assert raw_format(path) is not None
    with pytest.raises(MediaError, match="RAW"):
        read_photo_metadata(str(path))
    with pytest.raises(MediaError, match="RAW"):
        open_image(str(path), max_pixels=LIMIT)


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        decode_raw(str(tmp_path / "gone.dng"), max_pixels=LIMIT)


# --- in a scan -------------------------------------------------------------------------------------------


def test_scan_indexes_a_raw_with_every_cheap_pass(tmp_path: Path, make_library: Any, cat: Image.Image) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    make_dng(root / "cat.dng", cat, exif=CAMERA_EXIF, orientation=6)
    make_dng(root / "nopreview.dng", cat, preview=None)
    (root / "broken.nef").write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\x01" * 400)
    library = make_library()
    summary = library.scan([root])
    assert summary.counts["new"] == 2 and summary.counts["failed"] == 1
    failure = next(f for f in summary.failures if f.path.endswith("broken.nef"))
    assert "RAW" in failure.reason
    row = library.info(root / "cat.dng")
    assert row["format"] == "dng" and row["kind"] == "image" and row["status"] == "ok"
    assert (row["width"], row["height"], row["iso"], row["lens"]) == (300, 450, 400, "RF50mm F1.8 STM")
    phases = json.loads(row["phases"])
    assert phases["metadata"]["status"] == phases["content"]["status"] == "done"
    thumbnail = Image.open(library.catalog_dir / row["thumbnail"])
    assert thumbnail.size[0] < thumbnail.size[1]  # upright
    assert _similarity(thumbnail, cat.transpose(Image.Transpose.ROTATE_270)) > 0.9
    other = library.info(root / "nopreview.dng")
    assert other["status"] == "ok" and other["phash"]


def test_model_passes_read_a_raw_through_the_shared_decode(tmp_path: Path, make_ml_library: Any) -> None:
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("cv2")
    root = tmp_path / "photos"
    root.mkdir()
    make_dng(root / "cat.dng", real_photo("chelsea", (450, 300)), preview=None)  # no preview: LibRaw's demosaic
    make_dng(root / "coffee.dng", real_photo("coffee"), preview="full")
    library = make_ml_library()
    summary = library.scan([root])
    assert summary.failed == 0, summary.failures
    cat, coffee = library.info(root / "cat.dng"), library.info(root / "coffee.dng")
    assert any("cat" in label for label in cat["labels"]), cat["labels"]
    assert "cup" in [d["label"] for d in json.loads(coffee["detections"])]
    assert json.loads(cat["phases"])["tags"]["status"] == "done"
