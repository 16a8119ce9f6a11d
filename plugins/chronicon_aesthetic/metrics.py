"""The four heuristic sub-scores (sharpness, exposure, colourfulness, noise), each 0..1, and their weighted mean."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from PIL import Image

ANALYSIS_SIDE = 512  # every metric is computed on a copy at most this size, so scores compare across resolutions
PARTS = ("sharpness", "exposure", "colorfulness", "noise")
DEFAULT_WEIGHTS: dict[str, float] = {"sharpness": 0.3, "exposure": 0.3, "colorfulness": 0.15, "noise": 0.25}

# Sharpness: log10(1 + Laplacian variance) mapped linearly from SHARP_LOG_LO (0) to SHARP_LOG_HI (1).
SHARP_LOG_LO, SHARP_LOG_HI = 0.0, 3.0  # variance 0 -> 0, ~9 -> 0.33, ~1000 -> 1
# Exposure: mean luma scored by its distance to mid-grey, times a penalty for clipped shadows/highlights.
EXPOSURE_SPREAD = 0.45  # |mean - 0.5| at which the mean term reaches 0 (quadratic fall-off)
CLIP_DARK, CLIP_BRIGHT = 3, 252  # luma values counted as clipped shadows / highlights
CLIP_TOLERANCE, CLIP_RANGE = 0.02, 0.25  # clipped share tolerated, then the penalty grows to 1 over this range
# Colourfulness: M (Hasler & Süsstrunk) mapped by 1 - exp(-M / COLOR_SCALE): M 33 ("moderately") -> 0.63.
COLOR_SCALE = 33.0
COLOR_SIDE = 128  # colourfulness is measured on a copy this size: a global statistic, and pixel noise averages out
# Noise: Immerkær sigma (0..255 units) on non-edge pixels mapped by 1 / (1 + (sigma / NOISE_SCALE)^2).
NOISE_SCALE = 4.0
EDGE_SHARE = 0.1  # the strongest-gradient tenth of the pixels is left out of the noise estimate (textures)


def analysis_copy(image: Image.Image, max_side: int = ANALYSIS_SIDE) -> Image.Image:
    """An RGB copy whose longest side is at most max_side (box-reduced, then bilinear)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    longest = max(width, height)
    if longest <= max_side:
        return rgb
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _luma(rgb: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return out


def laplacian_variance(grey: NDArray[np.float64]) -> float:
    """Variance of the 4-neighbour Laplacian (0..255 units), as the content pass computes `sharpness`."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(lap.var())


def sharpness_score(variance: float) -> float:
    """clip(log10(1 + variance) / 3, 0, 1)."""
    value = (math.log10(1.0 + max(0.0, variance)) - SHARP_LOG_LO) / (SHARP_LOG_HI - SHARP_LOG_LO)
    return _clip(value)


def exposure_score(grey: NDArray[np.float64]) -> float:
    """(1 - ((mean - 0.5) / 0.45)^2) × (1 - max(0, clipped - 0.02) / 0.25), clipped to 0..1.

    `mean` is the mean luma 0..1; `clipped` the share of pixels at luma <= 3 or >= 252 (from the histogram)."""
    if grey.size == 0:
        return 0.0
    histogram = np.bincount(np.clip(np.rint(grey), 0, 255).astype(np.int64).ravel(), minlength=256)
    total = float(histogram.sum())
    mean = float(histogram @ np.arange(256, dtype=np.float64)) / (255.0 * total)
    clipped = float(histogram[: CLIP_DARK + 1].sum() + histogram[CLIP_BRIGHT:].sum()) / total
    mean_term = _clip(1.0 - ((mean - 0.5) / EXPOSURE_SPREAD) ** 2)
    clip_term = _clip(1.0 - max(0.0, clipped - CLIP_TOLERANCE) / CLIP_RANGE)
    return mean_term * clip_term


def colorfulness(rgb: NDArray[np.float64]) -> float:
    """Hasler & Süsstrunk (2003) M: sqrt(σrg² + σyb²) + 0.3·sqrt(μrg² + μyb²), rg = R−G, yb = (R+G)/2 − B."""
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = math.sqrt(float(rg.var()) + float(yb.var()))
    centre = math.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    return spread + 0.3 * centre


def colorfulness_score(m: float) -> float:
    """1 - exp(-M / 33)."""
    return _clip(1.0 - math.exp(-max(0.0, m) / COLOR_SCALE))


def noise_sigma(grey: NDArray[np.float64]) -> float:
    """Immerkær (1996) fast noise estimate: σ = sqrt(π/2) · mean|I ∗ N| / 6, N = [[1,−2,1],[−2,4,−2],[1,−2,1]].

    The strongest-gradient 10% of the pixels (edges, fine texture) are left out, as Immerkær's estimate
    otherwise reads image structure as noise."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    g = grey
    conv = (
        g[:-2, :-2]
        - 2 * g[:-2, 1:-1]
        + g[:-2, 2:]
        - 2 * g[1:-1, :-2]
        + 4 * g[1:-1, 1:-1]
        - 2 * g[1:-1, 2:]
        + g[2:, :-2]
        - 2 * g[2:, 1:-1]
        + g[2:, 2:]
    )
    gx = g[1:-1, 2:] - g[1:-1, :-2]
    gy = g[2:, 1:-1] - g[:-2, 1:-1]
    gradient = np.hypot(gx, gy)
    keep = gradient <= np.quantile(gradient, 1.0 - EDGE_SHARE)
    values = np.abs(conv[keep]) if keep.any() else np.abs(conv)
    # sqrt(pi/2) / 6 turns the mean absolute response into sigma (the kernel's gain on white noise is 6 sigma).
    return float(math.sqrt(math.pi / 2.0) * values.mean() / 6.0)


def noise_score(sigma: float) -> float:
    """1 / (1 + (σ / 4)²): σ 0 -> 1, σ 4 -> 0.5, σ 12 -> 0.1."""
    return _clip(1.0 / (1.0 + (max(0.0, sigma) / NOISE_SCALE) ** 2))


def _reduced(image: Image.Image) -> Image.Image:
    width, height = image.size
    factor = max(1, max(width, height) // COLOR_SIDE)
    return image.reduce(factor) if factor > 1 else image


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def measure(image: Image.Image) -> dict[str, float]:
    """The four sub-scores (0..1) of a picture, computed on its ≤512 px copy."""
    small = analysis_copy(image)
    rgb = np.asarray(small, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("empty picture")
    grey = _luma(rgb)
    return {
        "sharpness": round(sharpness_score(laplacian_variance(grey)), 6),
        "exposure": round(exposure_score(grey), 6),
        "colorfulness": round(colorfulness_score(colorfulness(np.asarray(_reduced(small), dtype=np.float64))), 6),
        "noise": round(noise_score(noise_sigma(grey)), 6),
    }


def combine(parts: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Σ wᵢ·partᵢ / Σ wᵢ over the four parts (all weights 0 -> the plain mean)."""
    total = sum(max(0.0, float(weights.get(name, 0.0))) for name in PARTS)
    if total <= 0:
        return _clip(sum(parts[name] for name in PARTS) / len(PARTS))
    return _clip(sum(max(0.0, float(weights.get(name, 0.0))) * parts[name] for name in PARTS) / total)
