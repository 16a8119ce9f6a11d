#!/usr/bin/env bash
# Refresh requirements.lock on purpose: resolve every CPU extra afresh (newest releases within pyproject's
# ranges) in a scratch virtual environment, then write the pins. Run scripts/test.sh after it, commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools
extras=$("$PY" scripts/lockfile.py extras)
echo "resolving .[$extras] (no constraints but pyproject's ranges)..." >&2
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --dry-run --ignore-installed \
  --report "$tmp/report.json" ".[$extras]" pip setuptools
"$PY" scripts/lockfile.py write "$tmp/report.json"
