"""Run the demo's searches on the sample library and check that each finds the right photo first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# query -> the sample photo it must return first (see REAL_PHOTOS in make_sample_library.py)
EXPECTED = {
    "a cat": "IMG_0001.jpg",
    "a cup of coffee": "IMG_0002.jpg",
    "rocket launch": "IMG_0003.jpg",
    "horse": "IMG_0004.jpg",
    "camera on a tripod": "IMG_0005.jpg",
}


def main() -> int:
    chronicon = str(Path(sys.executable).with_name("chronicon"))
    failures = 0
    for query, expected in EXPECTED.items():
        out = subprocess.run(
            [chronicon, "search", query, "--limit", "3", "--json"], capture_output=True, text=True, env=os.environ
        )
        if out.returncode != 0:
            print(f"FAIL {query!r}: exit {out.returncode}: {out.stderr.strip()}")
            failures += 1
            continue
        results = json.loads(out.stdout)["results"]
        top = Path(results[0]["path"]).name if results else None
        ok = top == expected
        failures += not ok
        why = "; ".join(results[0]["why"]) if results else ""
        print(f"{'ok  ' if ok else 'FAIL'} {query!r:24} -> {top} (expected {expected}) {why}")
    print(f"{len(EXPECTED) - failures}/{len(EXPECTED)} searches found the right photo first")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
