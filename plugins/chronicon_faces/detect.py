"""Finding faces in one RGB picture with dlib: boxes, detector scores and 128-d ResNet descriptors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .models import FaceModels


@dataclass
class FaceBox:
    """A detected face: its box in the detection picture's pixels and the detector score."""

    left: int
    top: int
    width: int
    height: int
    score: float


@dataclass
class FoundFace:
    """One face in a detection picture: its box in that picture's pixels, the detector score, its descriptor."""

    left: int
    top: int
    width: int
    height: int
    score: float
    descriptor: NDArray[np.float32]


def detection_array(image: Image.Image, max_side: int) -> tuple[Image.Image, NDArray[np.uint8]]:
    """The picture as RGB, its long side at most `max_side` (never upscaled), and as a contiguous uint8 array."""
    rgb = shrunk(image if image.mode == "RGB" else image.convert("RGB"), max_side)
    return rgb, np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def shrunk(image: Image.Image, max_side: int) -> Image.Image:
    """The picture with its long side at most `max_side` (never upscaled)."""
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def grey_array(picture: Image.Image) -> NDArray[np.uint8]:
    """The picture's luma as a contiguous uint8 array (HOG on it is about 1.4x faster than on RGB)."""
    return np.ascontiguousarray(np.asarray(picture.convert("L"), dtype=np.uint8))


def detect_boxes(
    models: FaceModels, pixels: NDArray[np.uint8], *, upsample: int, min_size: int, min_score: float
) -> list[FaceBox]:
    """The faces in a picture (RGB, or grey for HOG) at least `min_size` px wide and high whose detector score is
    at least `min_score`, clipped to the picture, left to right."""
    height, width = pixels.shape[:2]
    candidates: list[tuple[object, float]] = []
    if models.detector_kind == "cnn":
        for found in models.detector(pixels, upsample):
            candidates.append((found.rect, float(found.confidence)))
    else:
        rects, scores, _ = models.detector.run(pixels, upsample, min_score)
        candidates.extend((rect, float(score)) for rect, score in zip(rects, scores, strict=True))
    boxes: list[FaceBox] = []
    for rect, score in candidates:
        if score < min_score:
            continue
        left, top = max(0, rect.left()), max(0, rect.top())  # type: ignore[attr-defined]
        right, bottom = min(width, rect.right() + 1), min(height, rect.bottom() + 1)  # type: ignore[attr-defined]
        if right - left < min_size or bottom - top < min_size:
            continue
        boxes.append(FaceBox(left, top, right - left, bottom - top, score))
    boxes.sort(key=lambda b: (b.left, b.top))
    return boxes


def describe(
    models: FaceModels, rgb: NDArray[np.uint8], boxes: list[FaceBox], *, jitters: int, scale: float = 1.0
) -> list[FoundFace]:
    """Each box with its 5-point-aligned face descriptor, computed on `rgb`: the detection picture (`scale` 1) or
    the same photo `scale` times as large, where the box is scaled up (the descriptor then sees more of the face's
    pixels; its cost does not depend on the picture's size)."""
    import dlib

    height, width = rgb.shape[:2]
    faces: list[FoundFace] = []
    for box in boxes:
        left, top = round(box.left * scale), round(box.top * scale)
        right = min(width, max(left + 1, round((box.left + box.width) * scale)))
        bottom = min(height, max(top + 1, round((box.top + box.height) * scale)))
        shape = models.landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1))
        vector = np.asarray(models.recognizer.compute_face_descriptor(rgb, shape, jitters), dtype=np.float32)
        faces.append(FoundFace(box.left, box.top, box.width, box.height, box.score, vector))
    return faces


def scan_upsample(longest: int, max_side: int, upsample: int, upsample_small: bool) -> int:
    """How often the detector doubles a picture whose long side is `longest`: `upsample`, plus once more with
    `upsample_small` when the picture is at most 3/4 of `max_side` (a video's 640-px frame, a small photo), so
    its faces are looked for at about the size of a photo's. The detector's smallest face is about 80 px."""
    return upsample + (1 if upsample_small and 4 * longest <= 3 * max_side else 0)


def find_faces(
    models: FaceModels,
    rgb: NDArray[np.uint8],
    *,
    upsample: int,
    min_size: int,
    min_score: float,
    jitters: int,
    grey: NDArray[np.uint8] | None = None,
) -> list[FoundFace]:
    """The faces of an RGB picture at least `min_size` px wide and high whose detector score is at least
    `min_score`, each with its 5-point-aligned face descriptor, left to right. HOG looks at `grey` when given
    (the same picture's luma); landmarks and descriptors always use the RGB picture."""
    pixels = grey if grey is not None and models.detector_kind == "hog" else rgb
    boxes = detect_boxes(models, pixels, upsample=upsample, min_size=min_size, min_score=min_score)
    return describe(models, rgb, boxes, jitters=jitters)


def face_crop(picture: Image.Image, face: FoundFace, margin: float = 0.3) -> Image.Image:
    """The face with `margin` of its size around it (clipped to the picture), for a small thumbnail."""
    pad_x, pad_y = round(face.width * margin), round(face.height * margin)
    box = (
        max(0, face.left - pad_x),
        max(0, face.top - pad_y),
        min(picture.width, face.left + face.width + pad_x),
        min(picture.height, face.top + face.height + pad_y),
    )
    return picture.crop(box)
