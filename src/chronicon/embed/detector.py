"""The offline COCO object detector: SSD-MobileNet-v2 (TensorFlow graph shipped in a PyPI package) via OpenCV dnn."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.packaged import detector_files
from chronicon.errors import ModelUnavailableError

# The COCO label map of the TensorFlow object-detection models (ids 1..90, eleven ids unused).
COCO_LABELS: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}  # fmt: skip


def opencv_problem(cv2: Any | None = None) -> str | None:
    """Why this OpenCV cannot run the SSD graph (None when it can): OpenCV 5 dropped the TensorFlow importer."""
    if cv2 is None:
        try:
            import cv2
        except ImportError:
            return "OpenCV is not installed (pip install 'chronicon[ml]')"
    dnn = getattr(cv2, "dnn", None)
    if dnn is None or not hasattr(dnn, "readNetFromTensorflow"):
        version = getattr(cv2, "__version__", "?")
        return (
            f"OpenCV {version} has no TensorFlow importer (cv2.dnn.readNetFromTensorflow, removed in OpenCV 5), "
            "which the offline COCO detector needs; install the locked version: "
            "pip install 'opencv-python-headless>=4.8,<5'"
        )
    return None


@dataclass(frozen=True)
class Detection:
    """One detected object: its COCO label, confidence and box (x0, y0, x1, y1) as fractions of the image."""

    label: str
    score: float
    box: tuple[float, float, float, float]


class CocoDetector:
    """Objects in RGB uint8 images of input_side² pixels, as Detections above a confidence threshold."""

    name = "ssd-mobilenet-v2-coco"
    input_side = 300

    def __init__(self, graph: Path | None = None, config: Path | None = None) -> None:
        if graph is None or config is None:
            graph, config = detector_files()
        try:
            import cv2
        except ImportError as exc:
            raise ModelUnavailableError("the COCO detector needs OpenCV (pip install 'chronicon[ml]')") from exc
        problem = opencv_problem(cv2)
        if problem:
            raise ModelUnavailableError(problem)
        self._cv2 = cv2
        try:
            # getattr: OpenCV 5's type stubs have no such function (opencv_problem() checked it is there).
            read_tensorflow = getattr(cv2.dnn, "readNetFromTensorflow")  # noqa: B009
            self._net = read_tensorflow(str(graph), str(config))
        except cv2.error as exc:  # a damaged graph file, or an OpenCV build without the TF importer
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ModelUnavailableError(f"OpenCV could not read the COCO detector graph {graph}: {first}") from exc
        self._lock = threading.Lock()  # an OpenCV net is not safe to run from two threads at once

    def detect(
        self, images: list[NDArray[np.uint8]], min_score: float, *, batched: bool = False
    ) -> list[list[Detection]]:
        """Detections per image (RGB uint8, input_side × input_side), best first.

        One forward pass per image by default: on CPU, OpenCV's dnn runs this graph ~25% faster image by image
        than on a batch blob (benchmarks/detect_bench.py)."""
        if not images:
            return []
        if not batched and len(images) > 1:
            return [self.detect([image], min_score)[0] for image in images]
        blob = self._cv2.dnn.blobFromImages(images, size=(self.input_side, self.input_side), swapRB=False)
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward()
        found: list[list[Detection]] = [[] for _ in images]
        for image_id, class_id, score, x0, y0, x1, y1 in out.reshape(-1, 7):
            label = COCO_LABELS.get(int(class_id))
            index = int(image_id)
            if label is None or score < min_score or not 0 <= index < len(images):
                continue
            box = tuple(float(min(max(v, 0.0), 1.0)) for v in (x0, y0, x1, y1))
            found[index].append(Detection(label, float(score), box))  # type: ignore[arg-type]
        for detections in found:
            detections.sort(key=lambda d: -d.score)
        return found
