"""Image metrics on decoded pictures: perceptual hash, dominant colours, sharpness, brightness, thumbnails."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def analysis_image(img: Image.Image, max_side: int = 512) -> Image.Image:
    """An RGB copy whose longest side is at most max_side, so metric cost is bounded whatever the source."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    longest = max(rgb.size)
    if longest <= max_side:
        return rgb
    factor = longest // max_side
    if factor >= 2:
        rgb = rgb.reduce(factor)  # cheap box average by an integer factor first
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR)
    return rgb


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> NDArray[np.float64]:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return np.asarray(matrix, dtype=np.float64)


def perceptual_hash(img: Image.Image) -> str:
    """64-bit DCT pHash as 16 hex digits: 32×32 grey, 2-D DCT, top-left 8×8 against their median."""
    grey = img.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix(32)
    coeffs = (dct @ pixels @ dct.T)[:8, :8].ravel()
    median = np.median(coeffs[1:])  # the DC term only says how bright the picture is
    bits = coeffs > median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def dominant_colors(img: Image.Image, n: int = 5) -> list[tuple[str, float]]:
    """The n main colours as ("#rrggbb", share), largest share first."""
    small = img.convert("RGB")
    small.thumbnail((64, 64), Image.Resampling.BILINEAR)
    quantized = small.quantize(colors=n, method=Image.Quantize.MEDIANCUT)
    palette: list[int] = list(quantized.getpalette() or [])
    counts = quantized.getcolors(n * 4) or []
    total = sum(c for c, _ in counts) or 1
    merged: dict[str, int] = {}
    for count, index in counts:
        index = int(index)  # type: ignore[arg-type]  # palette images give int indices
        r, g, b = palette[index * 3 : index * 3 + 3]
        key = f"#{r:02x}{g:02x}{b:02x}"
        merged[key] = merged.get(key, 0) + count
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(color, count / total) for color, count in ranked]


def _grey(img: Image.Image) -> NDArray[np.float32]:
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    return rgb @ _LUMA


def sharpness(img: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image (0..255 scale); higher is sharper."""
    grey = _grey(img)
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def brightness(img: Image.Image) -> float:
    """Mean luma (BT.601), 0 = black, 1 = white."""
    return float(_grey(img).mean() / 255.0)


def image_metrics(img: Image.Image, n_colors: int = 5) -> dict[str, Any]:
    """All content metrics computed on one bounded-size copy."""
    small = analysis_image(img)
    colors = dominant_colors(small, n_colors)
    return {
        "phash": perceptual_hash(small),
        "colors": [c for c, _ in colors],
        "color_shares": [round(s, 4) for _, s in colors],
        "sharpness": sharpness(small),
        "brightness": brightness(small),
    }


def write_thumbnail(
    img: Image.Image, dest: str | os.PathLike[str], *, size: int = 320, quality: int = 80
) -> tuple[int, int]:
    """Write a WebP thumbnail (never upscaled) atomically: a temp file in the same folder, then rename."""
    thumb = img if img.mode in ("RGB", "RGBA") else img.convert("RGB")
    if max(thumb.size) > size:
        thumb = analysis_image(thumb, size) if thumb.mode == "RGB" else thumb.copy()
        if max(thumb.size) > size:
            thumb.thumbnail((size, size), Image.Resampling.BILINEAR)
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".webp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            thumb.save(fh, "WEBP", quality=quality, method=4)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return thumb.size
