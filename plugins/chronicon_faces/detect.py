"""Finding faces in one RGB picture with dlib: boxes, detector scores and 128-d ResNet descriptors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .models import FaceModels


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
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    longest = max(rgb.size)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb, np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def find_faces(
    models: FaceModels,
    rgb: NDArray[np.uint8],
    *,
    upsample: int,
    min_size: int,
    min_score: float,
    jitters: int,
) -> list[FoundFace]:
    """The faces of an RGB picture at least `min_size` px wide and high whose detector score is at least
    `min_score`, each with its 5-point-aligned face descriptor, left to right."""
    import dlib

    height, width = rgb.shape[:2]
    candidates: list[tuple[object, float]] = []
    if models.detector_kind == "cnn":
        for found in models.detector(rgb, upsample):
            candidates.append((found.rect, float(found.confidence)))
    else:
        rects, scores, _ = models.detector.run(rgb, upsample, min_score)
        candidates.extend((rect, float(score)) for rect, score in zip(rects, scores, strict=True))
    faces: list[FoundFace] = []
    for rect, score in candidates:
        if score < min_score:
            continue
        left, top = max(0, rect.left()), max(0, rect.top())  # type: ignore[attr-defined]
        right, bottom = min(width, rect.right() + 1), min(height, rect.bottom() + 1)  # type: ignore[attr-defined]
        if right - left < min_size or bottom - top < min_size:
            continue
        shape = models.landmarks(rgb, dlib.rectangle(left, top, right - 1, bottom - 1))
        vector = np.asarray(models.recognizer.compute_face_descriptor(rgb, shape, jitters), dtype=np.float32)
        faces.append(FoundFace(left, top, right - left, bottom - top, score, vector))
    faces.sort(key=lambda f: (f.left, f.top))
    return faces


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
