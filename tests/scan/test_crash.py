"""A scan killed with SIGKILL at any moment, then run again, leaves every file in the catalog exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronicon.library import Library
from mediafactory import make_jpeg
from ml_switches import NO_ML

FILES = 240


def _versions(catalog: Path) -> int:
    folder = catalog / "assets.lance" / "_versions"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _kill_then_resume(cmd: list[str], env: dict[str, str], catalog: Path, kill_after_commits: int) -> None:
    """Start the scan, SIGKILL it once it has committed that many batches, then run it again to the end."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    # The table's first version is its creation; each later one is a committed batch.
    while _versions(catalog) < 1 + kill_after_commits and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed; use more files"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("kill_after_commits", [1, 4, 9])
def test_kill_9_mid_scan_then_resume(tmp_path: Path, kill_after_commits: int) -> None:
    lib = tmp_path / "lib"
    for i in range(FILES):
        folder = lib / f"d{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        make_jpeg(folder / f"p{i:04d}.jpg", size=(48 + i % 16, 32), color=(i % 255, 40, 90), pattern=True)
    catalog = tmp_path / "catalog"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(CHRONICON_TAGS__ENABLED="false", CHRONICON_CLIP__ENABLED="false", CHRONICON_TRANSCRIBE__ENABLED="false")
    cmd = [
        sys.executable,
        "-m",
        "chronicon",
        "--catalog",
        str(catalog),
        "scan",
        "--quiet",
        "--batch-size",
        "10",
        str(lib),
    ]
    _kill_then_resume(cmd, env, catalog, kill_after_commits)

    library = Library(catalog, overrides=NO_ML, environ={}, entry_points=False)
    rows = list(library.catalog.rows())
    paths = [r["path"] for r in rows]
    assert len(paths) == FILES and len(set(paths)) == FILES
    assert len({r["id"] for r in rows}) == FILES
    for row in rows:
        assert row["status"] == "ok" and row["missing"] is False
        name = Path(row["path"]).stem
        assert row["width"] == 48 + int(name[1:]) % 16 and row["height"] == 32
        assert row["phash"] and (library.catalog_dir / row["thumbnail"]).is_file()
    # The killed scan wrote thumbnails for a batch it never committed: the resumed scan removed them.
    on_disk = {p.relative_to(catalog).as_posix() for p in (catalog / "thumbnails").rglob("*") if p.is_file()}
    assert on_disk == {r["thumbnail"] for r in rows}
    again = library.scan([str(lib)])
    assert again.counts["unchanged"] == FILES and again.updated == 0


@pytest.mark.parametrize("kill_after_commits", [1, 3])
def test_kill_9_during_ml_passes_leaves_vectors_consistent(
    tmp_path: Path, model_cache: Path, sample_photos: Path, kill_after_commits: int
) -> None:
    """Vectors go to their own tables before the batch's asset rows: a kill between the two must leave
    neither duplicates nor vectors of assets that do not exist, and the rerun completes every asset."""
    pytest.importorskip("ai_edge_litert")
    lib = tmp_path / "lib"
    for i in range(24):
        source = sorted(sample_photos.iterdir())[i % 8]
        folder = lib / f"d{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:02d}-{source.name}").write_bytes(source.read_bytes() + bytes([i]))  # distinct files
    catalog = tmp_path / "catalog"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(CHRONICON_CLIP__ENABLED="false", CHRONICON_TRANSCRIBE__ENABLED="false",
               CHRONICON_MODEL_CACHE=str(model_cache))  # fmt: skip
    cmd = [sys.executable, "-m", "chronicon", "--catalog", str(catalog), "scan", "-q", "--batch-size", "4", str(lib)]
    _kill_then_resume(cmd, env, catalog, kill_after_commits)

    library = Library(catalog, overrides={"clip.enabled": False, "transcribe.enabled": False,
                                          "model_cache": str(model_cache)}, environ={}, entry_points=False)  # fmt: skip
    ids = {r["id"] for r in library.catalog.rows(columns=["id"])}
    assert len(ids) == 24
    table = library.catalog.open_vector_table("minilm-l6-v2:conse")
    stored = table.vectors_for(ids)
    assert set(stored) == ids  # every asset has its vector...
    assert all(len(rows) == 1 and rows[0].segment == 0 for rows in stored.values())  # ...exactly once
    assert table.count() == 24  # and there is none of an asset that does not exist
