#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install Chronicon into it at the versions pinned in
# requirements.lock (pip constraints: only what the chosen extras need is installed, each at its locked version).
# Usage: scripts/setup.sh [extras]        e.g. scripts/setup.sh dev,ml
#   VENV=.venv-latest CHRONICON_LOCK=none scripts/setup.sh dev,ml   newest releases within pyproject's ranges
#                                                                   (what scripts/test-latest.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
LOCK=${CHRONICON_LOCK:-requirements.lock}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Chronicon needs Python 3.11 or newer (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
extras=${1:-}
target="."
[ -n "$extras" ] && target=".[$extras]"
pip_args=(--quiet --disable-pip-version-check)
if [ "$LOCK" = none ]; then
  echo "setup: installing the newest releases that pyproject.toml allows (no lock) into $VENV" >&2
  pip_args+=(--upgrade --upgrade-strategy eager)
else
  "$PY" scripts/lockfile.py check
  pip_args+=(--constraint "$LOCK")
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install "${pip_args[@]}" pip setuptools
"$VENV/bin/python" -m pip install "${pip_args[@]}" -e "$target"
