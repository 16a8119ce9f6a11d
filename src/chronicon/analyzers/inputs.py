"""Decoded pictures for model passes: reuse the content pass's decode when it is in the item cache, else decode."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from chronicon.analyzers.base import AssetItem
from chronicon.media.photo import open_image, register_heif
from chronicon.media.video import read_poster_frame
from chronicon.types import MediaKind

DEFAULT_MAX_PIXELS = 250_000_000
FRAMES_CACHE_KEY = "segment_frames"  # item.cache: {segment index: [PIL images]}, left by the shots pass


def stored_segments(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The `segments` JSON of a catalog row as a list (empty when the video was not split)."""
    text = row.get("segments")
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def picture(item: AssetItem, min_side: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The photo (or the video's poster frame) as upright RGB, at least `min_side` on its shorter side when the
    source allows; decoded at most once per item and scan (shared through `item.cache["image"]`)."""
    image = item.cache.get("image")
    if isinstance(image, Image.Image) and min(image.size) >= min(min_side, 512):
        return image
    if item.kind == MediaKind.VIDEO:
        image = read_poster_frame(item.path, at_fraction=0.1, max_side=max(min_side * 2, 512))
    else:
        register_heif()
        image = open_image(item.path, max_pixels=max_pixels, draft_size=max(min_side, 512))
    item.cache["image"] = image
    return image


def square_array(image: Image.Image, side: int) -> NDArray[np.uint8]:
    """The whole picture squeezed to side×side RGB uint8 (no crop: nothing at the edges is lost)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.uint8)


def center_crop_array(image: Image.Image, side: int) -> NDArray[np.uint8]:
    """Shorter side resized to `side`, then the centre side×side crop, RGB uint8 (CLIP's preprocessing)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    scale = side / min(w, h)
    nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
    resized = rgb.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=2.0)
    left, top = (nw - side) // 2, (nh - side) // 2
    return np.asarray(resized.crop((left, top, left + side, top + side)), dtype=np.uint8)


@dataclass
class SegmentPicture:
    """A picture a model pass looks at: segment 0 is the photo or the video's poster; 1.. are video segments."""

    index: int
    t_start: float | None
    t_end: float | None
    image: Image.Image


def segment_pictures(item: AssetItem, min_side: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[SegmentPicture]:
    """The photo; or the video's poster plus the frames of each of its segments (from the shots pass: from
    memory when it ran in this scan, else decoded at the stored frame times)."""
    from chronicon.media.shots import frames_at

    pictures = [SegmentPicture(0, None, None, picture(item, min_side, max_pixels=max_pixels))]
    if item.kind != MediaKind.VIDEO:
        return pictures
    segments = stored_segments(item.row)
    cached: dict[int, list[Image.Image]] = item.cache.get(FRAMES_CACHE_KEY) or {}
    wanted = [float(t) for s in segments if int(s["index"]) not in cached for t in s.get("frame_times") or []]
    decoded = iter(frames_at(item.path, wanted, max(min_side, 320))) if wanted else iter(())
    for segment in segments:
        index = int(segment["index"])
        if index in cached:
            images: list[Image.Image | None] = list(cached[index])
        else:
            images = [next(decoded) for _ in segment.get("frame_times") or []]
        for image in images:
            if image is not None:
                pictures.append(SegmentPicture(index, float(segment["t_start"]), float(segment["t_end"]), image))
    return pictures
