#!/usr/bin/env bash
# Set up the dev environment, then lint, type-check and run the test suite (pytest args pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,ml
echo "== ruff"
.venv/bin/ruff check src tests benchmarks scripts plugins docs/examples
.venv/bin/ruff format --check src tests benchmarks scripts plugins docs/examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
