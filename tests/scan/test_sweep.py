"""The thumbnail sweep: a scan that wrote removes thumbnails no row references, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chronicon.library import Library
from chronicon.media.imaging import temp_owner_tag
from chronicon.scan.sweep import TMP_GRACE_SECONDS, referenced_thumbnails, sweep_thumbnails
from mediafactory import make_jpeg, make_mp4
from ml_switches import NO_ML


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in (folder / "thumbnails").rglob("*") if p.is_file()}


def test_scan_removes_orphans_and_keeps_what_rows_and_plugins_own(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_jpeg(lib / "a.jpg", size=(64, 48), color=(200, 40, 40), pattern=True)
    make_mp4(lib / "clip.mp4", seconds=3.0, size=(96, 64), cuts=[1.5])
    catalog = tmp_path / "catalog"
    library = Library(catalog, overrides=NO_ML, environ={}, entry_points=False)
    assert not library.scan([str(lib)]).failures
    rows = {Path(r["path"]).name: r for r in library.catalog.rows()}
    video = rows["clip.mp4"]
    shots = [s["thumbnail"] for s in json.loads(video["segments"])]
    assert len(shots) >= 2 and set(shots) <= _files(catalog)
    kept_before = _files(catalog)
    assert kept_before == referenced_thumbnails(library.catalog)

    thumbs = catalog / "thumbnails"
    shard = thumbs / video["id"][:2]
    orphans = [
        thumbs / "ab" / ("ab" + "0" * 30 + ".webp"),  # an id no row has (a killed scan's batch)
        shard / f"{video['id']}-s{len(shots) + 5}.webp",  # a shot the video no longer has
        shard / f".{video['id']}.webp.0123456789ab.tmp",  # a writer that died mid-write, long ago
        shard / f".{video['id']}-s1.webp.{temp_owner_tag(_dead_pid())}-0123456789ab.tmp",  # killed just now
    ]
    fresh_tmp = shard / f".{video['id']}-s0.webp.ba9876543210.tmp"  # a writer that may still be writing
    live_tmp = shard / f".{video['id']}-s2.webp.{temp_owner_tag(os.getppid())}-ba9876543210.tmp"  # alive
    foreign = [thumbs / "faces" / "ab" / ("ab" + "1" * 30 + "-0.webp"), shard / "notes.txt", thumbs / "cover.webp"]
    for path in [*orphans, fresh_tmp, live_tmp, *foreign]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF....WEBP")
    old = time.time() - TMP_GRACE_SECONDS - 60
    os.utime(orphans[2], (old, old))

    # A scan that writes nothing does not walk the folder (an unchanged library rescans in seconds).
    assert library.scan([str(lib)]).counts["unchanged"] == 2
    assert all(p.exists() for p in orphans)
    make_jpeg(lib / "b.jpg", size=(40, 40), color=(10, 200, 40))
    summary = library.scan([str(lib)])
    assert summary.counts["new"] == 1
    assert not any(p.exists() for p in orphans)
    assert fresh_tmp.exists() and live_tmp.exists() and all(p.exists() for p in foreign)
    assert any("removed 4 unreferenced thumbnails" in n for n in summary.notes), summary.notes
    assert kept_before <= _files(catalog)  # every referenced thumbnail is still there
    for row in library.catalog.rows():
        assert (catalog / row["thumbnail"]).is_file()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_sweep_of_a_catalog_without_thumbnails_is_a_no_op(tmp_path: Path) -> None:
    library = Library(tmp_path / "catalog", overrides=NO_ML, environ={}, entry_points=False)
    result = sweep_thumbnails(library.catalog)
    assert (result.removed, result.errors) == (0, 0)
