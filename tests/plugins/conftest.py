"""Fixtures for the plugins in the repo's plugins/ folder, loaded through `plugins.paths` like anyone's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chronicon.library import Library
from ml_switches import NO_ML
from plugin_cli import PLUGINS_DIR

# The bundled plugins whose passes cost time; a test turns on the ones it is about.
COSTLY_PLUGINS = ("faces", "extract")


@pytest.fixture
def make_plugin_library(catalog_dir: Path, model_cache: Path):  # type: ignore[no-untyped-def]
    """A Library with the repo's plugins/ folder as a plugin path (entry points off), ML passes off unless `ml`.

    `enable` names bundled plugins to keep from COSTLY_PLUGINS; `disabled` leaves more out."""

    def build(*, ml: bool = False, enable: Sequence[str] = (), disabled: Sequence[str] = (),
              **overrides: object) -> Library:  # fmt: skip
        off = [name for name in COSTLY_PLUGINS if name not in enable] + list(disabled)
        settings: dict[str, object] = {
            **({"tags.enabled": True, "clip.enabled": False} if ml else NO_ML),
            "model_cache": str(model_cache),
            "plugins.paths": [str(PLUGINS_DIR)],
            "plugins.disabled": off,
            **overrides,
        }
        return Library(catalog_dir, overrides=settings, environ={}, entry_points=False)

    return build
