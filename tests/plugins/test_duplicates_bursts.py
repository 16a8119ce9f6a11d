"""The duplicates report and stacks: frames of one burst (the bursts pass's `burst_cover`), or a RAW and its JPEG,
are never reported as duplicates of each other, while a real copy of a member in another folder still is; a
disabled pass's stacks count for nothing."""

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
    options = options_from(lib, phash_distance=16, **given)  # loose enough that burst frames pair up
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
    rows = load_assets(lib.catalog, options_from(lib))
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
    options = options_from(lib)
    assert "burst_cover" not in options.stacks
    rows = load_assets(lib.catalog, options)
    assert rows and all("burst_cover" not in r for r in rows)


def test_a_raw_and_its_jpeg_are_not_duplicates_but_a_copy_is(
    make_plugin_library: Callable[..., Library], tmp_path: Path
) -> None:
    pytest.importorskip("rawpy")
    pytest.importorskip("tifffile")
    from PIL import Image

    from mediafactory import make_jpeg
    from rawfactory import make_dng, real_photo

    root = tmp_path / "photos"
    (root / "copies").mkdir(parents=True)
    cat = real_photo("chelsea", (300, 200))
    jpeg = root / "IMG_0001.JPG"
    make_jpeg(jpeg, size=cat.size, taken_at="2021:07:04 15:30:00", offset=None)
    with Image.open(jpeg) as img:
        exif = img.getexif().tobytes()
    cat.save(jpeg, "JPEG", quality=90, exif=exif)
    make_dng(root / "IMG_0001.dng", cat, taken_at="2021:07:04 15:30:00")
    shutil.copy(jpeg, root / "copies" / "cat.jpg")
    lib = make_plugin_library(disabled=("albums",))
    assert lib.scan([str(root)]).failed == 0
    options = options_from(lib)
    assert "raw_pair_cover" in options.stacks
    rows = load_assets(lib.catalog, options)
    assert [r["raw_pair_cover"] is not None for r in sorted(rows, key=lambda r: r["path"])] == [True, True, False]
    groups = [sorted(Path(m["path"]).name for m in g.members) for g in group_rows(lib.catalog, rows, options, None)]
    assert groups == [["IMG_0001.JPG", "cat.jpg"]]  # the copy, with the JPEG it copies; the pair stays one stack
    blind = options_from(lib, stacks=[])
    assert [sorted(Path(m["path"]).name for m in g.members) for g in group_rows(lib.catalog, rows, blind, None)] == [
        ["IMG_0001.JPG", "IMG_0001.dng", "cat.jpg"]
    ]  # without the stack column the RAW would be listed as a duplicate of its own JPEG
