"""The scan pipeline on real media: first scan, diff cases, pass versions, resume and containment."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chronicon.builtin.content import ContentPass
from chronicon.library import Library
from mediafactory import make_jpeg, make_mp4, make_png


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "2021" / "berlin").mkdir(parents=True)
    (root / "videos").mkdir()
    make_jpeg(root / "2021" / "berlin" / "gate.jpg", gps=(52.5163, 13.3777, 34.0))
    make_jpeg(root / "2021" / "sydney.jpg", gps=(-33.8568, 151.2153, 5.0), color=(20, 90, 200), size=(80, 60))
    make_png(root / "2021" / "logo.png")
    make_mp4(root / "videos" / "clip.mp4", seconds=1.0, fps=10)
    (root / "notes.txt").write_text("not media, not catalogued")
    (root / ".hidden.jpg").write_bytes((root / "2021" / "sydney.jpg").read_bytes())
    return root


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _rows(lib: Library) -> dict[str, dict[str, Any]]:
    return {row["path"]: row for row in lib.catalog.rows()}


def test_first_scan_indexes_everything_and_never_writes_into_the_library(
    library_dir: Path, make_library: Callable[..., Library]
) -> None:
    before = _snapshot(library_dir)
    lib = make_library()
    summary = lib.scan([str(library_dir)])
    assert summary.counts["new"] == 4, summary.failures
    assert summary.failed == 0 and summary.exit_code == 0
    assert _snapshot(library_dir) == before
    rows = _rows(lib)
    gate = rows[str(library_dir / "2021" / "berlin" / "gate.jpg")]
    assert gate["kind"] == "image" and gate["format"] == "jpeg"
    assert gate["camera_make"] == "Canon" and gate["status"] == "ok"
    assert gate["gps_lat"] == pytest.approx(52.5163, abs=1e-4)
    assert len(gate["phash"]) == 16 and gate["colors"]
    assert (lib.catalog_dir / gate["thumbnail"]).is_file()
    sydney = rows[str(library_dir / "2021" / "sydney.jpg")]
    assert sydney["gps_lat"] < 0 and sydney["width"] == 80
    clip = rows[str(library_dir / "videos" / "clip.mp4")]
    assert clip["kind"] == "video" and clip["has_audio"] is True
    assert clip["duration"] == pytest.approx(1.0, abs=0.15)
    assert (lib.catalog_dir / clip["thumbnail"]).is_file()
    assert not any("hidden" in p or p.endswith(".txt") for p in rows)


def test_unchanged_rescan_writes_nothing(library_dir: Path, make_library: Callable[..., Library]) -> None:
    make_library().scan([str(library_dir)])
    lib = make_library()
    version = lib.catalog.assets.version
    summary = lib.scan([str(library_dir)])
    assert summary.counts == {"new": 0, "changed": 0, "moved": 0, "deleted": 0, "unchanged": 4, "failed": 0}
    assert summary.updated == 0
    assert lib.catalog.assets.version == version


def test_edit_touch_move_delete(library_dir: Path, make_library: Callable[..., Library]) -> None:
    first = make_library()
    first.scan([str(library_dir)])
    before = _rows(first)
    gate = library_dir / "2021" / "berlin" / "gate.jpg"
    logo = library_dir / "2021" / "logo.png"
    sydney = library_dir / "2021" / "sydney.jpg"
    clip = library_dir / "videos" / "clip.mp4"
    make_jpeg(sydney, color=(250, 250, 0), size=(90, 60), gps=None)  # edited content
    os.utime(logo, ns=(logo.stat().st_atime_ns, logo.stat().st_mtime_ns + 10**9))  # touched, same bytes
    (library_dir / "moved").mkdir()
    shutil.move(gate, library_dir / "moved" / "gate renamed.jpg")
    clip.unlink()
    lib = make_library()
    summary = lib.scan([str(library_dir)])
    # The touched file's bytes did not change: its hash says so, and its analysis is kept.
    assert summary.counts == {"new": 0, "changed": 1, "moved": 1, "deleted": 1, "unchanged": 1, "failed": 0}
    assert summary.updated == 0 and summary.timings["content"].items == 1
    rows = _rows(lib)
    moved = rows[str(library_dir / "moved" / "gate renamed.jpg")]
    old = before[str(gate)]
    for column in ("id", "phash", "thumbnail", "first_seen", "camera_model", "gps_lat", "content_hash"):
        assert moved[column] == old[column], column
    assert str(gate) not in rows
    edited = rows[str(sydney)]
    assert edited["id"] == before[str(sydney)]["id"]
    assert edited["width"] == 90 and edited["gps_lat"] is None
    assert edited["phash"] != before[str(sydney)]["phash"]
    touched = rows[str(logo)]
    for column in ("content_hash", "phases", "phash", "thumbnail"):
        assert touched[column] == before[str(logo)][column], column
    assert touched["mtime_ns"] == logo.stat().st_mtime_ns
    assert make_library().scan([str(library_dir)]).counts["unchanged"] == 3
    gone = rows[str(clip)]
    assert gone["missing"] is True and gone["missing_since"] is not None
    assert lib.stats()["assets"] == 3 and lib.stats()["missing"] == 1


def test_deleted_then_restored_file_keeps_its_analysis(
    library_dir: Path, make_library: Callable[..., Library], tmp_path: Path
) -> None:
    make_library().scan([str(library_dir)])
    clip = library_dir / "videos" / "clip.mp4"
    original = _rows(make_library())[str(clip)]
    parked = tmp_path / "parked.mp4"
    shutil.move(clip, parked)
    assert make_library().scan([str(library_dir)]).counts["deleted"] == 1
    shutil.move(parked, library_dir / "clip-back.mp4")
    lib = make_library()
    summary = lib.scan([str(library_dir)])
    assert summary.counts["moved"] == 1 and summary.counts["new"] == 0
    back = _rows(lib)[str(library_dir / "clip-back.mp4")]
    assert back["id"] == original["id"] and back["missing"] is False
    assert lib.catalog.count() == 4


def test_zero_grace_removes_deleted_rows_and_thumbnails(
    library_dir: Path, make_library: Callable[..., Library]
) -> None:
    lib = make_library(**{"scan.missing_grace_days": 0})
    lib.scan([str(library_dir)])
    logo = library_dir / "2021" / "logo.png"
    thumb = lib.catalog_dir / _rows(lib)[str(logo)]["thumbnail"]
    assert thumb.is_file()
    logo.unlink()
    summary = make_library(**{"scan.missing_grace_days": 0}).scan([str(library_dir)])
    assert summary.counts["deleted"] == 1
    assert str(logo) not in _rows(make_library())
    assert not thumb.exists()


def test_unreadable_root_does_not_delete_its_assets(
    library_dir: Path, make_library: Callable[..., Library], tmp_path: Path
) -> None:
    make_library().scan([str(library_dir)])
    unplugged = tmp_path / "unplugged"
    library_dir.rename(unplugged)
    summary = make_library().scan([str(library_dir)])
    assert summary.counts["deleted"] == 0
    assert summary.failed == 1 and "root cannot be read" in summary.failures[0].reason
    assert make_library().stats()["missing"] == 0


def test_new_pass_version_reruns_only_that_pass(
    library_dir: Path, make_library: Callable[..., Library], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_library().scan([str(library_dir)])
    import json

    before = {p: json.loads(r["phases"]) for p, r in _rows(make_library()).items()}
    monkeypatch.setattr(ContentPass, "version", 2)
    lib = make_library()
    summary = lib.scan([str(library_dir)])
    assert summary.updated == 4 and summary.counts["unchanged"] == 4
    assert summary.timings["content"].items == 4 and summary.timings["metadata"].items == 0
    for path, row in _rows(lib).items():
        phases = json.loads(row["phases"])
        assert phases["content"]["version"] == 2
        assert phases["metadata"] == before[path]["metadata"]
    assert make_library().scan([str(library_dir)]).updated == 0


def test_full_rescan_reruns_everything(library_dir: Path, make_library: Callable[..., Library]) -> None:
    make_library().scan([str(library_dir)])
    summary = make_library().scan([str(library_dir)], full=True)
    assert summary.updated == 4
    assert summary.timings["metadata"].items == 4 and summary.timings["content"].items == 4


def test_include_exclude_and_catalog_inside_root(library_dir: Path, tmp_path: Path) -> None:
    lib = Library(
        library_dir / "catalog-inside",
        overrides={"scan.exclude": ["videos/**"], "scan.include": ["**/*.jpg", "**/*.mp4"]},
        environ={},
        entry_points=False,
    )
    summary = lib.scan([str(library_dir)])
    assert summary.counts["new"] == 2  # two JPEGs; the PNG is not included, the video excluded
    assert all("catalog-inside" not in row["path"] for row in lib.catalog.rows())


def test_symlinks_followed_and_loops_survived(library_dir: Path, make_library: Callable[..., Library]) -> None:
    outside = library_dir.parent / "outside"
    outside.mkdir()
    make_jpeg(outside / "linked.jpg")
    (library_dir / "link-to-outside").symlink_to(outside, target_is_directory=True)
    (library_dir / "loop").symlink_to(library_dir, target_is_directory=True)
    (library_dir / "2021" / "again.jpg").symlink_to(library_dir / "2021" / "sydney.jpg")
    summary = make_library().scan([str(library_dir)])
    assert summary.counts["new"] == 5  # 4 + the linked file; the second link to sydney.jpg is the same file
    assert summary.failed == 0
    assert any("already walked" in n for n in summary.notes)


def test_two_roots(library_dir: Path, tmp_path: Path, make_library: Callable[..., Library]) -> None:
    other = tmp_path / "other"
    other.mkdir()
    make_png(other / "x.png")
    summary = make_library().scan([str(library_dir), str(other)])
    assert summary.counts["new"] == 5
    # Scanning only one root never marks the other root's files deleted.
    assert make_library().scan([str(other)]).counts == {
        "new": 0,
        "changed": 0,
        "moved": 0,
        "deleted": 0,
        "unchanged": 1,
        "failed": 0,
    }


MARKS_PLUGIN = '''
from typing import Any, ClassVar
import numpy as np
from chronicon.analyzers.base import VECTORS_KEY, PerItemAnalyzer
from chronicon.catalog.vectors import VectorRow
from chronicon.config import Setting
from chronicon.hookspecs import hookimpl
from chronicon.types import Phase

class Marks(PerItemAnalyzer):
    """Finds `count` things per asset (like faces), each an embedding in its own space."""
    name: ClassVar[str] = "marks"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    settings: ClassVar[dict[str, Setting]] = {"count": Setting("int", 2, minimum=0)}

    def fingerprint(self) -> str:
        return f"1/{self.config['count']}"

    def analyze(self, item):
        rows = [VectorRow(item.id, np.eye(4, dtype=np.float32)[n], segment=n + 1) for n in range(self.config["count"])]
        return {VECTORS_KEY: {"marks:test": (4, rows)}}

@hookimpl
def chronicon_register_analyzers():
    return [Marks]
'''


def test_an_empty_vector_list_clears_the_assets_rows_in_that_space(library_dir: Path, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "marks.py").write_text(MARKS_PLUGIN)

    def scan(count: int) -> dict[str, int]:
        overrides = {"plugins.paths": [str(plugins)], "marks.count": count, "tags.enabled": False,
                     "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False}  # fmt: skip
        lib = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
        lib.scan([str(library_dir)])
        table = lib.catalog.open_vector_table("marks:test")
        assert table is not None
        ids = [r["id"] for r in lib.catalog.rows(columns=["id"])]
        return {i: len(rows) for i, rows in table.vectors_for(ids).items()}

    first = scan(2)
    assert first and set(first.values()) == {2}
    assert scan(0) == {}  # the pass ran again (new fingerprint) and found nothing: the old rows are gone


LOOKER_PLUGIN = '''
from typing import ClassVar
from chronicon.api import MediaKind, PerItemAnalyzer, Phase, picture

SEEN = {}

class Looker(PerItemAnalyzer):
    """Reads the photo at a shorter side of 900 px, larger than the content pass decodes for itself."""
    name: ClassVar[str] = "looker"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})

    def picture_side(self, item):
        return 900

    def analyze(self, item):
        SEEN[item.path] = picture(item, 900).size
        return {}

@hookimpl
def chronicon_register_analyzers():
    return [Looker]
'''


def test_each_photo_is_decoded_once_at_the_largest_side_its_passes_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import chronicon.analyzers.inputs as inputs

    root = tmp_path / "library"
    root.mkdir()
    for n in range(3):
        make_jpeg(root / f"big{n}.jpg", size=(3200, 2400), color=(40 * n, 90, 160), pattern=True)
    make_jpeg(root / "tiny.jpg", size=(120, 90))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "looker.py").write_text("from chronicon.hookspecs import hookimpl\n" + LOOKER_PLUGIN)
    decodes: list[str] = []
    real_open = inputs.open_image

    def counting_open(path: str, **kwargs: Any) -> Any:
        decodes.append(path)
        return real_open(path, **kwargs)

    monkeypatch.setattr(inputs, "open_image", counting_open)
    overrides = {"plugins.paths": [str(plugins)], "tags.enabled": False, "clip.enabled": False,
                 "transcribe.enabled": False, "caption.enabled": False}  # fmt: skip
    lib = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    summary = lib.scan([str(root)])
    assert summary.counts["new"] == 4 and not summary.failures
    assert sorted(decodes) == sorted(str(p) for p in root.iterdir())  # once per photo, content and looker together
    seen = next(m for name, m in sys.modules.items() if name.endswith("looker") and hasattr(m, "SEEN")).SEEN
    for path, size in seen.items():
        if "big" in path:
            assert min(size) >= 900 and max(size) < 3200  # drafted (DCT-scaled), not decoded in full
        else:
            assert size == (120, 90)
    thumbs = [r["thumbnail"] for r in lib.catalog.rows()]
    assert all((tmp_path / "catalog" / t).is_file() for t in thumbs)


OVERLAP_PLUGIN = '''
import threading, time
from typing import ClassVar
from chronicon.api import Analyzer, MediaKind, PerItemAnalyzer, Phase

EVENTS = []

class Slow(PerItemAnalyzer):
    """A per-item pass that takes a while (sleeping releases the GIL, like a native decoder or dlib)."""
    name: ClassVar[str] = "slow"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})

    def analyze(self, item):
        time.sleep(0.05)
        EVENTS.append(("item", time.perf_counter(), threading.current_thread().name))
        return {}

class Model(Analyzer):
    """A batched pass: records when each of its runs starts and how many items it got."""
    name: ClassVar[str] = "model"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    uses: ClassVar[tuple[str, ...]] = ("slow",)

    def _run(self, items):
        EVENTS.append(("run", time.perf_counter(), len(items)))
        time.sleep(0.05)
        return [{} for _ in items]

@hookimpl
def chronicon_register_analyzers():
    return [Slow, Model]
'''


@pytest.mark.parametrize("chunk", [4, 0])
def test_the_model_passes_run_on_chunks_while_the_workers_go_on(tmp_path: Path, chunk: int) -> None:
    import sys

    root = tmp_path / "library"
    root.mkdir()
    for n in range(16):
        make_jpeg(root / f"p{n:02}.jpg", size=(64, 48), color=(n * 15, 90, 160))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / f"overlap{chunk}.py").write_text("from chronicon.hookspecs import hookimpl\n" + OVERLAP_PLUGIN)
    overrides = {"plugins.paths": [str(plugins)], "scan.workers": 2, "scan.model_chunk": chunk,
                 "tags.enabled": False, "clip.enabled": False, "transcribe.enabled": False,
                 "caption.enabled": False, "ocr.enabled": False}  # fmt: skip
    lib = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    summary = lib.scan([str(root)])
    assert summary.counts["new"] == 16 and not summary.failures and summary.batches == 1
    events = next(m for name, m in sys.modules.items() if name.endswith(f"overlap{chunk}")).EVENTS
    runs = [e for e in events if e[0] == "run"]
    last_item = max(e[1] for e in events if e[0] == "item")
    assert sum(e[2] for e in runs) == 16  # every item once
    rows = {r["path"]: json.loads(r["phases"]) for r in lib.catalog.rows()}
    assert all(p["model"]["status"] == "done" and p["slow"]["status"] == "done" for p in rows.values())
    if chunk:  # the model ran on chunks of finished items before the workers were done with the batch
        assert [e[2] for e in runs][:3] == [4, 4, 4] and runs[0][1] < last_item
    else:  # the whole batch once, after every item (the behaviour before chunks)
        assert [e[2] for e in runs] == [16] and runs[0][1] > last_item


def test_prepared_model_inputs_keep_no_decoded_picture(tmp_path: Path) -> None:
    """A batch's prepared inputs stay in memory until it is committed: they hold model-sized arrays and which
    segment they are, never the scan's shared full decode (256 of those would be gigabytes)."""
    from PIL import Image

    from chronicon.analyzers.base import Analyzer, AssetItem
    from chronicon.types import MediaKind
    from clipfactory import make_tiny_clip

    photo = tmp_path / "big.jpg"
    make_jpeg(photo, size=(2400, 1800), pattern=True)
    overrides = {"clip.model": f"local-dir:{make_tiny_clip(tmp_path / 'tiny-clip')}", "clip.pretrained": None,
                 "transcribe.enabled": False, "caption.enabled": False}  # fmt: skip
    lib = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    item = AssetItem(
        "a1", str(photo), MediaKind.IMAGE, "jpeg", photo.stat().st_size, 0, row={"width": 2400, "height": 1800}
    )

    def pictures_in(value: Any) -> int:
        if isinstance(value, Image.Image):
            return 1
        if isinstance(value, dict):
            return sum(pictures_in(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(pictures_in(v) for v in value)
        return sum(pictures_in(v) for v in vars(value).values()) if hasattr(value, "__dict__") else 0

    checked = []
    for analyzer in lib.analyzers():
        if type(analyzer).prepare is Analyzer.prepare or analyzer.unavailable() or analyzer.name == "caption":
            continue  # (caption keeps its small resized pictures: they are the model's input)
        prepared = analyzer.prepare(item)
        assert pictures_in(prepared) == 0, analyzer.name
        checked.append(analyzer.name)
    assert {"clip", "tags"} <= set(checked)
