"""Photo metadata and guarded decoding on real files written with Pillow."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

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


def test_exif_fields_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, size=(120, 80), gps=(-33.8568, -70.6483, 512.5), exposure=1 / 500, f_number=2.8, iso=1600)
    meta = read_photo_metadata(str(path))
    assert meta["format"] == "JPEG"
    assert (meta["width"], meta["height"]) == (120, 80)
    assert meta["taken_at"] == "2021-07-04T15:30:00+02:00"
    assert meta["camera_make"] == "Canon" and meta["camera_model"] == "EOS R5"
    assert meta["lens"] == "RF24-105mm F4 L IS USM"
    assert meta["iso"] == 1600 and meta["f_number"] == 2.8
    assert meta["exposure_time"] == pytest.approx(0.002)
    assert meta["focal_length"] == 50.0
    assert meta["gps_lat"] == pytest.approx(-33.8568, abs=1e-5)
    assert meta["gps_lon"] == pytest.approx(-70.6483, abs=1e-5)
    assert meta["gps_alt"] == pytest.approx(512.5)


def test_below_sea_level_and_no_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, gps=(31.5, 35.5, -430.0), offset=None)
    meta = read_photo_metadata(str(path))
    assert meta["gps_alt"] == pytest.approx(-430.0)
    assert meta["taken_at"] == "2021-07-04T15:30:00"


def test_orientation_6_swaps_width_and_height(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, size=(120, 80), orientation=6)
    meta = read_photo_metadata(str(path))
    assert meta["orientation"] == 6 and (meta["width"], meta["height"]) == (80, 120)
    assert open_image(str(path), max_pixels=LIMIT).size == (80, 120)


def test_garbage_dates_and_no_exif(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    make_jpeg(path, taken_at="0000:00:00 00:00:00")
    assert read_photo_metadata(str(path))["taken_at"] is None
    make_jpeg(path, exif=False)
    meta = read_photo_metadata(str(path))
    assert meta["camera_make"] is None and meta["gps_lat"] is None and meta["width"] == 64


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
def test_other_formats_read_and_decode_to_rgb(tmp_path: Path, maker: object, name: str, fmt: str) -> None:
    path = tmp_path / name
    maker(path)  # type: ignore[operator]
    assert read_photo_metadata(str(path))["format"] == fmt
    img = open_image(str(path), max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (40, 30)


def test_heic(tmp_path: Path) -> None:
    register_heif()
    if not make_heic(tmp_path / "a.heic", size=(64, 48)):
        pytest.skip("pillow-heif cannot encode HEIC on this machine")
    meta = read_photo_metadata(str(tmp_path / "a.heic"))
    assert meta["format"] == "HEIF" and (meta["width"], meta["height"]) == (64, 48)
    assert open_image(str(tmp_path / "a.heic"), max_pixels=LIMIT).size == (64, 48)


def test_jpeg_draft_decodes_big_photos_small(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    make_jpeg(path, size=(2400, 1600))
    img = open_image(str(path), max_pixels=LIMIT, draft_size=512)
    assert 512 <= min(img.size) < 1600


def test_bad_files_raise_media_error(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    make_jpeg(good, size=(300, 200))
    make_truncated(good, tmp_path / "cut.jpg", keep_fraction=0.4)
    with pytest.raises(MediaError, match="truncated or corrupt"):
        open_image(str(tmp_path / "cut.jpg"), max_pixels=LIMIT)
    make_text_as(tmp_path / "text.jpg")
    with pytest.raises(MediaError, match="not a readable image"):
        read_photo_metadata(str(tmp_path / "text.jpg"))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(MediaError, match="empty file"):
        read_photo_metadata(str(tmp_path / "empty.jpg"))
    with pytest.raises(FileNotFoundError):
        read_photo_metadata(str(tmp_path / "missing.jpg"))


def test_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    register_heif()
    path = tmp_path / "bomb.png"
    make_bomb_png(path)
    meta = read_photo_metadata(str(path))
    assert (meta["width"], meta["height"]) == (30000, 30000)  # the header is still read
    started = time.perf_counter()
    with pytest.raises(MediaError, match=r"30000×30000 \(900.0 MP\).*max_image_pixels"):
        open_image(str(path), max_pixels=LIMIT)
    assert time.perf_counter() - started < 1.0
    assert Image.MAX_IMAGE_PIXELS is None  # our limit replaces Pillow's
