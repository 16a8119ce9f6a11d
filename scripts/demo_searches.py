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
    # a phrase printed on the page (read by the ocr pass; no class name or label says it)
    "markers of the coins and the background": "IMG_0009.jpg",
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
    plugin_failures = check_plugins(chronicon)
    return 1 if failures or video_failures or plugin_failures else 0


def _json(chronicon: str, *args: str) -> object:
    out = subprocess.run([chronicon, *args, "--json"], capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        print(f"FAIL chronicon {' '.join(args)}: exit {out.returncode}: {out.stderr.strip()[-300:]}")
        return None
    return json.loads(out.stdout)


def check_plugins(chronicon: str) -> int:
    """The bundled plugins on the sample library: an album, the portrait's person, the shared copy of a photo."""
    failures = 0
    album = _json(chronicon, "album", "show", "Cats")
    items = album.get("items", []) if isinstance(album, dict) else []
    names = [Path(i["path"]).name for i in items]
    ok = bool(names) and names[0] in ("IMG_0001.jpg", "VID_0001.mp4") and "IMG_0001.jpg" in names
    video = next((i for i in items if Path(i["path"]).name == "VID_0001.mp4"), None)
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} album 'Cats' holds {names[:3]} (expected the cat photo and the clip at 3 s: "
          f"{video and video.get('t_start')} s)")  # fmt: skip
    people = _json(chronicon, "people", "list")
    found = people.get("people", []) if isinstance(people, dict) else people if isinstance(people, list) else []
    ok = len(found) >= 1
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} people: {len(found)} found (expected the astronaut's portrait, IMG_0006.jpg)")
    groups = _json(chronicon, "duplicates")
    listed = groups.get("groups", []) if isinstance(groups, dict) else []
    members = [[Path(m["path"]).name for m in g.get("members", [])] for g in listed]
    ok = any(g[:1] == ["IMG_0008.jpg"] and "IMG_0008-shared.jpg" in g for g in members)
    ok = ok and not any({"IMG_0001.jpg", "IMG_0001.dng"} <= set(g) for g in members)  # one stack, not duplicates
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} duplicates: {members} (expected the moon photo first, then its shared copy; "
          "not the RAW + JPEG pair)")  # fmt: skip
    cats = _json(chronicon, "search", "a cat", "--kind", "image", "--all")
    hits = cats.get("results", []) if isinstance(cats, dict) else []
    shown = [Path(h["path"]).name for h in hits]
    stack = hits[0].get("stack") if hits else None
    ok = shown[:1] == ["IMG_0001.jpg"] and "IMG_0001.dng" not in shown and bool(stack) and stack["kind"] == "raw-pair"
    failures += not ok
    print(
        f"{'ok  ' if ok else 'FAIL'} stacks: 'a cat' -> {shown[:2]}, {stack and stack['label']} of "
        f"{stack and stack['size']} (expected the JPEG once, its RAW IMG_0001.dng behind it)"
    )
    return failures


if __name__ == "__main__":
    sys.exit(main())
