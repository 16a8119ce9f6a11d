"""Image metrics on decoded pictures: perceptual hash, dominant colours, sharpness, brightness, thumbnails."""

from __future__ import annotations

import os
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

ANALYSIS_SIDE = 512  # default longest side of the copy every metric is computed on
_HASH_SIDE = 32  # pHash: the grey image is reduced to this square before the DCT
_HASH_BITS_SIDE = 8  # ... and the top-left 8×8 low-frequency coefficients make the 64 bits
_COLOR_SIDE = 64  # dominant colours are counted on a copy this size


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The largest size with the same aspect whose longest side is at most max_side (never larger)."""
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _downscale(img: Image.Image, max_side: int, resample: Image.Resampling, gap: float) -> Image.Image:
    """Downscale so the longest side is <= max_side: an integer box reduction first, then one resample."""
    target = _fit(img.size, max_side)
    if target == img.size:
        return img
    # reducing_gap: Image.reduce() (a box average) by the largest integer factor that keeps the picture
    # >= gap × the target, then the filter on the rest. gap 1 is fastest (fine for metrics, which only
    # need area averages); gap 2 is close to a full-image filter in quality, for thumbnails.
    return img.resize(target, resample, reducing_gap=gap)


def _bounded(img: Image.Image, max_side: int = ANALYSIS_SIDE) -> Image.Image:
    """RGB, longest side <= max_side; the same object when it already is (no copy)."""
    return _rgb(_downscale(img, max_side, Image.Resampling.BILINEAR, 1.0))


def analysis_image(img: Image.Image, max_side: int = ANALYSIS_SIDE) -> Image.Image:
    """An RGB copy whose longest side is at most max_side, so metric cost is bounded whatever the source."""
    small = _bounded(img, max_side)
    return small.copy() if small is img else small


@cache
def _dct_rows() -> NDArray[np.float64]:
    """The first 8 rows of the orthonormal 32-point DCT-II matrix (only those coefficients are kept)."""
    n = _HASH_SIDE
    k = np.arange(_HASH_BITS_SIDE, dtype=np.float64)[:, None]
    i = np.arange(n, dtype=np.float64)[None, :]
    matrix: NDArray[np.float64] = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    matrix.flags.writeable = False
    return matrix


_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _grey(img: Image.Image) -> Image.Image:
    """8-bit luma with BT.601 weights (Pillow's L conversion)."""
    return img if img.mode == "L" else _rgb(img).convert("L")


def _phash_grey(grey: Image.Image) -> str:
    small = grey.resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float64)
    dct = _dct_rows()
    coeffs = (dct @ pixels @ dct.T).ravel()  # the top-left 8×8 of the 2-D DCT-II, row-major
    median = np.median(coeffs[1:])  # the DC term (mean brightness) stays out of the median
    bits = (coeffs > median).astype(np.uint64)
    return f"{int((bits * _BIT_WEIGHTS).sum()):016x}"


def perceptual_hash(img: Image.Image) -> str:
    """64-bit DCT pHash as 16 lowercase hex digits: 32×32 grey, 2-D DCT, top-left 8×8 against their median."""
    return _phash_grey(_grey(_bounded(img)))


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {a!r} and {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def dominant_colors(img: Image.Image, n: int = 5) -> list[tuple[str, float]]:
    """The n main colours as ("#rrggbb", share 0..1), largest share first; shares sum to about 1."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    small = _downscale(_bounded(img), _COLOR_SIDE, Image.Resampling.BOX, 1.0)
    quantized = small.quantize(colors=n, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = np.bincount(np.asarray(quantized, dtype=np.uint8).ravel(), minlength=256)
    total = int(counts.sum()) or 1
    merged: dict[str, int] = {}
    for index in np.flatnonzero(counts):
        r, g, b = palette[3 * index : 3 * index + 3]
        key = f"#{r:02x}{g:02x}{b:02x}"
        merged[key] = merged.get(key, 0) + int(counts[index])
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(color, count / total) for color, count in ranked]


def _sharpness_grey(grey: Image.Image) -> float:
    g = np.asarray(grey, dtype=np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var(dtype=np.float64))


def sharpness(img: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey analysis image (0..255 units); higher is sharper."""
    return _sharpness_grey(_grey(_bounded(img)))


def _brightness_grey(grey: Image.Image) -> float:
    histogram = np.asarray(grey.histogram(), dtype=np.float64)
    total = histogram.sum()
    return float((histogram @ np.arange(256, dtype=np.float64)) / (255.0 * total)) if total else 0.0


def brightness(img: Image.Image) -> float:
    """Mean luma (ITU-R BT.601 weights), 0 = black, 1 = white."""
    return _brightness_grey(_grey(_bounded(img)))


def image_metrics(img: Image.Image, n_colors: int = 5) -> dict[str, Any]:
    """All content metrics from one bounded-size copy (and one grey conversion of it)."""
    small = _bounded(img)
    grey = _grey(small)
    colors = dominant_colors(small, n_colors)
    return {
        "phash": _phash_grey(grey),
        "colors": [color for color, _ in colors],
        "color_shares": [round(share, 4) for _, share in colors],
        "sharpness": _sharpness_grey(grey),
        "brightness": _brightness_grey(grey),
    }


def temp_owner_tag(pid: int | None = None) -> str:
    """ "<host hash>-<pid>": who writes a temporary file, so a sweep on the same host can check it is alive."""
    return f"{_host_hash()}-{os.getpid() if pid is None else pid}"


@cache
def _host_hash() -> str:
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def write_thumbnail(
    img: Image.Image, dest: str | os.PathLike[str], *, size: int = 320, quality: int = 80
) -> tuple[int, int]:
    """Write a WebP thumbnail, longest side <= size (never upscaled), atomically; returns its (width, height).

    The picture goes to a temporary file in the destination folder (created if needed) which is then
    renamed over dest, so readers never see a partial thumbnail and a crash leaves at most a stray
    ".*.tmp" file, named after its writer (`temp_owner_tag`) so the scan's sweep can tell a dead writer's
    file from a live one. No fsync: thumbnails can always be regenerated.
    """
    thumb = img if img.mode in ("RGB", "RGBA") else img.convert("RGBA" if "A" in img.getbands() else "RGB")
    thumb = _downscale(thumb, size, Image.Resampling.LANCZOS, 2.0)
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{temp_owner_tag()}-{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 honours the umask, unlike mkstemp's 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            thumb.save(fh, format="WEBP", quality=quality, method=1)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return thumb.size
