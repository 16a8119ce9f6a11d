"""End to end through the real `chronicon` command: a fixture library with every kind of broken file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mediafactory import make_bomb_png, make_jpeg, make_mp4, make_text_as, make_truncated

CLI = [sys.executable, "-m", "chronicon"]
# As root, file permissions do not stop reads; dropping the DAC capabilities makes a 000 file unreadable.
DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
CAN_TEST_UNREADABLE = os.geteuid() != 0 or shutil.which("setpriv") is not None


def run_cli(*args: str, catalog: Path, check_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    prefix = DROP_DAC if os.geteuid() == 0 and shutil.which("setpriv") else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env["CHRONICON_CATALOG"] = str(catalog)
    env["CHRONICON_TAGS__ENABLED"] = "false"  # the ML passes have their own end-to-end test
    env["CHRONICON_CLIP__ENABLED"] = "false"
    env["CHRONICON_TRANSCRIBE__ENABLED"] = "false"
    env["CHRONICON_CAPTION__ENABLED"] = "false"
    proc = subprocess.run([*prefix, *CLI, *args], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode in check_codes, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture
def broken_library(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    (lib / "good").mkdir(parents=True)
    (lib / "bad").mkdir()
    make_jpeg(lib / "good" / "one.jpg")
    make_jpeg(lib / "good" / "two.jpeg", color=(10, 200, 10), gps=None)
    make_mp4(lib / "good" / "clip.mp4", seconds=1.0)
    odd_name = os.fsdecode(b"caf\xe9 \xff.jpg")  # not valid UTF-8
    make_jpeg(lib / "good" / odd_name)
    (lib / "bad" / "empty.jpg").write_bytes(b"")
    make_jpeg(lib / "bad" / "full.jpg", size=(400, 300))
    make_truncated(lib / "bad" / "full.jpg", lib / "bad" / "truncated.jpg", keep_fraction=0.4)
    (lib / "bad" / "full.jpg").unlink()
    make_mp4(lib / "bad" / "whole.mp4", seconds=2.0)
    make_truncated(lib / "bad" / "whole.mp4", lib / "bad" / "truncated.mp4", keep_fraction=0.5)
    (lib / "bad" / "whole.mp4").unlink()
    make_text_as(lib / "bad" / "text.jpg")
    make_bomb_png(lib / "bad" / "bomb.png")
    if CAN_TEST_UNREADABLE:
        make_jpeg(lib / "bad" / "unreadable.jpg")
        os.chmod(lib / "bad" / "unreadable.jpg", 0)
    (lib / "bad" / "broken-link.jpg").symlink_to(lib / "bad" / "does-not-exist.jpg")
    (lib / "bad" / "loop.jpg").symlink_to(lib / "bad" / "loop.jpg")
    return lib


def _by_name(failures: list[dict[str, Any]]) -> dict[str, str]:
    return {Path(f["path"]).name: f"{f['stage']}: {f['reason']}" for f in failures}


def test_scan_reports_each_broken_file_and_indexes_every_good_one(broken_library: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    proc = run_cli("scan", str(broken_library), "--json", catalog=catalog, check_codes=(1,))
    summary = json.loads(proc.stdout)
    failures = _by_name(summary["failures"])
    assert "empty file" in failures["empty.jpg"]
    assert "truncated" in failures["truncated.jpg"] or "corrupt" in failures["truncated.jpg"]
    assert failures["truncated.mp4"]
    assert "not a recognised image or video" in failures["text.jpg"]
    assert "30000" in failures["bomb.png"] and "max_image_pixels" in failures["bomb.png"]
    assert "broken symlink" in failures["broken-link.jpg"]
    assert "symlink loop" in failures["loop.jpg"]
    if CAN_TEST_UNREADABLE:
        assert "permission denied" in failures["unreadable.jpg"]
    expected_failures = 8 if CAN_TEST_UNREADABLE else 7
    assert summary["counts"]["failed"] == expected_failures, failures
    assert summary["counts"]["new"] == 4  # every good file, the non-UTF-8 name included
    assert summary["exit_code"] == 1

    stats = json.loads(run_cli("stats", "--json", catalog=catalog).stdout)
    assert stats["by_status"]["ok"] == 4

    # Nothing changed: the files that are broken for good are not retried; unreadable ones are.
    again = json.loads(run_cli("scan", str(broken_library), "--json", catalog=catalog, check_codes=(1,)).stdout)
    retried = set(_by_name(again["failures"]))
    assert retried == {"broken-link.jpg", "loop.jpg"} | ({"unreadable.jpg"} if CAN_TEST_UNREADABLE else set())
    assert again["counts"]["new"] == 0 and again["counts"]["changed"] == 0


def test_info_stats_config_doctor(broken_library: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    good = broken_library / "good"
    shutil.rmtree(broken_library / "bad")
    proc = run_cli("scan", str(good), catalog=catalog)
    assert "new" in proc.stdout and "failed" in proc.stdout
    quiet = run_cli("scan", "--quiet", str(good), catalog=catalog)
    assert quiet.stdout.startswith("scanned ") and "4 unchanged" in quiet.stdout
    info = json.loads(run_cli("info", str(good / "one.jpg"), "--json", catalog=catalog).stdout)
    assert info["camera_model"] == "EOS R5" and info["phases"]["metadata"]["status"] == "done"
    text = run_cli("info", str(good / "clip.mp4"), catalog=catalog).stdout
    assert "duration" in text and "video_codec" in text
    missing = run_cli("info", str(tmp_path / "nope.jpg"), catalog=catalog, check_codes=(2,))
    assert "not in the catalog" in missing.stderr
    config = run_cli("config", "show", "--origin", catalog=catalog).stdout
    assert "scan.workers = 0    # default" in config
    doctor = json.loads(run_cli("doctor", "--json", catalog=catalog).stdout)
    assert doctor["versions"]["lancedb"] != "missing" and "cpu_cores" in doctor["devices"]
    plugins = json.loads(run_cli("plugins", "list", "--json", catalog=catalog).stdout)
    assert {p["name"] for p in plugins["plugins"]} >= {"metadata", "content"}


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    bad = tmp_path / "bad.yaml"
    bad.write_text("scan:\n  hash: md5\n")
    proc = run_cli("--config", str(bad), "stats", catalog=catalog, check_codes=(2,))
    assert "scan.hash" in proc.stderr and "sampled, full" in proc.stderr
    run_cli("scan", "--nope", catalog=catalog, check_codes=(2,))
    proc = run_cli("scan", catalog=catalog, check_codes=(2,))
    assert "nothing to scan" in proc.stderr


def test_second_scan_is_refused_while_one_runs(tmp_path: Path) -> None:
    from chronicon.catalog.lock import ScanLock

    catalog = tmp_path / "catalog"
    lib = tmp_path / "lib"
    lib.mkdir()
    make_jpeg(lib / "a.jpg")
    with ScanLock(catalog):
        proc = run_cli("scan", str(lib), catalog=catalog, check_codes=(3,))
    assert "another scan is using the catalog" in proc.stderr
    run_cli("scan", str(lib), catalog=catalog)


def test_sampling_option_sets_the_video_segments(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_mp4(lib / "clip.mp4", seconds=3.0, fps=10)
    catalog = tmp_path / "catalog"
    run_cli("scan", "--quiet", "--sampling", "uniform:3", str(lib), catalog=catalog)
    row = json.loads(run_cli("info", "--json", str(lib / "clip.mp4"), catalog=catalog).stdout)
    segments = json.loads(row["segments"])
    assert [s["index"] for s in segments] == [1, 2, 3] and row["sampling"] == "uniform"
    bad = run_cli("scan", "--sampling", "every:2", str(lib), catalog=catalog, check_codes=(2,))
    assert "uniform:N" in bad.stderr
