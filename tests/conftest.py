"""Shared fixtures: a library builder writing real media, and a Library on a temporary catalog."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chronicon.library import Library

# No model hub here: nothing in the tests may try to download weights (and wait for retries).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# The ML passes load real models (seconds each); tests that are not about them leave them out.
from ci_skips import fail_provided_skip_in_ci
from ml_switches import NO_ML


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return tmp_path / "catalog"


@pytest.fixture
def make_library(catalog_dir: Path):  # type: ignore[no-untyped-def]
    """Build a Library on the temporary catalog with config overrides, ignoring the user's environment."""

    def build(**overrides: object) -> Library:
        return Library(catalog_dir, overrides={**NO_ML, **overrides}, environ={}, entry_points=False)

    return build


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the whole session (ONNX exports and label embeddings are made once)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def make_ml_library(catalog_dir: Path, model_cache: Path):  # type: ignore[no-untyped-def]
    """Like make_library, with the offline ML pass (`tags`) on and CLIP off unless overridden."""

    def build(**overrides: object) -> Library:
        settings = {"tags.enabled": True, "clip.enabled": False, "model_cache": str(model_cache), **overrides}
        return Library(catalog_dir, overrides=settings, environ={}, entry_points=False)

    return build


SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "horse", "camera", "coins", "moon")


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos that scikit-image ships (a cat, a coffee cup, a rocket, a horse, ...) saved as JPEGs."""
    skimage_data = pytest.importorskip("skimage.data")
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("sample-photos")
    for name in SAMPLE_PHOTOS:
        pixels = getattr(skimage_data, name)()
        if pixels.dtype != np.uint8:
            pixels = (pixels * 255).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(folder / f"{name}.jpg", quality=92)
    return folder


# -- in CI a skip for something CI provides is a failure (ci_skips.py) -----------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    fail_provided_skip_in_ci(outcome.get_result())
