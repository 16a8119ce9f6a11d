"""Hand-made vector spaces for search tests: concept axes, an encoder over them, assets that use them."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.analyzers.spaces import SpaceEncoder

DIM = 8
SPACE = "test-space"
# Each concept is one axis, so similarities are known exactly.
AXES = {"cat": 0, "dog": 1, "beach": 2, "sunset": 3, "people": 4, "car": 5, "snow": 6, "food": 7}


def unit(**weights: float) -> NDArray[np.float32]:
    v = np.zeros(DIM, dtype=np.float32)
    for name, w in weights.items():
        v[AXES[name]] = w
    return v / np.linalg.norm(v)


class AxisEncoder(SpaceEncoder):
    """Encodes a text as the sum of the axes of the concept words it contains."""

    kind = "axes"
    space = SPACE

    def __init__(self) -> None:
        super().__init__(None)

    def unavailable(self) -> str | None:
        return None

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        out = []
        for text in texts:
            words = {w: 1.0 for w in text.lower().split() if w in AXES}
            out.append(unit(**words) if words else np.full(DIM, 1 / np.sqrt(DIM), dtype=np.float32))
        return np.stack(out)


ASSETS: dict[str, dict[str, Any]] = {
    # id: (path, kind, taken_at, camera, labels, vector weights)
    "a-cat": {"kind": "image", "taken_at": "2021-05-01T10:00:00", "camera_make": "Canon", "camera_model": "EOS R5",
              "labels": ["cat", "sofa"], "vec": {"cat": 1.0}},
    "a-dog": {"kind": "image", "taken_at": "2022-07-01T10:00:00", "camera_make": "NIKON", "camera_model": "D750",
              "labels": ["dog"], "vec": {"dog": 1.0}},
    "a-beach": {"kind": "image", "taken_at": "2023-08-01T19:00:00", "camera_make": "Canon", "camera_model": "EOS R5",
                "labels": ["beach", "people"], "vec": {"beach": 1.0, "people": 0.9}},
    "a-sunset": {"kind": "image", "taken_at": "2023-08-02T20:00:00", "camera_make": "Google", "camera_model": "Pixel 8",
                 "labels": ["beach", "sunset"], "vec": {"beach": 0.8, "sunset": 1.0}},
    "a-catdog": {"kind": "video", "taken_at": "2024-01-01T12:00:00", "camera_make": None, "camera_model": None,
                 "labels": ["cat", "dog"], "vec": {"cat": 0.7, "dog": 0.7}},
    "a-gone": {"kind": "image", "taken_at": "2024-02-01T12:00:00", "camera_make": None, "camera_model": None,
               "labels": ["cat"], "vec": {"cat": 1.0}, "missing": True},
}  # fmt: skip
