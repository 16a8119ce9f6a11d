"""The duplicates report and bursts: frames of one burst (the bursts pass's `burst_cover`) are never reported as
duplicates of each other, while a real copy of a frame in another folder still is; a disabled pass's stacks count
for nothing."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from burstfactory import burst_library
from chronicon.library import Library
from plugin_cli import PLUGINS_DIR

sys.path.insert(0, str(PLUGINS_DIR))

from chronicon_duplicates.commands import options_from
from chronicon_duplicates.grouping import group_rows, load_assets


@pytest.fixture
def library_dir(tmp_path: Path, sample_photos: Path) -> Path:
    root = burst_library(tmp_path / "library", sample_photos)
    (root / "copies").mkdir()
    shutil.copy(root / "trip" / "IMG_0003.JPG", root / "copies" / "IMG_0003.JPG")  # a real duplicate of one frame
    return root


def _groups(lib: Library, rows: list[dict[str, Any]], root: Path, **given: Any) -> list[list[str]]:
    options = options_from(lib.config, phash_distance=16, **given)  # loose enough that burst frames pair up
    found = group_rows(lib.catalog, rows, options, None)
    return [sorted(str(Path(m["path"]).relative_to(root)) for m in g.members) for g in found]


def _with_siblings(groups: list[list[str]], stacked: dict[str, str | None]) -> list[list[str]]:
    """The groups holding two frames of one burst."""
    out = []
    for group in groups:
        covers = [stacked[p] for p in group if stacked[p]]
        if len(covers) != len(set(covers)):
            out.append(group)
    return out


def test_burst_siblings_are_not_duplicates_but_copies_are(
    make_plugin_library: Callable[..., Library], library_dir: Path
) -> None:
    lib = make_plugin_library(disabled=("albums",))
    assert lib.scan([str(library_dir)]).counts["failed"] == 0
    rows = load_assets(lib.catalog, options_from(lib.config))
    stacked = {str(Path(r["path"]).relative_to(library_dir)): r["burst_cover"] for r in rows}
    assert stacked["trip/IMG_0003.JPG"] and stacked["copies/IMG_0003.JPG"] is None  # the copy is alone there
    blind = _groups(lib, [{k: v for k, v in r.items() if k != "burst_cover"} for r in rows], library_dir)
    assert _with_siblings(blind, stacked)  # without the column, a burst's frames are one big "duplicate" group
    groups = _groups(lib, rows, library_dir)
    assert not _with_siblings(groups, stacked)
    copy = next(g for g in groups if "copies/IMG_0003.JPG" in g)
    assert "trip/IMG_0003.JPG" in copy  # the real duplicate is still reported, with the frame it copies


def test_a_disabled_bursts_pass_leaves_the_report_as_before(
    make_plugin_library: Callable[..., Library], library_dir: Path
) -> None:
    make_plugin_library(disabled=("albums",)).scan([str(library_dir)])
    lib = make_plugin_library(disabled=("albums",), **{"bursts.enabled": False})
    options = options_from(lib.config)
    assert not options.bursts
    rows = load_assets(lib.catalog, options)
    assert rows and all("burst_cover" not in r for r in rows)
