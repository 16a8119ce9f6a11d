#!/usr/bin/env bash
# The suite against the newest releases instead of the lock, in .venv-latest: finds the next breaking release
# (the next OpenCV 5) before users do. Not part of CI; run it before refreshing the lock (scripts/lock.sh).
#   scripts/test-latest.sh [pytest args]              newest releases within pyproject's ranges
#   UNBOUNDED=1 scripts/test-latest.sh [pytest args]  also past pyproject's upper bounds (is a bound still needed?)
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV=.venv-latest
CHRONICON_LOCK=none scripts/setup.sh dev,ml
if [ "${UNBOUNDED:-0}" = 1 ]; then
  # Every requirement with an upper bound, upgraded past it (no deps: the rest of the environment stays put).
  bounded=$("$VENV/bin/python" - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(project["dependencies"]) + [r for k, v in project["optional-dependencies"].items() if k != "gpu" for r in v]
print(" ".join(sorted({re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0] for r in reqs if "<" in r})))
PY
)
  echo "== upgrading past pyproject's upper bounds: $bounded" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade --no-deps $bounded
fi
echo "== versions that differ from requirements.lock"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
pins = dict(l.split("==") for l in open("requirements.lock") if l.strip() and not l.startswith("#"))
for name, version in sorted(pins.items()):
    try:
        have = md.version(name.strip())
    except md.PackageNotFoundError:
        continue
    if have != version.strip():
        print(f"  {name}: {version.strip()} -> {have}")
PY
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
