"""The committed lock: it matches pyproject, the environment the tests run in was installed from it."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _copy_project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lockfile.py", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(LOCK, tmp_path)
    return tmp_path


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "lockfile.py"), "check"], capture_output=True, text=True
    )


def test_the_lock_matches_pyproject() -> None:
    proc = _check(ROOT)
    assert proc.returncode == 0, proc.stderr


def test_a_changed_dependency_is_caught_with_a_clear_message(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    (root / "pyproject.toml").write_text(text.replace('"rich>=13",', '"rich>=13",\n    "tqdm>=4",'))
    proc = _check(root)
    assert proc.returncode == 2
    assert "changed since requirements.lock was written" in proc.stderr and "scripts/lock.sh" in proc.stderr
    (root / "requirements.lock").unlink()
    missing = _check(root)
    assert missing.returncode == 2 and "requirements.lock is missing" in missing.stderr


def test_the_lock_pins_every_dependency_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _pins()
    names = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "gpu":  # CUDA-only runtimes are not locked for CPU machines
            names += requirements
    for requirement in names:
        name = _norm(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0])
        if name != "chronicon":
            assert name in pins, f"{requirement} is not in requirements.lock"


def test_the_test_environment_was_installed_from_the_lock() -> None:
    if not (sys.prefix != sys.base_prefix and Path(sys.prefix).name == ".venv"):
        pytest.skip("runs in the project's .venv only (scripts/test-latest.sh uses .venv-latest on purpose)")
    pins = _pins()
    wrong = []
    for dist in importlib.metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in pins and dist.version != pins[name] and dist.version.split("+")[0] != pins[name]:
            wrong.append(f"{name} {dist.version} (locked {pins[name]})")
    assert not wrong, "installed versions differ from requirements.lock: " + ", ".join(wrong)
