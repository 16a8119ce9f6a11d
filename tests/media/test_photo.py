"""Photo metadata and guarded decoding on real files written with Pillow."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from chronicon.errors import MediaError
from chronicon.media.photo import open_image, read_photo_metadata, register_heif
from mediafactory import (
    make_bmp,
    make_bomb_png,
    make_gif,
    make_heic,
    make_jpeg,
    make_png,
    make_text_as,
    make_tiff,
    make_truncated,
    make_webp,
)

LIMIT = 250_000_000
T = ExifTags.Base
G = ExifTags.GPS
KEYS = {
    "format",
    "width",
    "height",
    "orientation",
    "taken_at",
    "taken_at_source",
    "taken_at_offset",
    "camera_make",
    "camera_model",
    "lens",
    "iso",
    "f_number",
    "exposure_time",
    "focal_length",
    "gps_lat",
    "gps_lon",
    "gps_alt",
}


def test_exif_fields_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, size=(120, 80), gps=(-33.8568, -70.6483, 512.5), exposure=1 / 500, f_number=2.8, iso=1600)
    meta = read_photo_metadata(str(path))
    assert set(meta) == KEYS
    assert meta["format"] == "JPEG"
    assert (meta["width"], meta["height"], meta["orientation"]) == (120, 80, 1)
    assert meta["taken_at"] == "2021-07-04T15:30:00+02:00"
    assert meta["camera_make"] == "Canon" and meta["camera_model"] == "EOS R5"
    assert meta["lens"] == "RF24-105mm F4 L IS USM"
    assert meta["iso"] == 1600 and meta["f_number"] == 2.8
    assert meta["exposure_time"] == pytest.approx(0.002)
    assert meta["focal_length"] == 50.0
    assert meta["gps_lat"] == pytest.approx(-33.8568, abs=1e-5)  # S
    assert meta["gps_lon"] == pytest.approx(-70.6483, abs=1e-5)  # W
    assert meta["gps_alt"] == pytest.approx(512.5)


def test_north_east_below_sea_level_and_no_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, gps=(31.5, 35.5, -430.0), offset=None)
    meta = read_photo_metadata(str(path))
    assert meta["gps_lat"] == pytest.approx(31.5) and meta["gps_lon"] == pytest.approx(35.5)
    assert meta["gps_alt"] == pytest.approx(-430.0)
    # The camera did not say which zone: the zone of the place (Israel, summer) gives it (tests/media/test_dates.py).
    assert (meta["taken_at"], meta["taken_at_offset"]) == ("2021-07-04T15:30:00+03:00", "place")


def test_subseconds_and_date_fallbacks(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, subsec="045")
    assert read_photo_metadata(str(path))["taken_at"] == "2021-07-04T15:30:00.045000+02:00"
    # Only OffsetTime (the one of DateTime) known: the photo's dates share it.
    make_jpeg(path, offset=None, exif_ifd={T.OffsetTime: "-05:00"})
    assert read_photo_metadata(str(path))["taken_at"] == "2021-07-04T15:30:00-05:00"
    # No DateTimeOriginal: DateTimeDigitized; neither: DateTime of IFD0.
    make_jpeg(path, exif_ifd={T.DateTimeOriginal: None, T.DateTimeDigitized: "2020:01:02 03:04:05"})
    assert read_photo_metadata(str(path))["taken_at"] == "2020-01-02T03:04:05+02:00"
    make_jpeg(
        path,
        offset=None,
        gps=None,  # (a position would give the place's offset)
        exif_ifd={T.DateTimeOriginal: None, T.DateTimeDigitized: None},
        ifd0={T.DateTime: "2019:12:31 23:59:58"},
    )
    assert read_photo_metadata(str(path))["taken_at"] == "2019-12-31T23:59:58"


def test_garbage_dates_and_no_exif(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, taken_at="0000:00:00 00:00:00")
    assert read_photo_metadata(str(path))["taken_at"] is None
    make_jpeg(path, taken_at="    :  :     :  :  ")
    assert read_photo_metadata(str(path))["taken_at"] is None
    make_jpeg(path, exif=False)
    meta = read_photo_metadata(str(path))
    assert set(meta) == KEYS and meta["width"] == 64 and meta["format"] == "JPEG"
    assert all(meta[key] is None for key in KEYS - {"format", "width", "height"})


def test_malformed_exif_fields_become_none(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(
        path,
        ifd0={T.Orientation: 9, T.Make: "  Nikon\x00\x00 ", T.Model: "\x00\x00"},
        exif_ifd={
            T.FNumber: IFDRational(4, 0),  # zero denominator
            T.ExposureTime: IFDRational(0, 1),
            T.ISOSpeedRatings: "fast",
            T.FocalLength: IFDRational(0, 0),
            T.OffsetTimeOriginal: "+99:99",
            T.LensModel: None,
            T.LensMake: "Sigma",
        },
        gps_ifd={
            G.GPSLatitude: (IFDRational(52, 1), IFDRational(31, 0), IFDRational(0, 1)),
            G.GPSAltitude: IFDRational(5, 0),
        },
    )
    meta = read_photo_metadata(str(path))
    assert meta["orientation"] is None and (meta["width"], meta["height"]) == (64, 48)
    assert meta["camera_make"] == "Nikon" and meta["camera_model"] is None
    assert meta["f_number"] is None and meta["exposure_time"] is None
    assert meta["iso"] is None and meta["focal_length"] is None
    assert meta["taken_at"] == "2021-07-04T15:30:00"  # the impossible offset is dropped, not the date
    assert meta["lens"] == "Sigma"  # LensMake when there is no LensModel
    assert meta["gps_lat"] is None and meta["gps_alt"] is None
    assert meta["gps_lon"] == pytest.approx(13.405)  # the valid half of the fix is kept


def test_iso_as_a_tuple(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, exif_ifd={T.ISOSpeedRatings: (800, 800)})
    assert read_photo_metadata(str(path))["iso"] == 800


def test_orientation_6_swaps_width_and_height_and_turns_the_pixels(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, size=(120, 80), orientation=6)
    meta = read_photo_metadata(str(path))
    assert meta["orientation"] == 6 and (meta["width"], meta["height"]) == (80, 120)
    upright = open_image(str(path), max_pixels=LIMIT)
    assert upright.size == (80, 120)
    # 6 = "rotate 90° clockwise to display": the stored top-left corner goes to the top right.
    with Image.open(path) as raw:
        expected = raw.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    assert np.array_equal(np.asarray(upright), np.asarray(expected))


@pytest.mark.parametrize(
    ("maker", "name", "fmt"),
    [
        (make_png, "a.png", "PNG"),
        (make_webp, "a.webp", "WEBP"),
        (make_gif, "a.gif", "GIF"),
        (make_bmp, "a.bmp", "BMP"),
        (make_tiff, "a.tif", "TIFF"),
    ],
)
def test_other_formats_read_and_decode_to_rgb(
    tmp_path: Path, maker: Callable[[Path], None], name: str, fmt: str
) -> None:
    path = tmp_path / name
    maker(path)
    meta = read_photo_metadata(str(path))
    assert set(meta) == KEYS
    assert (meta["format"], meta["width"], meta["height"]) == (fmt, 40, 30)
    assert meta["taken_at"] is None and meta["gps_lat"] is None
    img = open_image(str(path), max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (40, 30)
    assert getattr(img, "fp", None) is None  # a detached image: the file is closed


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "a.gif"
    make_gif(path, frames=3)
    red, _, blue = open_image(str(path), max_pixels=LIMIT).getpixel((1, 1))  # type: ignore[misc]
    assert red > 150 and blue < 120  # frame 0 is red-ish; the last one is blue-ish


def test_transparency_is_composited_onto_white(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    make_png(path, mode="RGBA")  # alpha 0 at the left edge, 255 at the right
    img = open_image(str(path), max_pixels=LIMIT)
    assert img.getpixel((0, 15)) == (255, 255, 255)
    assert img.getpixel((39, 15)) != (255, 255, 255)
    make_png(path, mode="P")  # palette with a transparent index
    assert open_image(str(path), max_pixels=LIMIT).mode == "RGB"
    make_png(path, mode="LA")
    assert open_image(str(path), max_pixels=LIMIT).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("maker", "name", "mode"),
    [(make_png, "a.png", "I;16"), (make_tiff, "a.tif", "I;16"), (make_tiff, "b.tif", "F")],
)
def test_high_bit_depth_greyscale_keeps_its_tones(
    tmp_path: Path, maker: Callable[..., None], name: str, mode: str
) -> None:
    path = tmp_path / name
    maker(path, size=(40, 30), mode=mode)  # a grey ramp from black (left) to full scale (right)
    img = open_image(str(path), max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (40, 30)
    left, middle, right = (img.getpixel((x, 10)) for x in (0, 20, 39))
    assert left == (0, 0, 0) and right == (255, 255, 255)
    assert 100 < middle[0] < 160  # type: ignore[index]


def test_heic(tmp_path: Path) -> None:
    register_heif()
    if not make_heic(tmp_path / "a.heic", size=(64, 48)):
        pytest.skip("pillow-heif cannot encode HEIC on this machine")
    meta = read_photo_metadata(str(tmp_path / "a.heic"))
    assert meta["format"] == "HEIF" and (meta["width"], meta["height"]) == (64, 48)
    img = open_image(str(tmp_path / "a.heic"), max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (64, 48)


def test_jpeg_draft_decodes_big_photos_small(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    make_jpeg(path, size=(2400, 1600))
    assert open_image(str(path), max_pixels=LIMIT).size == (2400, 1600)
    # DCT scaling by 1/2, 1/4 or 1/8: the smallest that keeps both sides at least draft_size.
    img = open_image(str(path), max_pixels=LIMIT, draft_size=512)
    assert img.size == (1200, 800) and img.mode == "RGB"
    assert open_image(str(path), max_pixels=LIMIT, draft_size=200).size == (300, 200)
    make_jpeg(path, size=(2400, 1600), orientation=6)
    assert open_image(str(path), max_pixels=LIMIT, draft_size=200).size == (200, 300)
    make_png(tmp_path / "big.png", size=(1200, 800), mode="RGB")  # not a JPEG: draft does not apply
    assert open_image(str(tmp_path / "big.png"), max_pixels=LIMIT, draft_size=256).size == (1200, 800)


def test_bad_files_raise_media_error(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    make_jpeg(good, size=(300, 200))
    make_truncated(good, tmp_path / "cut.jpg", keep_fraction=0.4)
    assert read_photo_metadata(str(tmp_path / "cut.jpg"))["width"] == 300  # the header survived
    with pytest.raises(MediaError, match="truncated or corrupt image"):
        open_image(str(tmp_path / "cut.jpg"), max_pixels=LIMIT)
    make_text_as(tmp_path / "text.jpg")
    with pytest.raises(MediaError, match="not a readable image"):
        read_photo_metadata(str(tmp_path / "text.jpg"))
    with pytest.raises(MediaError, match="not a readable image"):
        open_image(str(tmp_path / "text.jpg"), max_pixels=LIMIT)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(MediaError, match=r"^empty file$"):
        read_photo_metadata(str(tmp_path / "empty.jpg"))
    with pytest.raises(MediaError, match=r"^empty file$"):
        open_image(str(tmp_path / "empty.jpg"), max_pixels=LIMIT)


def test_formats_that_are_not_photos_are_not_opened(tmp_path: Path) -> None:
    # Pillow reads PPM (and EPS, PSD, ...): a scanner must not hand such files to those plugins.
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg", "PPM")
    with pytest.raises(MediaError, match="not a readable image"):
        read_photo_metadata(str(tmp_path / "a.jpg"))


def test_os_errors_propagate_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_photo_metadata(str(tmp_path / "missing.jpg"))
    with pytest.raises(FileNotFoundError):
        open_image(str(tmp_path / "missing.jpg"), max_pixels=LIMIT)
    with pytest.raises(IsADirectoryError):
        read_photo_metadata(str(tmp_path))
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode: no PermissionError to observe")
    locked = tmp_path / "locked.jpg"
    make_jpeg(locked)
    locked.chmod(0)
    with pytest.raises(PermissionError):
        read_photo_metadata(str(locked))
    with pytest.raises(PermissionError):
        open_image(str(locked), max_pixels=LIMIT)


def test_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    make_bomb_png(path)
    meta = read_photo_metadata(str(path))
    assert (meta["width"], meta["height"]) == (30000, 30000)  # the header is still read
    started = time.perf_counter()
    declared = r"^image declares 30000×30000 \(900\.0 MP\), above the limit of 250\.0 MP"
    with pytest.raises(MediaError, match=declared):
        open_image(str(path), max_pixels=LIMIT)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(MediaError, match=r"scan\.max_image_pixels"):
        open_image(str(tmp_path / "bomb.png"), max_pixels=100)
    assert Image.MAX_IMAGE_PIXELS is None  # Chronicon's per-call limit replaces Pillow's global one


def test_register_heif_is_idempotent() -> None:
    for _ in range(3):
        register_heif()
    assert Image.ID.count("HEIF") == 1  # one opener however often it is called
    assert Image.registered_extensions()[".heic"] == "HEIF" and Image.MAX_IMAGE_PIXELS is None


@pytest.mark.parametrize("maker", [make_jpeg, make_png, make_webp, make_gif, make_tiff, make_bmp])
def test_damaged_files_only_ever_raise_media_error(tmp_path: Path, maker: Callable[[Path], None]) -> None:
    """Cut and bit-flipped copies: readable or MediaError, never another exception (the scanner would
    blame a plugin for those)."""
    source = tmp_path / "source"
    maker(source)
    data = source.read_bytes()
    rng = random.Random(1234)
    variants = [data[: max(1, int(len(data) * fraction))] for fraction in (0.05, 0.2, 0.5, 0.8, 0.97)]
    for _ in range(12):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        variants.append(bytes(flipped))
    damaged = tmp_path / "damaged"
    for variant in variants:
        damaged.write_bytes(variant)
        for read in (read_photo_metadata, lambda p: open_image(p, max_pixels=LIMIT)):
            with contextlib.suppress(MediaError):
                read(str(damaged))
