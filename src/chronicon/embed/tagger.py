"""The offline ImageNet tagger: EfficientNet-Lite3 (int8 TFLite, shipped in a PyPI package) run by LiteRT."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.packaged import tagger_files
from chronicon.errors import ModelUnavailableError
from chronicon.logs import native_stderr_muted


def clean_label(line: str) -> str:
    """'Tabby, tabby cat' -> 'tabby': the first synonym, lower case, is the label users see and filter by."""
    return line.split(",")[0].strip().lower()


class ImageNetTagger:
    """Top-k ImageNet classes with probabilities for RGB uint8 images of `input_side`² pixels."""

    name = "efficientnet-lite3-imagenet"

    def __init__(self, model: Path | None = None, labels: Path | None = None, *, threads: int = 0) -> None:
        if model is None or labels is None:
            model, labels = tagger_files()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelUnavailableError(
                "the ImageNet tagger needs ai-edge-litert (pip install 'chronicon[ml]')"
            ) from exc
        kwargs: dict[str, Any] = {"model_path": str(model)}
        if threads > 0:
            kwargs["num_threads"] = threads
        with native_stderr_muted():  # `-q`: LiteRT's C++ "INFO: Created ... delegate" line
            self._interpreter = Interpreter(**kwargs)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_side = int(self._input["shape"][1])
        self.synonyms = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
        self.labels = [clean_label(s) for s in self.synonyms]
        classes = int(self._output["shape"][-1])
        if len(self.labels) != classes:
            raise ModelUnavailableError(f"{labels} has {len(self.labels)} labels for a model with {classes} classes")
        self._lock = threading.Lock()  # a LiteRT interpreter must not be invoked from two threads at once

    def probabilities(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Class probabilities (1000,) for one RGB uint8 image already sized input_side × input_side."""
        if image.shape != (self.input_side, self.input_side, 3):
            raise ValueError(f"tagger input must be {self.input_side}x{self.input_side}x3, got {image.shape}")
        x = image[None].astype(self._input["dtype"], copy=False)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], x)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])[0]
        scale, zero = self._output.get("quantization", (0.0, 0))
        probs = (raw.astype(np.float32) - zero) * scale if scale else raw.astype(np.float32)
        total = float(probs.sum())
        out: NDArray[np.float32] = (probs / total if total > 0 else probs).astype(np.float32)
        return out

    def top(self, image: NDArray[np.uint8], k: int, min_score: float) -> list[tuple[int, float]]:
        """(class index, probability) of the k most likely classes at or above min_score."""
        probs = self.probabilities(image)
        order = np.argsort(-probs)[:k]
        return [(int(i), float(probs[i])) for i in order if probs[i] >= min_score]
