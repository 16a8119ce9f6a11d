"""Perceptual hash, dominant colours, sharpness, brightness and thumbnails on generated pictures."""

from __future__ import annotations

import io
from pathlib import Path

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
from mediafactory import picture


def test_phash_is_stable_under_resize_and_recompression_but_not_across_pictures() -> None:
    img = picture((400, 300), (200, 30, 30))
    base = perceptual_hash(img)
    assert len(base) == 16 and base == perceptual_hash(img.copy())
    buf = io.BytesIO()
    img.resize((200, 150)).save(buf, "JPEG", quality=60)
    assert hamming(base, perceptual_hash(Image.open(buf))) <= 6
    other = picture((400, 300), (20, 30, 200)).transpose(Image.Transpose.ROTATE_90).resize((400, 300))
    assert hamming(base, perceptual_hash(other)) >= 16


def test_dominant_colours_and_shares() -> None:
    img = Image.new("RGB", (100, 100), (255, 0, 0))
    img.paste((0, 0, 255), (70, 0, 100, 100))
    colors = dict(dominant_colors(img, 3))
    assert abs(colors["#ff0000"] - 0.7) < 0.03 and abs(colors["#0000ff"] - 0.3) < 0.03
    assert dominant_colors(Image.new("RGB", (10, 10), (1, 2, 3))) == [("#010203", 1.0)]


def test_sharpness_and_brightness() -> None:
    checker = Image.new("L", (64, 64))
    checker.putdata([255 if (x // 4 + y // 4) % 2 else 0 for y in range(64) for x in range(64)])
    crisp = checker.convert("RGB")
    assert sharpness(crisp) > 10 * sharpness(crisp.filter(ImageFilter.GaussianBlur(3)))
    assert brightness(Image.new("RGB", (8, 8), (0, 0, 0))) == 0.0
    assert abs(brightness(Image.new("RGB", (8, 8), (255, 255, 255))) - 1.0) < 1e-6


def test_metrics_on_big_images_use_a_bounded_copy() -> None:
    big = picture((4000, 3000), (90, 140, 60))
    assert max(analysis_image(big).size) == 512
    metrics = image_metrics(big)
    assert set(metrics) == {"phash", "colors", "color_shares", "sharpness", "brightness"}
    assert abs(sum(metrics["color_shares"]) - 1.0) < 0.01


def test_thumbnail_is_webp_bounded_never_upscaled_and_atomic(tmp_path: Path) -> None:
    dest = tmp_path / "t" / "a.webp"
    assert write_thumbnail(picture((1000, 500), (1, 2, 3)), dest, size=320) == (320, 160)
    with Image.open(dest) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (320, 160)
    assert write_thumbnail(picture((100, 50), (1, 2, 3)), dest, size=320) == (100, 50)
    assert [p.name for p in dest.parent.iterdir()] == ["a.webp"]
