"""`scan --engine ray` on a real local Ray: the same catalog as the local engine, and the local engine's crash
guarantees when the driver or a worker is killed mid-scan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import chronicon
from catalogdiff import catalog_differences
from chronicon.library import Library
from mediafactory import make_jpeg, make_mp4, make_truncated
from ml_switches import NO_ML

ray = pytest.importorskip("ray", reason="the Ray engine needs the optional `ray` extra (pip install 'chronicon[ray]')")

TESTS = Path(__file__).resolve().parents[1]
SRC = Path(chronicon.__file__).resolve().parents[1]
PLUGINS = SRC.parent / "plugins"
WORKER_PATH = os.pathsep.join(str(p) for p in (SRC, PLUGINS, TESTS))

# A folder plugin (travels to the workers by value) whose pass kills its own Ray worker process: once, on the
# first file it sees (its `marker` file records that it did), and on every file named *poison*.
KILLER_PLUGIN = '''
"""A test pass that kills the Ray worker it runs in."""

from __future__ import annotations

import os
import signal
from typing import Any, ClassVar

from chronicon.api import AssetItem, PerItemAnalyzer, Phase, Setting, hookimpl


class KillWorkerPass(PerItemAnalyzer):
    """SIGKILLs its own process once (marker file) and on every file named *poison*."""

    name: ClassVar[str] = "killworker"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    settings: ClassVar[dict[str, Setting]] = {"marker": Setting("str", "", help="kill once, then create this")}

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        if "poison" in os.path.basename(item.path):
            os.kill(os.getpid(), signal.SIGKILL)
        marker = self.config.str("marker")
        if marker:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return {}
            os.kill(os.getpid(), signal.SIGKILL)
        return {}


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [KillWorkerPass]
'''


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for the whole file (its start costs seconds); every Ray scan here attaches to it."""
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="warning",
        runtime_env={"env_vars": {"PYTHONPATH": WORKER_PATH}},
    )
    yield
    ray.shutdown()


def _small_library(root: Path, photos: int = 10, sample_photos: Path | None = None) -> Path:
    """Photos with EXIF (GPS, camera), a short video, a truncated photo and an empty file."""
    lib = root / "lib"
    (lib / "a").mkdir(parents=True)
    (lib / "b").mkdir()
    for i in range(photos):
        make_jpeg(lib / ("a" if i % 2 else "b") / f"p{i:02d}.jpg", size=(64 + i, 48), color=(20 * i % 255, 90, 40))
    if sample_photos is not None:
        for source in sorted(sample_photos.iterdir())[:3]:
            (lib / "a" / source.name).write_bytes(source.read_bytes())
    make_mp4(lib / "b" / "clip.mp4", seconds=1.0)
    make_jpeg(lib / "b" / "whole.jpg", size=(300, 200))
    make_truncated(lib / "b" / "whole.jpg", lib / "b" / "truncated.jpg", keep_fraction=0.4)
    (lib / "b" / "whole.jpg").unlink()
    (lib / "b" / "empty.jpg").write_bytes(b"")
    return lib


def test_both_engines_give_the_same_catalog(
    local_ray: None, tmp_path: Path, model_cache: Path, sample_photos: Path
) -> None:
    pytest.importorskip("ai_edge_litert")  # the offline tagger: a real model pass with vectors (ConSE space)
    lib = _small_library(tmp_path, photos=8, sample_photos=sample_photos)
    settings = {**NO_ML, "tags.enabled": True, "model_cache": str(model_cache), "scan.batch_size": 4}
    summaries = {}
    libraries = {}
    for engine in ("local", "ray"):
        library = Library(tmp_path / f"cat-{engine}", overrides={**settings, "scan.engine": engine}, environ={},
                          entry_points=False)  # fmt: skip
        summaries[engine] = library.scan([str(lib)])
        libraries[engine] = library
    local, remote = summaries["local"], summaries["ray"]
    assert (local.engine, remote.engine) == ("local", "ray")
    assert remote.to_dict()["engine"] == "ray"
    assert local.counts == remote.counts and local.counts["new"] == 12 and local.counts["failed"] == 2
    assert sorted(map(str, local.failures)) == sorted(map(str, remote.failures))
    assert remote.batches >= 4  # committed by the driver in atomic batches of `scan.batch_size`
    assert "tags" in remote.timings and remote.timings["tags"].items > 0
    assert catalog_differences(libraries["local"], libraries["ray"]) == []  # rows column by column, vectors
    assert libraries["local"].catalog.vector_spaces()  # (there are vectors to compare)
    again = libraries["ray"].scan([str(lib)])  # and the catalog a Ray scan left is up to date for either engine
    assert again.counts["unchanged"] == 14 and again.updated == 0  # the broken two are not retried either


def _committed(catalog: Path) -> int:
    """Asset rows committed so far (read beside the running scan; 0 while the catalog is still being made)."""
    import lancedb

    try:
        return int(lancedb.connect(str(catalog)).open_table("assets").count_rows())
    except Exception:  # not created yet, or caught between two of its files
        return 0


def test_driver_killed_mid_scan_then_rescan(local_ray: None, tmp_path: Path) -> None:
    """A Ray scan's driver is SIGKILLed after its first commit; the rescan leaves every file exactly once. The
    killed scan runs on this file's Ray (as on a cluster: the cluster outlives the driver, its actors do not)."""
    lib = tmp_path / "lib"
    files = 60
    for i in range(files):
        folder = lib / f"d{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        make_jpeg(folder / f"p{i:04d}.jpg", size=(48 + i % 16, 32), color=(i % 255, 40, 90), pattern=True)
    catalog = tmp_path / "catalog"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_") and k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=WORKER_PATH, CHRONICON_TAGS__ENABLED="false", CHRONICON_CLIP__ENABLED="false",
               CHRONICON_TRANSCRIBE__ENABLED="false")  # fmt: skip
    env["CHRONICON_SCAN__RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "chronicon", "--catalog", str(catalog), "scan", "--quiet", "--engine", "ray",
           "--batch-size", "10", str(lib)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while _committed(catalog) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed; use more files"
    committed = Library(catalog, overrides=NO_ML, environ={}, entry_points=False).catalog.count()
    assert 10 <= committed < files

    library = Library(catalog, overrides={**NO_ML, "scan.engine": "ray", "scan.batch_size": 10}, environ={},
                      entry_points=False)  # fmt: skip
    resumed = library.scan([str(lib)])
    assert resumed.engine == "ray" and resumed.failed == 0
    assert resumed.counts["new"] == files - committed  # the committed ones are not redone
    rows = list(library.catalog.rows())
    paths = [r["path"] for r in rows]
    assert len(paths) == files and len(set(paths)) == files and len({r["id"] for r in rows}) == files
    for row in rows:
        assert row["status"] == "ok" and row["phash"] and (catalog / row["thumbnail"]).is_file()
        assert row["width"] == 48 + int(Path(row["path"]).stem[1:]) % 16
    # The killed driver's workers wrote thumbnails of batches it never committed: the rescan removed them.
    on_disk = {p.relative_to(catalog).as_posix() for p in (catalog / "thumbnails").rglob("*") if p.is_file()}
    assert on_disk == {r["thumbnail"] for r in rows}


def _killer_library(tmp_path: Path, lib: Path, **settings: Any) -> Library:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "killworker.py").write_text(textwrap.dedent(KILLER_PLUGIN))
    overrides = {**NO_ML, "plugins.paths": [str(plugins)], "scan.engine": "ray", "scan.batch_size": 6,
                 "scan.model_chunk": 3, **settings}  # fmt: skip
    return Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)


def test_a_killed_worker_is_retried_and_nothing_is_lost(local_ray: None, tmp_path: Path) -> None:
    lib = _small_library(tmp_path, photos=10)
    marker = tmp_path / "killed-once"
    library = _killer_library(tmp_path, lib, **{"killworker.marker": str(marker)})
    summary = library.scan([str(lib)])
    assert marker.is_file()  # a worker did die mid-scan
    assert summary.counts["new"] == 11 and summary.failed == 2  # only the two broken files
    assert {Path(f.path).name for f in summary.failures} == {"truncated.jpg", "empty.jpg"}
    rows = list(library.catalog.rows())
    assert len(rows) == 13 and len({r["path"] for r in rows}) == 13
    assert all(json.loads(r["phases"]).get("killworker", {}).get("status") == "done" for r in rows if r["width"])


@pytest.mark.slow
def test_a_file_that_kills_every_worker_is_reported(local_ray: None, tmp_path: Path) -> None:
    """Retries spent, the items of the block its worker died on are failures (retried by the next scan)."""
    lib = _small_library(tmp_path, photos=6)
    make_jpeg(lib / "a" / "poison.jpg")
    library = _killer_library(tmp_path, lib, **{"scan.ray_retries": 1})
    summary = library.scan([str(lib)])
    rows = {Path(r["path"]).name: r for r in library.catalog.rows()}
    assert len(rows) == 10  # every file is in the catalog: committed, or committed as failed
    lost = {Path(f.path).name for f in summary.failures if f.stage == "ray"}
    assert "poison.jpg" in lost and len(lost) <= 3  # its block (scan.model_chunk files), nothing else
    assert all("Ray worker died 2 times" in rows[name]["error"] for name in lost)
    assert all(rows[name]["error_kind"] == "io" for name in lost)  # so the next scan tries them again
    assert any("lost with their Ray worker" in note for note in summary.notes)
    broken = {"truncated.jpg", "empty.jpg"} - lost
    assert {Path(f.path).name for f in summary.failures if f.stage != "ray"} == broken
    ok = [name for name, row in rows.items() if row["status"] == "ok"]
    assert len(ok) == 10 - len(lost) - len(broken)


def test_engine_ray_without_ray_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chronicon.cli.main import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where the extra is not installed
    lib = _small_library(tmp_path, photos=1)
    result = CliRunner().invoke(cli, ["--catalog", str(tmp_path / "cat"), "scan", "--engine", "ray", str(lib)],
                                env={"CHRONICON_TAGS__ENABLED": "false"})  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "pip install 'chronicon[ray]'" in result.output


def test_bad_ray_address_names_the_key(tmp_path: Path) -> None:
    from chronicon.errors import ConfigError
    from chronicon.scan.ray_engine import check_address

    assert check_address(None) is None and check_address("auto") == "auto"
    assert check_address("ray://head:10001") == "ray://head:10001" and check_address("10.0.0.5:6379")
    with pytest.raises(ConfigError, match=r"scan\.ray_address.*ray://HOST:PORT"):
        check_address("http://head")


def test_importing_chronicon_does_not_import_ray() -> None:
    code = "import sys, chronicon.library, chronicon.cli.main, chronicon.scan.ray_engine; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": WORKER_PATH})  # fmt: skip
    assert out.stdout.strip() == "False"
