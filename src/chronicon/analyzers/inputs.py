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
# item.cache: a callable giving the shorter side (px) the scan decodes this item's picture at: the largest any
# of the item's due passes asks for (`Analyzer.picture_side`), so the photo is decoded once for all of them.
PICTURE_PLAN_KEY = "picture_plan"
IMAGE_KEY = "image"
MIN_DECODE_SIDE = 512  # below this a JPEG is not drafted smaller: the metrics and thumbnails need it


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


def planned_side(item: AssetItem) -> int:
    """The shorter side the scan's plan wants this item's picture decoded at (0 when there is no plan)."""
    plan = item.cache.get(PICTURE_PLAN_KEY)
    if not callable(plan):
        return 0
    try:
        return max(0, int(plan()))
    except Exception:  # a pass's broken size wish must not fail the decode
        return 0


def picture(
    item: AssetItem, min_side: int, *, max_pixels: int = DEFAULT_MAX_PIXELS, poster_at: float = 0.1
) -> Image.Image:
    """The photo (or the video's poster frame) as upright RGB, at least `min_side` on its shorter side when the
    source allows (a request above 512 px may be met by a 512-px decode already made); decoded at most once
    per item and scan, at the largest side any due pass asks for, and shared through `item.cache["image"]`."""
    image = item.cache.get(IMAGE_KEY)
    if isinstance(image, Image.Image) and (
        item.cache.get("image_full") or min(image.size) >= min(min_side, MIN_DECODE_SIDE)
    ):
        return image
    side = max(min_side, MIN_DECODE_SIDE, planned_side(item))
    if item.kind == MediaKind.VIDEO:
        image = read_poster_frame(item.path, at_fraction=poster_at, max_side=side)
        full = False
    else:
        register_heif()
        image = open_image(item.path, max_pixels=max_pixels, draft_size=side)
        width, height = int(item.row.get("width") or 0), int(item.row.get("height") or 0)
        full = bool(width and max(image.size) >= max(width, height))
    item.cache[IMAGE_KEY] = image
    item.cache["image_full"] = full  # nothing larger can be decoded: every pass takes this one
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
    t: float | None = None  # when in the video this frame is (segments 1..)

    @property
    def segment(self) -> Segment:
        """Which segment this is, without the picture: what a prepared input keeps until its batch is committed
        (the picture is the scan's shared decode, megapixels large; a batch of them would stay in memory)."""
        return Segment(self.index, self.t_start, self.t_end, self.t)


@dataclass(frozen=True)
class Segment:
    """Segment 0 (the photo or the video's poster) or a video segment, its time span, and the time of the frame."""

    index: int
    t_start: float | None
    t_end: float | None
    t: float | None = None  # the frame's time (a long shot has several frames)


def spread(count: int, keep: int) -> list[int]:
    """`keep` of `count` indexes, evenly spread (their middles): 1 of 5 -> [2], 2 of 6 -> [1, 4]."""
    if keep >= count:
        return list(range(count))
    return sorted({min(count - 1, int((i + 0.5) * count / keep)) for i in range(max(1, keep))})


def segment_pictures(
    item: AssetItem, min_side: int, *, max_pixels: int = DEFAULT_MAX_PIXELS, per_segment: int | None = None
) -> list[SegmentPicture]:
    """The photo; or the video's poster plus the frames of each of its segments (from the shots pass: from
    memory when it ran in this scan, else decoded at the stored frame times). `per_segment` keeps at most that
    many frames of each segment, evenly spread (for passes that cost seconds a frame, e.g. a captioner)."""
    from chronicon.media.shots import frames_at

    pictures = [SegmentPicture(0, None, None, picture(item, min_side, max_pixels=max_pixels))]
    if item.kind != MediaKind.VIDEO:
        return pictures
    segments = stored_segments(item.row)
    if per_segment is not None:
        segments = [{**s, "_keep": spread(len(s.get("frame_times") or []), per_segment)} for s in segments]
    cached: dict[int, list[Image.Image]] = item.cache.get(FRAMES_CACHE_KEY) or {}

    def chosen(segment: dict[str, Any]) -> list[int]:
        count = len(segment.get("frame_times") or [])
        return list(segment["_keep"]) if "_keep" in segment else list(range(count))

    wanted = [
        float(segment["frame_times"][k]) for segment in segments if int(segment["index"]) not in cached
        for k in chosen(segment)
    ]  # fmt: skip
    decoded = iter(frames_at(item.path, wanted, max(min_side, 320))) if wanted else iter(())
    for segment in segments:
        index = int(segment["index"])
        times = [float(t) for t in segment.get("frame_times") or []]
        keep = chosen(segment)
        if index in cached:
            frames = list(cached[index])
            images: list[Image.Image | None] = [frames[k] if k < len(frames) else None for k in keep]
        else:
            images = [next(decoded) for _ in keep]
        start, end = float(segment["t_start"]), float(segment["t_end"])
        for k, image in zip(keep, images, strict=True):
            if image is not None:
                when = times[k] if k < len(times) else None
                pictures.append(SegmentPicture(index, start, end, image, when))
    return pictures
