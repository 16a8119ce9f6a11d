"""Shared fixtures: a library builder writing real media, and a Library on a temporary catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chronicon.library import Library


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return tmp_path / "catalog"


@pytest.fixture
def make_library(catalog_dir: Path):  # type: ignore[no-untyped-def]
    """Build a Library on the temporary catalog with config overrides, ignoring the user's environment."""

    def build(**overrides: object) -> Library:
        return Library(catalog_dir, overrides=overrides, environ={}, entry_points=False)

    return build
