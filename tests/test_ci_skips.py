"""In CI a skip for a dependency CI provides is a failure; a skip about the machine stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

SAMPLE = """
import pytest
from ci_skips import provided_reason

def test_missing_tool():
    pytest.skip(provided_reason("espeak-ng is not installed"))

def test_missing_package():
    pytest.importorskip("no_such_package_for_chronicon")

def test_about_the_machine():
    pytest.skip("no CUDA device")
"""


@pytest.mark.parametrize("ci", ["", "true"])
def test_provided_skips_fail_only_in_ci(tmp_path: Path, ci: str) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    out = proc.stdout
    if ci:
        assert proc.returncode == 1, out
        assert "2 failed, 1 skipped" in out and "skipped in CI, where this must run: CI provides this" in out
        assert "SKIPPED" in out and "no CUDA device" in out
    else:
        assert proc.returncode == 0 and "3 skipped" in out, out
