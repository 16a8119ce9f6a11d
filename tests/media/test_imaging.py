"""Perceptual hash, dominant colours, sharpness, brightness and thumbnails on generated pictures."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from chronicon.media.imaging import (
    analysis_image,
    brightness,
    dominant_colors,
    hamming,
    image_metrics,
    perceptual_hash,
    sharpness,
    write_thumbnail,
)


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A photo-like picture: smooth random colour fields, a few hard-edged shapes and a little noise."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    img = coarse.resize(size, Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.float32)
    w, h = size
    for _ in range(4):
        x0, y0 = int(rng.integers(0, w * 3 // 4)), int(rng.integers(0, h * 3 // 4))
        arr[y0 : y0 + h // 4, x0 : x0 + w // 4] = rng.integers(0, 256, 3)
    arr += rng.normal(0, 4, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def checkerboard(side: int = 128, cell: int = 4) -> Image.Image:
    y, x = np.mgrid[0:side, 0:side]
    return Image.fromarray((((x // cell + y // cell) % 2) * 255).astype(np.uint8), "L").convert("RGB")


def jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


# --- analysis image ------------------------------------------------------------------------------------


def test_analysis_image_is_a_bounded_rgb_copy() -> None:
    big = Image.new("RGB", (2000, 1000), (10, 20, 30))
    small = analysis_image(big)
    assert small.size == (512, 256) and small.mode == "RGB"
    assert analysis_image(big, 100).size == (100, 50)
    portrait = analysis_image(Image.new("RGB", (300, 1500)))
    assert portrait.size == (102, 512)
    tiny = Image.new("RGB", (40, 30), (1, 2, 3))
    copy = analysis_image(tiny)
    assert copy.size == (40, 30) and copy is not tiny  # never upscaled, always a copy
    copy.putpixel((0, 0), (9, 9, 9))
    assert tiny.getpixel((0, 0)) == (1, 2, 3)
    for mode in ("L", "RGBA", "P", "1", "CMYK"):
        assert analysis_image(Image.new(mode, (600, 20))).mode == "RGB"


# --- perceptual hash -----------------------------------------------------------------------------------


def test_phash_format_and_determinism() -> None:
    img = scene(1)
    digest = perceptual_hash(img)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert perceptual_hash(img.copy()) == digest
    assert perceptual_hash(scene(1)) == digest


def test_phash_survives_resize_and_recompression() -> None:
    img = scene(2, (800, 600))
    base = perceptual_hash(img)
    assert hamming(base, perceptual_hash(img.resize((400, 300), Image.Resampling.BICUBIC))) <= 4
    assert hamming(base, perceptual_hash(img.resize((790, 600)))) <= 6  # slight aspect change
    assert hamming(base, perceptual_hash(jpeg_roundtrip(img, 50))) <= 4
    assert hamming(base, perceptual_hash(jpeg_roundtrip(img.resize((320, 240)), 30))) <= 6


def test_phash_separates_different_pictures() -> None:
    hashes = [perceptual_hash(scene(seed)) for seed in range(10, 16)]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) >= 14
    flipped = scene(10).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert hamming(hashes[0], perceptual_hash(flipped)) >= 14


def test_phash_on_a_big_picture_matches_image_metrics() -> None:
    big = scene(3, (3000, 2000))
    assert perceptual_hash(big) == image_metrics(big)["phash"]
    assert hamming(perceptual_hash(big), perceptual_hash(big.resize((600, 400)))) <= 4


def test_hamming() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    assert hamming("00ff", "0f0f") == hamming("0f0f", "00ff") == 8
    with pytest.raises(ValueError):
        hamming("00", "0000")


# --- dominant colours ----------------------------------------------------------------------------------


def test_dominant_colours_of_a_70_30_split() -> None:
    img = Image.new("RGB", (200, 100), (255, 0, 0))
    img.paste((0, 0, 255), (140, 0, 200, 100))
    colors = dominant_colors(img)
    assert [c for c, _ in colors[:2]] == ["#ff0000", "#0000ff"]
    assert colors[0][1] == pytest.approx(0.7, abs=0.03) and colors[1][1] == pytest.approx(0.3, abs=0.03)
    assert sum(share for _, share in colors) == pytest.approx(1.0)


def test_dominant_colours_of_a_solid_picture_and_limits() -> None:
    assert dominant_colors(Image.new("RGB", (10, 10), (1, 2, 3))) == [("#010203", 1.0)]
    assert dominant_colors(Image.new("RGB", (3000, 2000), (250, 250, 250)), 8) == [("#fafafa", 1.0)]
    many = scene(4)
    for n in (1, 3, 5, 8):
        colors = dominant_colors(many, n)
        assert 1 <= len(colors) <= n
        shares = [s for _, s in colors]
        assert shares == sorted(shares, reverse=True) and all(0 < s <= 1 for s in shares)
        assert len({c for c, _ in colors}) == len(colors)
        assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c, _ in colors)
    assert sum(s for _, s in dominant_colors(many, 5)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        dominant_colors(many, 0)


# --- sharpness and brightness --------------------------------------------------------------------------


def test_sharpness_drops_with_blur() -> None:
    crisp = checkerboard()
    blurred = crisp.filter(ImageFilter.GaussianBlur(3))
    assert sharpness(crisp) > 10 * sharpness(blurred) > 0
    assert sharpness(Image.new("RGB", (100, 100), (80, 90, 100))) == 0.0
    assert sharpness(Image.new("RGB", (2, 2))) == 0.0
    photo = scene(5)
    assert sharpness(photo) > sharpness(photo.filter(ImageFilter.GaussianBlur(2)))


def test_sharpness_is_measured_at_analysis_size() -> None:
    big = checkerboard(2048, 16)
    assert sharpness(big) == pytest.approx(sharpness(analysis_image(big)))
    assert sharpness(big) == pytest.approx(image_metrics(big)["sharpness"])


def test_brightness() -> None:
    assert brightness(Image.new("RGB", (8, 8), (0, 0, 0))) == pytest.approx(0.0, abs=1e-9)
    assert brightness(Image.new("RGB", (8, 8), (255, 255, 255))) == pytest.approx(1.0, abs=1e-9)
    assert brightness(Image.new("RGB", (8, 8), (128, 128, 128))) == pytest.approx(128 / 255, abs=1e-6)
    # BT.601 weights: green counts most, blue least.
    assert brightness(Image.new("RGB", (8, 8), (0, 255, 0))) == pytest.approx(0.587, abs=0.01)
    assert brightness(Image.new("RGB", (8, 8), (0, 0, 255))) == pytest.approx(0.114, abs=0.01)
    half = Image.new("RGB", (100, 100), (0, 0, 0))
    half.paste((255, 255, 255), (0, 0, 50, 100))
    assert brightness(half) == pytest.approx(0.5, abs=0.01)


# --- all metrics at once -------------------------------------------------------------------------------


def test_image_metrics() -> None:
    img = scene(6, (2400, 1800))
    metrics = image_metrics(img)
    assert set(metrics) == {"phash", "colors", "color_shares", "sharpness", "brightness"}
    assert re.fullmatch(r"[0-9a-f]{16}", metrics["phash"])
    assert len(metrics["colors"]) == len(metrics["color_shares"]) <= 5
    assert sum(metrics["color_shares"]) == pytest.approx(1.0, abs=0.01)
    assert isinstance(metrics["sharpness"], float) and metrics["sharpness"] > 0
    assert 0.0 < metrics["brightness"] < 1.0
    small = analysis_image(img)
    assert metrics["phash"] == perceptual_hash(small)
    assert metrics["colors"] == [c for c, _ in dominant_colors(small)]
    assert metrics["brightness"] == pytest.approx(brightness(small))


# --- thumbnails ----------------------------------------------------------------------------------------


def test_thumbnail_size_format_and_no_upscaling(tmp_path: Path) -> None:
    dest = tmp_path / "deep" / "er" / "a.webp"
    assert write_thumbnail(scene(7, (1000, 500)), dest) == (320, 160)
    with Image.open(dest) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (320, 160)
    assert write_thumbnail(scene(7, (300, 1200)), str(dest), size=100) == (25, 100)
    with Image.open(dest) as thumb:
        assert thumb.size == (25, 100)
    assert write_thumbnail(scene(7, (100, 50)), dest, size=320) == (100, 50)
    with Image.open(dest) as thumb:
        assert thumb.size == (100, 50)


def test_thumbnail_quality_changes_size(tmp_path: Path) -> None:
    img = scene(8, (640, 480))
    write_thumbnail(img, tmp_path / "lo.webp", quality=10)
    write_thumbnail(img, tmp_path / "hi.webp", quality=95)
    assert (tmp_path / "lo.webp").stat().st_size < (tmp_path / "hi.webp").stat().st_size


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1"])
def test_thumbnail_of_other_modes(tmp_path: Path, mode: str) -> None:
    assert write_thumbnail(scene(9, (400, 200)).convert(mode), tmp_path / f"{mode}.webp") == (320, 160)
    with Image.open(tmp_path / f"{mode}.webp") as thumb:
        thumb.load()


def test_thumbnail_write_is_atomic(tmp_path: Path) -> None:
    dest = tmp_path / "thumbs" / "a.webp"
    write_thumbnail(scene(11), dest)
    first = dest.read_bytes()
    write_thumbnail(scene(12), dest)  # replaced in place
    assert dest.read_bytes() != first
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.webp"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_thumbnail_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "thumbs" / "a.webp"
    write_thumbnail(scene(13), dest)
    before = dest.read_bytes()
    with pytest.raises((ValueError, OSError)):  # WebP cannot hold a side over 16383 pixels
        write_thumbnail(Image.new("RGB", (20_000, 1)), dest, size=20_000)
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.webp"]
