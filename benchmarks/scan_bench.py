"""Scan benchmark: first-scan files/s per pass on a generated library, and unchanged-rescan time.

Prints one JSON object. Two parts:

1. **first scan**: N generated photos (small JPEGs with EXIF, each different) and a few videos, scanned from
   an empty catalog; then an unchanged rescan of the same library.
2. **unchanged rescan at scale** (`--rescan-files`): that many tiny files on disk with matching catalog rows
   written directly (running real passes over 100k files would take long on 2 cores and measures nothing
   new); the rescan then does exactly what a nightly run over an unchanged library does: walk, stat, read
   the catalog's diff columns, compare, write nothing. Its time is reported next to a baseline of a bare
   `os.walk` + `os.stat` of the same tree measured in the same run, since machines are noisy.

    python benchmarks/scan_bench.py --photos 20000 --videos 5 --rescan-files 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from chronicon.analyzers.graph import pass_signature
from chronicon.catalog.schema import empty_row
from chronicon.library import Library
from chronicon.types import MediaKind
from mediafactory import make_jpeg, make_mp4

# What this benchmark measures: discovery, the diff and the metadata and content passes. The ML passes have
# their own benchmarks (embed_bench, video_bench, detect_bench); here they would only load models.
PASSES = {"tags.enabled": False, "clip.enabled": False, "transcribe.enabled": False, "caption.enabled": False}


def generate_library(root: Path, photos: int, videos: int) -> None:
    for i in range(photos):
        folder = root / f"{2000 + i % 20}" / f"{i % 12 + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        make_jpeg(
            folder / f"IMG_{i:06d}.jpg",
            size=(160 + i % 32, 120),
            color=((i * 37) % 256, (i * 91) % 256, (i * 53) % 256),
            gps=(48.0 + (i % 100) / 100, 11.0 + (i % 77) / 100, 500.0) if i % 3 else None,
        )
    for i in range(videos):
        (root / "videos").mkdir(parents=True, exist_ok=True)
        make_mp4(root / "videos" / f"clip{i}.mp4", seconds=3.0, fps=24, size=(320, 240), cuts=[1.0, 2.0])


def first_scan(work: Path, photos: int, videos: int) -> dict[str, Any]:
    root = work / "library"
    t0 = time.perf_counter()
    generate_library(root, photos, videos)
    generated = time.perf_counter() - t0
    lib = Library(work / "catalog", overrides=PASSES, environ={}, entry_points=False)
    summary = lib.scan([str(root)])
    rescan = Library(work / "catalog", overrides=PASSES, environ={}, entry_points=False).scan([str(root)])
    files = photos + videos
    return {
        "files": files,
        "generate_seconds": round(generated, 2),
        "first_scan_seconds": round(summary.seconds, 2),
        "first_scan_files_per_second": round(files / summary.seconds, 1),
        "failed": summary.failed,
        "passes": {
            name: {
                "items": t.items,
                "cpu_seconds_all_workers": round(t.seconds, 2),
                "items_per_second_per_worker": round(t.per_second, 1),
            }
            for name, t in summary.timings.items()
        },
        "workers": lib.config["scan.workers"] or os.cpu_count(),
        "unchanged_rescan_seconds": round(rescan.seconds, 3),
        "unchanged_rescan_counts": rescan.counts,
    }


def synthetic_rescan(work: Path, files: int) -> dict[str, Any]:
    root = work / "big"
    catalog_dir = work / "big-catalog"
    lib = Library(catalog_dir, overrides=PASSES, environ={}, entry_points=False)
    signature = pass_signature(lib.analyzers(), MediaKind.IMAGE)
    catalog = lib.catalog
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i in range(files):
        folder = root / f"{i // 50000:02d}" / f"{(i // 500) % 100:03d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{i:07d}.jpg"
        path.write_bytes(b"\xff\xd8\xff" + i.to_bytes(8, "little"))
        st = path.stat()
        row = empty_row(catalog.schema)
        row.update(
            id=uuid.uuid4().hex,
            path=str(path),
            root=str(root),
            kind="image",
            format="jpeg",
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            content_hash=f"f:{i:032x}",
            status="ok",
            phases="{}",
            pass_signature=signature,
            missing=False,
            first_seen=now,
            updated_at=now,
        )
        rows.append(row)
        if len(rows) == 20000:
            catalog.upsert(rows)
            rows = []
    catalog.upsert(rows)
    catalog.compact()
    prepared = time.perf_counter() - t0

    # Baseline: the cheapest possible look at every file.
    t0 = time.perf_counter()
    seen = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))
            seen += 1
    baseline = time.perf_counter() - t0

    runs = []
    for _ in range(3):
        summary = Library(catalog_dir, overrides=PASSES, environ={}, entry_points=False).scan([str(root)])
        runs.append(summary)
    best = min(runs, key=lambda s: s.seconds)
    return {
        "files": files,
        "prepare_seconds": round(prepared, 1),
        "walk_stat_baseline_seconds": round(baseline, 3),
        "rescan_seconds_runs": [round(s.seconds, 3) for s in runs],
        "rescan_seconds_best": round(best.seconds, 3),
        "rescan_discover_seconds": round(best.discover_seconds, 3),
        "ratio_to_walk_stat_baseline": round(best.seconds / baseline, 2) if baseline else None,
        "unchanged": best.counts["unchanged"],
        "wrote_nothing": all(s.batches == 0 for s in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=20000)
    parser.add_argument("--videos", type=int, default=5)
    parser.add_argument("--rescan-files", type=int, default=100000)
    parser.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="chronicon-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result: dict[str, Any] = {"cpu_count": os.cpu_count()}
        if args.photos or args.videos:
            result["first_scan"] = first_scan(work, args.photos, args.videos)
        if args.rescan_files:
            result["unchanged_rescan"] = synthetic_rescan(work, args.rescan_files)
        print(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
