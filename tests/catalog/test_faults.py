"""Storage faults really happen here: truncated data files, half-created tables, a full disk, a read-only
catalog. Each gives one line naming the table, exit code 3 and a way back; nothing committed is lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chronicon.catalog import health
from chronicon.catalog.faults import translate
from chronicon.errors import CatalogDamagedError, CatalogError, CatalogStorageError
from chronicon.library import Library
from mediafactory import make_jpeg

# A pass that writes one 4-d vector per photo (a stand-in for CLIP that needs no weights).
DOTS_PLUGIN = '''
import os
from typing import Any, ClassVar
import numpy as np
from chronicon.analyzers.base import VECTORS_KEY, PerItemAnalyzer
from chronicon.catalog.vectors import VectorRow
from chronicon.hookspecs import hookimpl
from chronicon.types import Phase

class Dots(PerItemAnalyzer):
    """One unit vector per asset, from its content hash."""
    name: ClassVar[str] = "dots"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML

    def analyze(self, item):
        digest = item.row["content_hash"]
        vec = np.eye(4, dtype=np.float32)[sum(digest.encode()) % 4]
        vectors = {"dots": (4, [VectorRow(item.id, vec, content_hash=digest)])}
        if os.path.basename(item.path).startswith("c"):  # photos named c* also get a space of their own,
            vectors = {"dots:c": (4, [VectorRow(item.id, vec, content_hash=digest)]), **vectors}  # written first
        return {VECTORS_KEY: vectors}

@hookimpl
def chronicon_register_analyzers():
    return [Dots]
'''
CLI = [sys.executable, "-m", "chronicon"]


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    """Six photos, a plugin pass that writes vectors, a config file; scanned in three batches (so the tables
    keep versions with fewer rows to go back to)."""
    media = tmp_path / "media"
    media.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "dots.py").write_text(DOTS_PLUGIN)
    settings = {
        "catalog": str(tmp_path / "catalog"),
        "plugins": {"paths": [str(plugins)]},
        "scan": {"batch_size": 2, "workers": 1},
        # (and no stacking passes: their end-of-scan column writes would make the newest data file one that holds
        # only their columns, which `stats` never reads; this test damages the rows themselves)
        **{
            name: {"enabled": False}
            for name in ("tags", "clip", "transcribe", "caption", "bursts", "live", "raw_pairs")
        },
    }
    config = tmp_path / "chronicon.yaml"
    config.write_text(yaml.safe_dump(settings))
    for i in range(4):
        make_jpeg(media / f"a{i}.jpg", color=(40 * i, 90, 200 - 30 * i))
    first = _library(config).scan([media])
    assert first.counts["new"] == 4 and first.failed == 0, first.failures
    for i in range(2):
        make_jpeg(media / f"b{i}.jpg", color=(10, 40 * i, 90))
    assert _library(config).scan([media]).counts["new"] == 2
    return {"media": media, "config": config, "catalog": tmp_path / "catalog", "tmp": tmp_path}


def _library(config: Path) -> Library:
    return Library(config_file=config, environ={})  # the installed plugins too, as the CLI loads them


def _cli(config: Path, *args: str, wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    return subprocess.run([*(wrap or []), *CLI, "--config", str(config), *args], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command; no traceback, no Rust source paths."""
    assert "Traceback" not in proc.stderr and ".rs:" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("Error:", "error:"))]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _newest_data_file(table_dir: Path) -> Path:
    return max((table_dir / "data").iterdir(), key=lambda p: p.stat().st_mtime_ns)


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _vector_count(library: Library) -> dict[str, int]:
    table = library.catalog.open_vector_table("dots")
    assert table is not None
    ids = [r["id"] for r in library.catalog.rows(columns=["id"])]
    return {i: len(rows) for i, rows in table.vectors_for(ids).items()}


# -- a truncated data file ---------------------------------------------------------------------------------
def test_a_truncated_assets_file_is_named_and_restore_goes_back_to_the_last_good_version(setup: dict[str, Any]) -> None:
    config, catalog = setup["config"], setup["catalog"]
    _truncate(_newest_data_file(catalog / "assets.lance"))

    stats = _cli(config, "stats")
    assert stats.returncode == 3
    line = _one_line(stats)
    assert "'assets'" in line and "damaged" in line and "chronicon catalog restore" in line

    check = _cli(config, "catalog", "check", "--json")
    assert check.returncode == 3, check.stderr
    report = {t["table"]: t for t in json.loads(check.stdout)["tables"]}
    assert report["assets"]["state"] == "damaged" and report["meta"]["state"] == "ok"
    assert report["vectors__dots"]["state"] == "ok"
    good = report["assets"]["last_good"]
    kept = report["assets"]["last_good_rows"]
    assert good is not None and 0 < kept <= 6  # 6 when the damaged file came from a compaction

    refused = _cli(config, "catalog", "restore")  # no terminal, no --yes: nothing happens
    assert refused.returncode == 2 and "--yes" in _one_line(refused)
    restored = _cli(config, "catalog", "restore", "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    (done,) = json.loads(restored.stdout)["restored"]
    assert done["table"] == "assets" and done["to_version"] == good
    assert sum(done["vectors_pruned"].values()) == 6 - kept  # vectors of assets the old version does not have
    assert _cli(config, "catalog", "check").returncode == 0

    rescan = _cli(config, "scan", "-q", str(setup["media"]))
    assert rescan.returncode == 0, rescan.stderr
    library = _library(config)
    assert library.catalog.count() == 6 and library.catalog.count("status = 'ok'") == 6
    assert set(_vector_count(library).values()) == {1} and len(_vector_count(library)) == 6


def test_a_truncated_vector_file_is_restored_and_the_next_scan_redoes_the_lost_vectors(setup: dict[str, Any]) -> None:
    config, catalog = setup["config"], setup["catalog"]
    _truncate(_newest_data_file(catalog / "vectors__dots.lance"))
    with pytest.raises(CatalogDamagedError, match="vectors__dots") as caught:
        _vector_count(_library(config))
    assert caught.value.table == "vectors__dots"

    reports = {r.table: r for r in health.check(catalog)}
    assert reports["vectors__dots"].state == "damaged" and reports["assets"].state == "ok"
    result = health.restore(catalog, "vectors__dots")
    assert result.to_version == reports["vectors__dots"].last_good
    assert result.assets_to_redo == 6 - result.rows_after  # exactly the assets whose vectors went

    summary = _library(config).scan([setup["media"]])
    assert summary.failed == 0 and summary.updated == result.assets_to_redo
    counts = _vector_count(_library(config))
    assert len(counts) == 6 and set(counts.values()) == {1}


@pytest.mark.filterwarnings(r"ignore:optimize\(cleanup_older_than=0\)")
def test_a_vector_table_without_a_good_version_is_dropped_and_rebuilt(setup: dict[str, Any]) -> None:
    config, catalog = setup["config"], setup["catalog"]
    _library(config).catalog.compact(keep_versions_for=timedelta(0))  # a nightly compaction dropped old versions
    for data in (catalog / "vectors__dots.lance" / "data").iterdir():
        _truncate(data)  # every kept version is damaged now
    report = {r.table: r for r in health.check(catalog)}["vectors__dots"]
    assert report.state == "damaged" and report.last_good is None
    with pytest.raises(CatalogError, match="--drop"):
        health.restore(catalog, "vectors__dots")
    with pytest.raises(CatalogError, match="only vector tables"):
        health.restore(catalog, "assets", drop=True)

    dropped = _cli(config, "catalog", "restore", "--table", "vectors__dots", "--drop", "--yes")
    assert dropped.returncode == 0, dropped.stderr
    assert "6 assets will be analysed again" in dropped.stderr
    summary = _library(config).scan([setup["media"]])
    assert summary.failed == 0 and summary.updated == 6
    assert len(_vector_count(_library(config))) == 6


# -- a half-created table ----------------------------------------------------------------------------------
def _husk(folder: Path) -> None:
    """What LanceDB leaves when the disk fills while it creates a table (seen on a full tmpfs)."""
    (folder / "_versions").mkdir(parents=True)
    (folder / "_transactions").mkdir()


def test_a_half_created_table_is_removed_when_the_catalog_opens(setup: dict[str, Any]) -> None:
    config, catalog = setup["config"], setup["catalog"]
    _husk(catalog / "vectors__other.lance")
    assert {r.table: r.state for r in health.check(catalog)}["vectors__other"] == "half-created"
    stats = _cli(config, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert "removed the half-created table vectors__other.lance" in stats.stderr
    assert not (catalog / "vectors__other.lance").exists()
    assert set(json.loads(stats.stdout)["vectors"]) == {"dots"}


def test_a_half_created_table_is_left_alone_while_a_scan_holds_the_lock(setup: dict[str, Any]) -> None:
    from chronicon.catalog.lock import ScanLock
    from chronicon.catalog.store import Catalog

    catalog = setup["catalog"]
    _husk(catalog / "vectors__other.lance")
    with ScanLock(catalog):  # another process might be creating that table right now
        opened = Catalog(catalog)
        assert opened.repaired == [] and opened.vector_spaces() == ["dots"]
    assert (catalog / "vectors__other.lance").exists()
    assert Catalog(catalog).repaired == ["vectors__other"]


# -- a full disk and a read-only catalog, for real when this machine lets us mount ---------------------------
def _namespaces_work(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount --make-rprivate / && mount -t tmpfs -o size=1m tmpfs {probe} && touch {probe}/x"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=30).returncode == 0


def test_a_disk_that_fills_during_a_scan_then_frees_up(setup: dict[str, Any]) -> None:
    """The catalog on a small tmpfs, filled to the last byte: the scan must create a new vector table (the c*
    photos' space) and commit rows; it exits 3 with one line. After space is freed the half-created table is
    removed, the catalog opens and a rescan completes."""
    tmp = setup["tmp"]
    if not _namespaces_work(tmp):
        pytest.skip("needs root with CAP_SYS_ADMIN to mount a small tmpfs (the injected-ENOSPC test covers the rest)")
    full = tmp / "full"
    full.mkdir()
    settings = yaml.safe_load(setup["config"].read_text())
    settings["catalog"] = str(full / "catalog")
    config = tmp / "full.yaml"
    config.write_text(yaml.safe_dump(settings))
    for i in range(4):
        make_jpeg(setup["media"] / f"c{i}.jpg", color=(5, 5, 60 * i))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    chronicon = " ".join([sys.executable, "-m", "chronicon", "--config", str(config)])
    script = f"""
mount --make-rprivate / && mount -t tmpfs -o size=6m tmpfs "{full}" && cp -a "{setup["catalog"]}" "{full}/catalog"
(dd if=/dev/zero of="{full}/filler" bs=4k 2>/dev/null; true)
{chronicon} scan -q "{setup["media"]}" > "{tmp}/out1" 2> "{tmp}/err1"; echo $? > "{tmp}/rc1"
rm -f "{full}/filler"
{chronicon} scan -q "{setup["media"]}" > "{tmp}/out2" 2> "{tmp}/err2"; echo $? > "{tmp}/rc2"
{chronicon} stats --json > "{tmp}/stats" 2>&1
"""
    subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, timeout=600, check=True)
    err1 = (tmp / "err1").read_text()
    assert (tmp / "rc1").read_text().strip() == "3", err1
    assert "Traceback" not in err1 and ".rs:" not in err1 and "the disk is full" in err1
    assert (tmp / "rc2").read_text().strip() == "0", (tmp / "err2").read_text()
    assert "removed the half-created table vectors__dots_c_" in (tmp / "err2").read_text()
    stats = json.loads((tmp / "stats").read_text())
    assert stats["assets"] == 10 and stats["by_status"] == {"ok": 10}
    assert stats["vectors"]["dots"]["rows"] == 10 and stats["vectors"]["dots:c"]["rows"] == 4


def test_a_read_only_catalog_searches_but_refuses_to_scan_in_one_line(setup: dict[str, Any]) -> None:
    tmp, catalog = setup["tmp"], setup["catalog"]
    if not _namespaces_work(tmp):
        pytest.skip(
            "needs root with CAP_SYS_ADMIN for a read-only bind mount (the injected-EROFS test covers the rest)"
        )
    make_jpeg(setup["media"] / "new.jpg", color=(1, 2, 3))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    chronicon = " ".join([sys.executable, "-m", "chronicon", "--config", str(setup["config"])])
    script = f"""
mount --make-rprivate / && mount --bind -o ro "{catalog}" "{catalog}"
{chronicon} scan -q "{setup["media"]}" 2> "{tmp}/scan-err"; echo $? > "{tmp}/scan-rc"
{chronicon} album create Holidays --kind image 2> "{tmp}/album-err"; echo $? > "{tmp}/album-rc"
{chronicon} stats --json > "{tmp}/stats" 2> "{tmp}/stats-err"; echo $? > "{tmp}/stats-rc"
"""
    subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, timeout=300, check=True)
    for name in ("scan", "album"):
        err = (tmp / f"{name}-err").read_text()
        assert (tmp / f"{name}-rc").read_text().strip() == "3", err
        assert "Traceback" not in err and "read-only" in err and len(err.splitlines()) <= 2, err
    assert (tmp / "stats-rc").read_text().strip() == "0", (tmp / "stats-err").read_text()
    assert json.loads((tmp / "stats").read_text())["assets"] == 6


# -- the same faults injected, so they are covered on machines that cannot mount ----------------------------
def test_injected_enospc_during_a_commit_is_one_storage_error(setup: dict[str, Any], monkeypatch: Any) -> None:
    import lancedb.table

    def full(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), /x/writer.rs:258:9")

    monkeypatch.setattr(lancedb.table.LanceTable, "merge_insert", full)
    make_jpeg(setup["media"] / "new.jpg", color=(1, 2, 3))
    with pytest.raises(CatalogStorageError, match="the disk is full") as caught:
        _library(setup["config"]).scan([setup["media"]])
    assert caught.value.errno == errno.ENOSPC and ".rs:" not in str(caught.value)
    monkeypatch.undo()
    summary = _library(setup["config"]).scan([setup["media"]])
    assert summary.counts["new"] == 1 and summary.failed == 0


def test_injected_erofs_on_the_scan_lock_is_one_storage_error(setup: dict[str, Any], monkeypatch: Any) -> None:
    from chronicon.catalog import lock

    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith("scan.lock") and flags & (os.O_RDWR | os.O_WRONLY):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(lock.os, "open", read_only)
    with pytest.raises(CatalogStorageError, match="read-only") as caught:
        _library(setup["config"]).scan([setup["media"]])
    assert caught.value.errno == errno.EROFS


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (
            RuntimeError("lance error: LanceError(IO): No space left on device (os error 28), /a.rs:1:2"),
            CatalogStorageError,
            "the disk is full",
        ),
        (OSError(errno.EROFS, "Read-only file system"), CatalogStorageError, "read-only"),
        (OSError(errno.EACCES, "Permission denied"), CatalogStorageError, "permission denied"),
        (
            RuntimeError("lance error: LanceError(IO): failed to fill whole buffer, /rustc/x/function.rs:250:5"),
            CatalogDamagedError,
            "damaged",
        ),
        (ValueError("Table 'vectors__x' was not found"), CatalogDamagedError, "damaged"),
    ],
)
def test_lance_errors_become_one_line_with_advice(error: Exception, kind: type, words: str) -> None:
    translated = translate(error, "assets", "write", "/cat")
    assert isinstance(translated, kind) and words in str(translated)
    assert "\n" not in str(translated) and ".rs:" not in str(translated) and "'assets'" in str(translated)
