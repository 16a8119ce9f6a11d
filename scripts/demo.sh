#!/usr/bin/env bash
# Set up, generate a sample library, scan it, and show what the catalog holds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
demo=.demo
rm -rf "$demo"
.venv/bin/python scripts/make_sample_library.py "$demo/library"
export CHRONICON_CATALOG="$PWD/$demo/catalog"
echo
echo "== first scan (the broken/ folder holds files that must fail with a reason; exit code 1 is expected)"
set +e
.venv/bin/chronicon scan "$demo/library"
code=$?
set -e
echo "exit code: $code"
[ "$code" -le 1 ] || exit "$code"
echo
echo "== rescan: nothing changed"
.venv/bin/chronicon scan --quiet "$demo/library" || true
echo
echo "== move a photo, rescan: it is recognised as moved and keeps its analysis"
mkdir -p "$demo/library/moved"
mv "$demo/library/photos/berlin.jpg" "$demo/library/moved/berlin.jpg"
.venv/bin/chronicon scan --quiet "$demo/library" || true
echo
.venv/bin/chronicon info "$demo/library/moved/berlin.jpg"
echo
.venv/bin/chronicon stats
