"""Text in pictures: RapidOCR's PP-OCRv4 ONNX models (inside the rapidocr-onnxruntime wheel), behind a cheap gate.

The gate runs only the text detector, on a small copy of the picture (`gate_side` px on its long side, tens of
milliseconds); a picture in which it finds no text region costs nothing more. Pictures with text are read in
full: detection at the reader's own working size, direction classification and recognition.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.errors import ModelUnavailableError

MODEL_NAME = "rapidocr-ppocrv4"


@dataclass(frozen=True)
class TextLine:
    """One line of text found in a picture: what it says, the recogniser's confidence, and where (fractions
    of the picture's width and height: x0, y0, x1, y1)."""

    text: str
    score: float
    box: tuple[float, float, float, float]

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "score": round(self.score, 4), "box": [round(v, 4) for v in self.box]}


def ocr_problem() -> str | None:
    """Why the OCR models cannot load here (checked without loading them), or None."""
    import importlib.util

    needed = (("rapidocr_onnxruntime", "rapidocr-onnxruntime"), ("cv2", "opencv-python"),
              ("onnxruntime", "onnxruntime"), ("pyclipper", "pyclipper"), ("shapely", "shapely"))  # fmt: skip
    for module, package in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"text in pictures needs {package} (pip install 'chronicon[ml]')"
    return None


class TextReader:
    """Finds and reads the text in RGB pictures (uint8 arrays, height × width × 3)."""

    def __init__(self, *, device: str = "cpu", threads: int = 0, gate_side: int = 416, min_score: float = 0.5):
        problem = ocr_problem()
        if problem:
            raise ModelUnavailableError(problem)
        try:
            from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped, unused-ignore]
        except Exception as exc:  # e.g. an OpenCV that cannot load its libraries
            raise ModelUnavailableError(f"the OCR models could not load: {exc}") from exc
        cuda = device.startswith("cuda")
        params: dict[str, Any] = {"det_use_cuda": cuda, "cls_use_cuda": cuda, "rec_use_cuda": cuda,
                                  "text_score": min_score}  # fmt: skip
        if threads > 0:
            params["intra_op_num_threads"] = threads
        self.engine = RapidOCR(**params)
        self.gate_side = gate_side
        self.min_score = min_score
        self._lock = threading.Lock()  # (one onnxruntime session set, called from the scan's worker threads)

    def has_text(self, rgb: NDArray[np.uint8]) -> bool:
        """Whether the detector, run on a small copy, sees any text region (the cheap gate)."""
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess  # type: ignore[import-untyped, unused-ignore]

        det = self.engine.text_det
        batch = DetPreProcess(self.gate_side, "max", det.mean, det.std)(rgb)
        if batch is None:
            return False
        with self._lock:
            preds = det.infer(batch)[0]
        boxes, _ = det.postprocess_op(preds, rgb.shape[:2])
        return len(boxes) > 0

    def read(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        """Every line of text the reader is confident of (>= min_score), top to bottom."""
        height, width = rgb.shape[:2]
        with self._lock:
            found, _ = self.engine(rgb)
        lines: list[TextLine] = []
        for points, text, score in found or []:
            text = str(text).strip()
            if not text or float(score) < self.min_score:
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            box = (
                max(0.0, min(xs) / width),
                max(0.0, min(ys) / height),
                min(1.0, max(xs) / width),
                min(1.0, max(ys) / height),
            )
            lines.append(TextLine(text, float(score), box))
        lines.sort(key=lambda line: (round(line.box[1], 2), line.box[0]))
        return lines
