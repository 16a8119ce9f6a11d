"""Burst grouping: how far apart the pHash of consecutive burst frames and of different photos are (what the
default `bursts.phash_distance` rests on), how fast one folder's frames are grouped, and what the end-of-scan
regrouping costs on a real catalog.

Frames are made from the real photos scikit-image ships, as a hand-held burst drifts: a 90 % crop moving 1.2 % of
the width and 0.8 % of the height per frame, 8 frames per photo. "Different photos" are all pairs of distinct
photos (`cat` is left out: it is `chelsea` again).

    .venv/bin/python benchmarks/bursts_bench.py [--rows 20000] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chronicon.builtin.burst_groups import Rules, bursts  # noqa: E402
from chronicon.media.imaging import analysis_image, perceptual_hash  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "horse", "camera", "coins", "moon", "hubble_deep_field",
          "immunohistochemistry", "retina", "page", "text", "grass", "gravel", "brick",
          "colorwheel", "logo")  # fmt: skip


def _photos() -> dict[str, Image.Image]:
    import skimage.data

    out = {}
    for name in PHOTOS:
        pixels = getattr(skimage.data, name)()
        if pixels.dtype != np.uint8:
            pixels = (pixels * 255).astype(np.uint8)
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        out[name] = Image.fromarray(pixels).convert("RGB")
    return out


def _hash(image: Image.Image) -> int:
    return int(perceptual_hash(analysis_image(image, 512)), 16)


def _frame(image: Image.Image, k: int) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * 0.012 * k), int(h * 0.008 * k)
    return image.crop((dx, dy, w - int(w * 0.1) + dx, h - int(h * 0.1) + dy))


def distances() -> dict[str, Any]:
    photos = _photos()
    consecutive: dict[str, list[int]] = {}
    for name, image in photos.items():
        hashes = [_hash(_frame(image, k)) for k in range(8)]
        consecutive[name] = [(a ^ b).bit_count() for a, b in itertools.pairwise(hashes)]
    whole = {n: _hash(im) for n, im in photos.items()}
    pairs = sorted(((whole[a] ^ whole[b]).bit_count(), a, b) for a, b in itertools.combinations(whole, 2))
    frames = [d for ds in consecutive.values() for d in ds]
    return {
        "consecutive_max": max(frames),
        "consecutive_mean": round(float(np.mean(frames)), 2),
        "consecutive_max_per_photo": {n: max(ds) for n, ds in consecutive.items()},
        "different_min": pairs[0][0],
        "different_closest": [f"{a}/{b}: {d}" for d, a, b in pairs[:5]],
        "different_median": float(np.median([d for d, _, _ in pairs])),
        "pairs": len(pairs),
    }


def grouping_speed(n: int) -> dict[str, Any]:
    """n frames of one camera in one folder: bursts of 1..12 frames 0.1 s apart, 3 s between bursts."""
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    t = 0.0
    while len(rows) < n:
        base = int(rng.integers(0, 2**63))
        for k in range(int(rng.integers(1, 13))):
            flipped = base ^ (1 << int(rng.integers(0, 64))) if k else base
            rows.append({"id": f"a{len(rows)}", "path": f"/p/IMG_{len(rows):06d}.JPG", "kind": "image",
                         "camera_make": "Apple", "camera_model": "iPhone", "width": 4032, "height": 3024,
                         "phash": f"{flipped:016x}", "sharpness": float(rng.random()), "burst_time": t,
                         "burst_subsec": True})  # fmt: skip
            t += 0.1
        t += 3.0
    start = time.perf_counter()
    found = bursts(rows[:n], Rules())
    seconds = time.perf_counter() - start
    return {"rows": n, "bursts": len(found), "seconds": round(seconds, 3), "rows_per_second": round(n / seconds)}


def regroup_speed(n: int, folders: int = 400) -> dict[str, Any]:
    """`regroup` on a real (temporary) catalog of n photos in `folders` folders: the first grouping (every row
    stale), a scan that changed nothing, and one that touched 10 folders."""
    import tempfile

    from chronicon.builtin.bursts import BurstsPass, regroup
    from chronicon.catalog.schema import empty_row
    from chronicon.catalog.store import Catalog

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"rows": n, "folders": folders}
    with tempfile.TemporaryDirectory() as folder:
        catalog = Catalog(folder, extra_columns=BurstsPass.columns)
        rows = []
        base = 0
        for i in range(n):
            base = int(rng.integers(0, 2**63)) if i % 6 == 0 else base  # bursts of 6 frames, 0.1 s apart
            row = empty_row(catalog.schema)
            row.update(id=f"{i:08d}", path=f"/lib/f{i // max(1, n // folders):04d}/IMG_{i:06d}.JPG", kind="image",
                       missing=False, camera_make="Apple", camera_model="iPhone", width=4032, height=3024,
                       phash=f"{base:016x}", sharpness=float(rng.random()), burst_time=i * (0.1 if i % 6 else 5.0),
                       burst_subsec=True)  # fmt: skip
            rows.append(row)
        catalog.upsert(rows)
        touched = {f"/lib/f{k:04d}/" for k in range(10)}
        for label, given in (("first", set()), ("unchanged", set()), ("ten_folders", touched)):
            start = time.perf_counter()
            found, written = regroup(catalog, Rules(), given)
            out[label] = {"bursts": found, "written": written, "seconds": round(time.perf_counter() - start, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"phash": distances(), "grouping": grouping_speed(args.rows), "catalog": regroup_speed(args.rows)}
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
