"""In CI a skip for something CI provides is a failure; skips about the machine itself stay skips.

CI (`CI=true`, which `.ci/run` sets) installs every package of the test extras and Debian's espeak-ng and
Chromium, so a test that skips there because one of them is missing hides a broken install. Skips about the
machine (root reads any file, no CAP_SYS_ADMIN, no CUDA, no native bf16) stay skips and `-ra` lists them."""

from __future__ import annotations

import os
from typing import Any

CI_PROVIDED = "CI provides this: "  # prefix of skip reasons that fail in CI
# What pytest.importorskip says when the package is missing: every package the tests import, CI installs.
_IMPORT_SKIP = ("could not import", "No module named")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def provided_reason(reason: str) -> str:
    """A skip reason for a dependency CI provides (a Debian tool, a test extra's package, bundled model files)."""
    return CI_PROVIDED + reason


def is_provided_skip(reason: str) -> bool:
    return CI_PROVIDED in reason or any(marker in reason for marker in _IMPORT_SKIP)


def fail_provided_skip_in_ci(report: Any) -> None:
    """Turn a test report that skipped for a CI-provided dependency into a failure, in CI only."""
    if not (report.skipped and in_ci()) or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    if is_provided_skip(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where this must run: {reason.removeprefix('Skipped: ')}"
