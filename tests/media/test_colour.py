"""JPEG XL files, and pictures in other colour spaces brought to sRGB: an embedded ICC profile (Display P3, built
here as a real ICC matrix/TRC profile), HDR HEIC with PQ and HLG transfer and BT.2020 primaries (NCLX)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from chronicon.errors import MediaError
from chronicon.media.colour import to_srgb
from chronicon.media.photo import open_image, read_photo_metadata
from chronicon.media.sniff import sniff_file

MAX = 100_000_000

# Display P3 colorants, adapted to the D50 profile white (as Apple's Display P3 profile holds them).
P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
P3_TO_SRGB = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def matrix_icc(colorants: tuple[tuple[float, float, float], ...], gamma: float, name: str) -> bytes:
    """A real ICC v2 RGB display profile: rXYZ/gXYZ/bXYZ colorants, one gamma curve per channel, its name."""
    text = name.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 12 + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", _xyz(0.9642, 1.0, 0.8249))]
    tags += [(tag, _xyz(*c)) for tag, c in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for tag, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += tag + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"none", 0x02100000, b"mntr", b"RGB ", b"XYZ ") + b"\0" * 12
    header += b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def _expected_p3_in_srgb(rgb: tuple[int, int, int], gamma: float) -> np.ndarray:
    linear = (np.asarray(rgb, dtype=np.float64) / 255.0) ** gamma
    out = np.clip(P3_TO_SRGB @ linear, 0.0, 1.0)
    coded = np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.rint(coded * 255.0)


def test_an_icc_tagged_photo_is_converted_to_srgb(tmp_path: Path) -> None:
    icc = matrix_icc(P3_COLORANTS, 2.2, "Test Display P3")
    colour = (200, 120, 60)
    path = tmp_path / "p3.jpg"
    Image.new("RGB", (64, 48), colour).save(path, quality=100, subsampling=0, icc_profile=icc)
    pixels = np.asarray(open_image(str(path), max_pixels=MAX), dtype=np.float64)
    got = pixels[24, 32]
    assert np.abs(got - _expected_p3_in_srgb(colour, 2.2)).max() <= 4, got
    assert got[0] > colour[0] + 5  # P3's red is redder than sRGB's: the same numbers mean a more saturated colour


def test_srgb_and_untagged_photos_are_left_as_they_are(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = Image.new("RGB", (8, 8), (200, 120, 60))
    picture.info["icc_profile"] = srgb
    assert to_srgb(picture) is picture
    assert to_srgb(Image.new("RGB", (8, 8), (1, 2, 3))).getpixel((0, 0)) == (1, 2, 3)
    broken = Image.new("RGB", (8, 8), (9, 9, 9))
    broken.info["icc_profile"] = b"not a profile"
    assert to_srgb(broken).getpixel((0, 0)) == (9, 9, 9)  # a damaged profile: the picture is used as it is


def _pq_code(nits: float) -> float:
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    y = (nits / 10000.0) ** m1
    return float(((c1 + c2 * y) / (1 + c3 * y)) ** m2)


def _heic(path: Path, values: list[tuple[int, int, int]], transfer: int, primaries: int = 9) -> None:
    pytest.importorskip("pillow_heif")
    from chronicon.media.photo import register_heif

    register_heif()
    stripes = np.concatenate([np.full((32, 32, 3), v, dtype=np.uint8) for v in values], axis=1)
    Image.fromarray(stripes).save(path, quality=100, color_primaries=primaries, transfer_characteristics=transfer,
                                  matrix_coefficients=9, full_range_flag=1)  # fmt: skip


def test_pq_hdr_is_tone_mapped_with_highlights_kept(tmp_path: Path) -> None:
    grey = [round(_pq_code(n) * 255) for n in (0.0, 20.0, 203.0, 1000.0)]
    path = tmp_path / "hdr.heic"
    _heic(path, [(v, v, v) for v in grey], transfer=16)
    pixels = np.asarray(open_image(str(path), max_pixels=MAX), dtype=np.float64)
    black, dim, white, peak = (pixels[16, 16 + 32 * i].mean() for i in range(4))
    assert black <= 6
    assert 170 <= white <= 215, white  # reference white: bright, with headroom above it
    assert peak >= 245 and peak > white + 25  # 1000 nits: the brightest, not clipped together with white
    assert dim < white and dim > black
    # Shown as coded (no tone mapping), reference white would sit at mid-grey.
    assert white > grey[2] + 25


def test_hlg_and_bt2020_pictures_come_out_in_srgb(tmp_path: Path) -> None:
    path = tmp_path / "hlg.heic"
    _heic(path, [(191, 191, 191), (255, 255, 255)], transfer=18)
    pixels = np.asarray(open_image(str(path), max_pixels=MAX), dtype=np.float64)
    white, peak = pixels[16, 16].mean(), pixels[16, 48].mean()
    assert 165 <= white <= 215 and peak >= 240, (white, peak)
    wide = tmp_path / "wide.heic"
    _heic(wide, [(60, 160, 60)], transfer=13)  # sRGB transfer, BT.2020 primaries
    green = np.asarray(open_image(str(wide), max_pixels=MAX), dtype=np.float64)[16, 16]
    # BT.2020's (60, 160, 60) is a green sRGB can barely show: (0, 169, 32) by the BT.2020 -> BT.709 matrix.
    assert np.abs(green - np.array([0, 169, 32])).max() <= 5, green


def test_jpeg_xl_is_sniffed_read_and_decoded(tmp_path: Path) -> None:
    pytest.importorskip("pillow_jxl")
    skimage_data = pytest.importorskip("skimage.data")
    photo = Image.fromarray(skimage_data.chelsea())
    path = tmp_path / "cat.jxl"
    photo.save(path, quality=95)
    assert sniff_file(path) is not None and sniff_file(path).format == "jxl"  # type: ignore[union-attr]
    meta = read_photo_metadata(str(path))
    assert (meta["width"], meta["height"]) == photo.size
    decoded = np.asarray(open_image(str(path), max_pixels=MAX), dtype=np.float64)
    assert decoded.shape == (photo.height, photo.width, 3)
    assert np.abs(decoded - np.asarray(photo, dtype=np.float64)).mean() < 4
    truncated = tmp_path / "cut.jxl"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(MediaError):
        open_image(str(truncated), max_pixels=MAX)


def test_a_scan_indexes_jpeg_xl_next_to_other_photos(tmp_path: Path, make_library) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pillow_jxl")
    skimage_data = pytest.importorskip("skimage.data")
    folder = tmp_path / "library"
    folder.mkdir()
    Image.fromarray(skimage_data.coffee()).save(folder / "coffee.jxl", quality=90)
    Image.fromarray(skimage_data.chelsea()).save(folder / "cat.jpg", quality=90)
    (folder / "broken.jxl").write_bytes(b"\xff\x0a" + b"\0" * 64)
    library = make_library()
    summary = library.scan([folder])
    row = library.info(folder / "coffee.jxl")
    assert row is not None and row["status"] == "ok" and row["format"] == "jxl", row and row["error"]
    assert row["thumbnail"] and row["phash"] and row["width"] == 600
    assert {Path(f.path).name for f in summary.failures} == {"broken.jxl"}
