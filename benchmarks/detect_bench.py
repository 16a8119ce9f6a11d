"""Detector and captioner speed: images/s per available detector backend against a per-image baseline, and the
captioner's seconds per item and tokens/s.

In one run, on real photos that scikit-image ships (resized copies, cycled to `--images`):
- the offline SSD-MobileNet COCO detector (OpenCV dnn): one image per call (baseline) vs batches;
- YOLO (ultralytics, yolov8n built from its yaml with random weights: speed only) per image vs batched;
- the captioner on a tiny random SmolVLM (the real transformers code path; real VLM weights are not reachable
  here, so caption quality is not measured and the speed is that of a toy model).

    .venv/bin/python benchmarks/detect_bench.py [--images 32] [--batch 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def photos(n: int) -> list[Image.Image]:
    from skimage import data

    names = ["chelsea", "coffee", "astronaut", "rocket", "horse", "camera", "coins", "moon"]
    out = []
    for name in names:
        pixels = getattr(data, name)()
        if pixels.dtype != np.uint8:
            pixels = (pixels * 255).astype(np.uint8)
        out.append(Image.fromarray(pixels).convert("RGB"))
    return [out[i % len(out)] for i in range(n)]


def rate(fn: Any, items: list[Any], batch: int) -> float:
    fn(items[:batch])  # warm-up
    t0 = time.perf_counter()
    for start in range(0, len(items), batch):
        fn(items[start : start + batch])
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from chronicon.analyzers.inputs import square_array
    from chronicon.embed.detector import CocoDetector

    images = photos(args.images)
    rows: list[dict[str, Any]] = []
    ssd = CocoDetector()
    arrays = [square_array(im, 300) for im in images]
    base = rate(lambda chunk: ssd.detect(chunk, 0.5), arrays, 1)
    rows.append({"detector": "ssd-mobilenet (opencv dnn)", "batch": 1, "images_per_s": round(base, 2), "x": 1.0})
    batched = rate(lambda chunk: ssd.detect(chunk, 0.5, batched=True), arrays, args.batch)
    rows.append({"detector": "ssd-mobilenet (opencv dnn)", "batch": args.batch, "images_per_s": round(batched, 2),
                 "x": round(batched / base, 2)})  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="chronicon-detect-bench-"))
    try:
        try:
            from ultralytics import YOLO

            from chronicon.embed.yolo import YoloDetector

            weights = tmp / "yolov8n-random.pt"
            YOLO("yolov8n.yaml").save(str(weights))
            yolo = YoloDetector(str(weights), device="cpu", imgsz=640)
            inputs = [yolo.prepare(im) for im in images]
            y1 = rate(lambda chunk: yolo.detect(chunk, 0.25), inputs, 1)
            yb = rate(
                lambda chunk: yolo.model.predict(chunk, conf=0.25, imgsz=640, device="cpu", verbose=False),
                inputs,
                args.batch,
            )
            rows.append({"detector": "yolov8n (ultralytics, eager)", "batch": 1, "images_per_s": round(y1, 2),
                         "x": round(y1 / base, 2)})  # fmt: skip
            rows.append({"detector": "yolov8n (ultralytics, eager)", "batch": args.batch,
                         "images_per_s": round(yb, 2), "x": round(yb / base, 2)})  # fmt: skip
        except ImportError:
            rows.append({"detector": "yolov8n", "skipped": "ultralytics is not installed"})
        caption: dict[str, Any]
        try:
            from chronicon.embed.captioner import Captioner
            from vlmfactory import make_tiny_vlm

            folder = make_tiny_vlm(tmp / "tiny-vlm")
            model = Captioner(str(folder), device="cpu", max_new_tokens=16)
            few = images[: min(8, len(images))]
            model.caption(few[:2])
            t0 = time.perf_counter()
            texts = model.caption(few, batch_size=4)
            seconds = time.perf_counter() - t0
            tokens = sum(len(model.processor.tokenizer(t)["input_ids"]) for t in texts)
            caption = {
                "model": "tiny random SmolVLM (toy size)",
                "items": len(few),
                "seconds_per_item": round(seconds / len(few), 4),
                "tokens_per_s": round(tokens / seconds, 1),
                "load_s": round(model.info.load_seconds, 2),
                "note": "real VLM weights are not reachable here: quality unmeasured, speed of a toy model",
            }
        except ImportError as exc:
            caption = {"skipped": str(exc)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {"images": args.images, "detectors": rows, "captioner": caption}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.images} real photos (scikit-image), CPU, 2 threads")
    print(f"{'detector':34} {'batch':>5} {'images/s':>9} {'x base':>7}")
    for r in rows:
        if "skipped" in r:
            print(f"{r['detector']:34} skipped: {r['skipped']}")
        else:
            print(f"{r['detector']:34} {r['batch']:>5} {r['images_per_s']:>9} {r['x']:>6}x")
    if "skipped" in caption:
        print(f"captioner: skipped ({caption['skipped']})")
    else:
        print(f"captioner ({caption['model']}): {caption['seconds_per_item']} s/item, {caption['tokens_per_s']} "
              f"tokens/s; {caption['note']}")  # fmt: skip


if __name__ == "__main__":
    main()
