"""Write and check requirements.lock: exact pins for every CPU extra, stamped with the pyproject it was made from.

`write REPORT.json` turns a `pip install --dry-run --report` resolution into the lock; `check` exits 2 with a
one-line message when pyproject.toml's dependencies changed since the lock was written (stdlib only: it runs
before any virtual environment exists).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
STAMP = "# pyproject-deps-sha256: "
# Extras that install on CPU-only machines; `gpu` (TensorRT, onnxruntime-gpu) is left to machines that have CUDA.
CPU_EXTRAS = ("dev", "ml", "eval", "yolo", "server", "faces", "sample", "ray", "s3")


def pyproject_digest() -> str:
    """A hash of what decides the resolution: dependencies, optional dependencies, requires-python."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    relevant = {
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
        "lock-extras": list(CPU_EXTRAS),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def write(report_path: Path) -> int:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for item in report["install"]:
        meta = item["metadata"]
        name = meta["name"].lower().replace("_", "-")
        if name == "chronicon":
            continue
        pins[name] = meta["version"]
    env = report.get("environment", {})
    lines = [
        "# Exact versions Chronicon is tested with: used as pip constraints by scripts/setup.sh, the demo, the tests",
        "# and CI. Refresh on purpose with scripts/lock.sh (then run scripts/test.sh); do not edit by hand.",
        f"# Resolved for CPython {env.get('python_full_version', platform.python_version())} on "
        f"{env.get('sys_platform', sys.platform)} {env.get('platform_machine', platform.machine())}, "
        f"extras: {','.join(CPU_EXTRAS)}.",
        STAMP + pyproject_digest(),
    ]
    lines += [f"{name}=={version}" for name, version in sorted(pins.items())]
    LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {LOCK.name}: {len(pins)} pins")
    return 0


def check() -> int:
    if not LOCK.exists():
        print(f"error: {LOCK.name} is missing; create it with scripts/lock.sh", file=sys.stderr)
        return 2
    stamp = next((line for line in LOCK.read_text(encoding="utf-8").splitlines() if line.startswith(STAMP)), "")
    if stamp[len(STAMP) :].strip() != pyproject_digest():
        print(
            f"error: pyproject.toml's dependencies changed since {LOCK.name} was written; "
            "refresh it with scripts/lock.sh, run scripts/test.sh, and commit both",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"] and len(argv) == 2:
        return write(Path(argv[1]))
    if argv == ["check"]:
        return check()
    if argv == ["extras"]:
        print(",".join(CPU_EXTRAS))
        return 0
    print("usage: lockfile.py write REPORT.json | check | extras", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
