"""Locating dlib and the face models of `face-recognition-models`, and loading them once per thread."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chronicon.api.models import ModelKind, register_model_kind

INSTALL_HINT = "pip install 'chronicon[faces]'"
MODELS_PACKAGE = "face_recognition_models"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
MODEL_FILES = (LANDMARKS_FILE, RECOGNITION_FILE, CNN_DETECTOR_FILE)


def models_dir() -> Path | None:
    """The `models/` folder of face-recognition-models, found without importing the package (its
    `__init__` imports pkg_resources, which may be missing)."""
    try:
        spec = importlib.util.find_spec(MODELS_PACKAGE)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        return None
    folder = Path(locations[0]) / "models"
    return folder if folder.is_dir() else None


def missing() -> str | None:
    """Why faces cannot be found on this machine (dlib or a model file missing), or None when they can."""
    try:
        has_dlib = importlib.util.find_spec("dlib") is not None
    except (ImportError, ValueError):
        has_dlib = False
    if not has_dlib:
        return f"face detection needs dlib ({INSTALL_HINT})"
    folder = models_dir()
    if folder is None:
        return f"face detection needs the package face-recognition-models ({INSTALL_HINT})"
    absent = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if absent:
        return f"face-recognition-models lacks {', '.join(absent)} ({INSTALL_HINT})"
    return None


def model_path(name: str) -> Path:
    """The path of one model file (call `missing()` first)."""
    folder = models_dir()
    if folder is None:
        raise FileNotFoundError(f"face-recognition-models is not installed ({INSTALL_HINT})")
    return folder / name


@dataclass
class FaceModels:
    """A detector (HOG or CNN), the 5-point landmark predictor and the ResNet face-descriptor model."""

    detector_kind: str
    detector: Any
    landmarks: Any
    recognizer: Any

    @classmethod
    def load(cls, detector_kind: str) -> FaceModels:
        import dlib

        if detector_kind == "cnn":
            detector: Any = dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR_FILE)))
        else:
            detector = dlib.get_frontal_face_detector()
        return cls(
            detector_kind=detector_kind,
            detector=detector,
            landmarks=dlib.shape_predictor(str(model_path(LANDMARKS_FILE))),
            recognizer=dlib.face_recognition_model_v1(str(model_path(RECOGNITION_FILE))),
        )


class ThreadModels:
    """One FaceModels per thread: the scanner's workers detect in parallel (dlib releases the GIL) without
    sharing dlib objects between threads."""

    def __init__(self, detector_kind: str) -> None:
        self.detector_kind = detector_kind
        self._local = threading.local()

    def get(self) -> FaceModels:
        models: FaceModels | None = getattr(self._local, "models", None)
        if models is None:
            models = FaceModels.load(self.detector_kind)
            self._local.models = models
        return models


def _dlib_check(backend: str, device: str) -> str:
    """Why dlib cannot run a model on `device` ("" when it can): dlib uses CUDA only when it was built with it."""
    problem = missing()
    if problem is not None:
        return problem
    if device.startswith("cuda"):
        import dlib

        if not getattr(dlib, "DLIB_USE_CUDA", False):
            return "this dlib was built without CUDA"
    return ""


# dlib picks the device itself (CUDA when built with it, for the CNN detector and the descriptor; HOG is CPU
# code), so these choices are what the runtime reports, not a switch.
HOG_DETECTOR = register_model_kind(
    ModelKind("hog-face-detector", {"cpu": {"dlib": ("fp32",)}}, check=_dlib_check, help="dlib HOG face detector")
)
MMOD_DETECTOR = register_model_kind(
    ModelKind(
        "mmod-face-detector",
        {"cpu": {"dlib": ("fp32",)}, "cuda": {"dlib": ("fp32",)}},
        check=_dlib_check,
        help="dlib MMOD CNN face detector (CUDA when dlib is built with it)",
    )
)
FACE_EMBEDDER = register_model_kind(
    ModelKind(
        "face-embedder",
        {"cpu": {"dlib": ("fp32",)}, "cuda": {"dlib": ("fp32",)}},
        check=_dlib_check,
        help="dlib 5-point landmarks + ResNet 128-d face descriptor",
    )
)
