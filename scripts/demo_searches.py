"""Run the demo's searches on the sample library and check that each finds the right photo first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# query -> the sample photo it must return first among photos (see REAL_PHOTOS in make_sample_library.py;
# the sample video shows three of them too, and rightly comes first when videos are not filtered out)
EXPECTED = {
    "a cat": "IMG_0001.jpg",
    "a cup of coffee": "IMG_0002.jpg",
    "rocket launch": "IMG_0003.jpg",
    "horse": "IMG_0004.jpg",
    "camera on a tripod": "IMG_0005.jpg",
}
# Searches among videos: query -> (file, where the answer starts in it, seconds). The clip shows the coffee
# photo, then the cat from 3 s, then the rocket from 6 s; the speech starts at 1 s.
VIDEO = {
    "a cat": ("VID_0001.mp4", 3.0),
    "rocket": ("VID_0001.mp4", 6.0),
    "where they say happy birthday": ("VID_0001.mp4", 1.0),
}


def main() -> int:
    chronicon = str(Path(sys.executable).with_name("chronicon"))
    failures = 0
    for query, expected in EXPECTED.items():
        out = subprocess.run(
            [chronicon, "search", query, "--kind", "image", "--limit", "3", "--json"],
            capture_output=True,
            text=True,
            env=os.environ,
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
    video_failures = 0
    for query, (expected, start) in VIDEO.items():
        out = subprocess.run(
            [chronicon, "search", query, "--kind", "video", "--limit", "1", "--json"],
            capture_output=True, text=True, env=os.environ,
        )  # fmt: skip
        results = json.loads(out.stdout)["results"] if out.returncode == 0 else []
        top = results[0] if results else {}
        name, at = Path(top.get("path") or "-").name, top.get("t_start")
        ok = name == expected and at is not None and abs(at - start) <= 1.0
        video_failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {query!r:32} -> {name} @ {at} s (expected {expected} @ {start} s)")
    print(f"{len(VIDEO) - video_failures}/{len(VIDEO)} video searches found the right moment")
    return 1 if failures or video_failures else 0


if __name__ == "__main__":
    sys.exit(main())
