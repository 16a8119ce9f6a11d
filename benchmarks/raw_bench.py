"""RAW benchmark: the scan cost of a camera RAW file against a JPEG of the same picture, in the same run.

Writes N DNGs from the real photos scikit-image ships, upscaled to about `--megapixels` (12 by default): the Bayer
mosaic LibRaw reads, a full-size JPEG preview in IFD0 (as Canon, Nikon and Sony cameras embed one) and EXIF; and
N JPEGs that are that same preview with the same EXIF. Each library is scanned into a fresh catalog with the
passes of `--passes` (default: the cheap built-ins, metadata + xmp + raw_pairs + content), `--repeat` times, in
turn, after one warm-up scan (models loaded and cached); the best time of each counts. Also scans a few DNGs
with no preview (`--demosaic`), the fallback path.
Prints one JSON object; the goal is `ratio` <= 2 (a RAW costs at most twice its JPEG when its preview is large
enough).

    python benchmarks/raw_bench.py --files 8 --megapixels 12
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from PIL import Image

from chronicon.library import Library
from rawfactory import make_dng, real_photo, write_exif

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "horse", "camera", "coins", "immunohistochemistry")
CHEAP_PASSES = ("metadata", "xmp", "raw_pairs", "content")
ALL_PASSES = ("metadata", "xmp", "raw_pairs", "content", "shots", "tags", "clip", "transcribe", "caption", "ocr",
              "summarize")  # fmt: skip


def _size(megapixels: float) -> tuple[int, int]:
    height = int((megapixels * 1e6 / 1.5) ** 0.5) // 2 * 2
    return int(height * 1.5) // 2 * 2, height


def _exif(i: int) -> dict[str, str]:
    return {
        "Exif.Image.Make": "Chronicon",
        "Exif.Image.Model": "Bench",
        "Exif.Photo.DateTimeOriginal": f"2024:05:06 07:{i // 60 % 60:02d}:{i % 60:02d}",
        "Exif.Photo.FNumber": "28/10",
        "Exif.Photo.ISOSpeedRatings": "400",
        "Exif.Photo.ExposureTime": "1/250",
        "Exif.Photo.FocalLength": "50/1",
    }


def generate(work: Path, files: int, megapixels: float, demosaic: int) -> dict[str, Path]:
    size = _size(megapixels)
    libraries = {name: work / name for name in ("raw", "jpeg", "demosaic")}
    for folder in libraries.values():
        folder.mkdir(parents=True)
    for i in range(max(files, demosaic)):
        photo = real_photo(PHOTOS[i % len(PHOTOS)], size)
        if i // len(PHOTOS):  # more files than photos: mirror, so no two files are the same picture
            photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if i < files:
            make_dng(libraries["raw"] / f"IMG_{i:04d}.dng", photo, preview="full", taken_at=None, exif=_exif(i))
            jpeg = libraries["jpeg"] / f"IMG_{i:04d}.jpg"
            buf = io.BytesIO()
            photo.save(buf, "JPEG", quality=90)  # what make_dng embeds as the preview
            jpeg.write_bytes(buf.getvalue())
            write_exif(jpeg, _exif(i))
        if i < demosaic:
            make_dng(libraries["demosaic"] / f"IMG_{i:04d}.dng", photo, preview=None, taken_at=None, exif=_exif(i))
    return libraries


def scan_once(folder: Path, catalog: Path, passes: tuple[str, ...]) -> dict[str, Any]:
    if catalog.exists():
        shutil.rmtree(catalog)
    overrides: dict[str, Any] = {f"{name}.enabled": name in passes for name in ALL_PASSES}
    # One model cache for every scan (ONNX exports, label embeddings), so no scan pays for making it.
    overrides["model_cache"] = str(catalog.parent / "models")
    library = Library(catalog, overrides=overrides, environ={}, entry_points=False)
    t0 = time.perf_counter()
    summary = library.scan([folder])
    seconds = time.perf_counter() - t0
    if summary.failed:
        raise SystemExit(f"{folder.name}: {summary.failed} files failed: {summary.failures}")
    timings = {name: round(t.seconds, 3) for name, t in summary.timings.items()} if summary.timings else {}
    return {"seconds": seconds, "files": summary.counts["new"], "pass_seconds": timings}


def _folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.iterdir()) / len(list(folder.iterdir())) / 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8, help="DNGs and JPEGs each (default 8)")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--passes", default=",".join(CHEAP_PASSES), help="passes to run, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="scans of each library; the best counts")
    parser.add_argument("--demosaic", type=int, default=2, help="DNGs without a preview, scanned once (0: none)")
    parser.add_argument("--workdir", default=None, help="where to write the libraries (default: a temp folder)")
    args = parser.parse_args()
    passes = tuple(p.strip() for p in args.passes.split(",") if p.strip())
    unknown = sorted(set(passes) - set(ALL_PASSES))
    if unknown:
        parser.error(f"unknown passes {unknown}; choose from {', '.join(ALL_PASSES)}")
    work = Path(tempfile.mkdtemp(prefix="raw-bench-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        libraries = generate(work, args.files, args.megapixels, args.demosaic)
        generated = time.perf_counter() - t0
        scan_once(libraries["jpeg"], work / "catalog-warmup", passes)  # loads and caches the models once
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for name in ("jpeg", "raw"):  # in turn, so drift on the machine hits both alike
                run = scan_once(libraries[name], work / f"catalog-{name}", passes)
                if name not in best or run["seconds"] < best[name]["seconds"]:
                    best[name] = run
        per_file = {name: best[name]["seconds"] / max(1, best[name]["files"]) for name in best}
        result: dict[str, Any] = {
            "files": args.files,
            "size": "x".join(map(str, _size(args.megapixels))),
            "passes": list(passes),
            "cpu_count": os.cpu_count(),
            "generate_seconds": round(generated, 1),
            "mb_per_file": {name: _folder_mb(libraries[name]) for name in ("jpeg", "raw")},
            "jpeg_seconds_per_file": round(per_file["jpeg"], 4),
            "raw_seconds_per_file": round(per_file["raw"], 4),
            "ratio": round(per_file["raw"] / per_file["jpeg"], 2),
            "goal": "ratio <= 2",
            "pass_seconds": {name: best[name]["pass_seconds"] for name in best},
        }
        if args.demosaic:
            run = scan_once(libraries["demosaic"], work / "catalog-demosaic", passes)
            result["demosaic_seconds_per_file"] = round(run["seconds"] / max(1, run["files"]), 4)
            result["demosaic_ratio"] = round(result["demosaic_seconds_per_file"] / per_file["jpeg"], 2)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
