"""Bad command-line input gets exit 2 and one line; whatever escapes a command gets one line and its code."""

from __future__ import annotations

import errno
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The module, not the `main` function the package re-exports under the same name (monkeypatched below).
cli_module = importlib.import_module("chronicon.cli.main")

CLI = [sys.executable, "-m", "chronicon"]


def _run(args: list[str | bytes], tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env |= {"CHRONICON_CATALOG": str(tmp_path / "catalog"), **extra_env}
    return subprocess.run([*CLI, *args], capture_output=True, env=env, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    return err


def test_a_query_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run([b"search", b"caf\xe9 \xff"], tmp_path)
    assert proc.returncode == 2
    assert "not valid text" in _one_line_error(proc)


@pytest.mark.parametrize("value", ["nan", "5", "-1.5", "inf"])
def test_min_score_outside_minus_one_to_one_is_refused(tmp_path: Path, value: str) -> None:
    proc = _run(["search", "a cat", "--min-score", value], tmp_path)
    assert proc.returncode == 2
    err = _one_line_error(proc)
    assert "--min-score" in err


def test_the_search_api_refuses_a_bad_min_score_too(tmp_path: Path) -> None:
    from chronicon.library import Library
    from chronicon.search.query import QueryError

    library = Library(tmp_path / "catalog", environ={}, entry_points=False)
    for bad in (float("nan"), 1.5):
        with pytest.raises(QueryError, match="min_score"):
            library.search("a cat", min_score=bad)
    with pytest.raises(QueryError, match="not valid text"):
        library.search(os.fsdecode(b"caf\xe9"))


def test_a_root_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run(["scan", str(tmp_path / "no-such-folder")], tmp_path)
    assert proc.returncode == 2
    assert "does not exist" in _one_line_error(proc)
    assert not (tmp_path / "catalog").exists() or not any((tmp_path / "catalog").glob("assets.lance"))


def test_an_unknown_environment_variable_warns_with_the_closest_key(tmp_path: Path) -> None:
    proc = _run(["config", "show", "--origin"], tmp_path, CHRONICON_SCAN__WORKRS="2")
    assert proc.returncode == 0, proc.stderr
    err = _one_line_error(proc)
    assert "CHRONICON_SCAN__WORKRS" in err and "CHRONICON_SCAN__WORKERS" in err
    # A wrong value of a known key stays an error: a typo must not silently change a setting.
    bad = _run(["config", "show"], tmp_path, CHRONICON_SCAN__WORKERS="many")
    assert bad.returncode == 2 and "scan.workers" in _one_line_error(bad)


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/cat/assets.lance"), 3, "disk is full"),
        (OSError(errno.EROFS, "Read-only file system"), 3, "read-only"),
        (RuntimeError("lance error: Invalid user input: truncated file\nmore detail"), 3, "catalog check"),
        (KeyError("boom"), 4, "a bug"),
    ],
)
def test_what_escapes_a_command_is_one_line_and_an_exit_code(
    exc: Exception, code: int, words: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @cli_module.cli.command("explode-for-test", hidden=True)
    def explode() -> None:
        raise exc

    monkeypatch.setattr(cli_module, "load_plugin_commands", lambda argv: None)
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_module.main(["explode-for-test"])
        assert exit_info.value.code == code
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
        assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
        with pytest.raises(SystemExit):
            cli_module.main(["--log-level", "debug", "explode-for-test"])
        assert "Traceback" in capsys.readouterr().err
    finally:
        cli_module.cli.commands.pop("explode-for-test", None)
