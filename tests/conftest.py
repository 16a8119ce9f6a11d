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
NO_ML = {"tags.enabled": False, "clip.enabled": False}


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return tmp_path / "catalog"


@pytest.fixture
def make_library(catalog_dir: Path):  # type: ignore[no-untyped-def]
    """Build a Library on the temporary catalog with config overrides, ignoring the user's environment."""

    def build(**overrides: object) -> Library:
        return Library(catalog_dir, overrides={**NO_ML, **overrides}, environ={}, entry_points=False)

    return build
