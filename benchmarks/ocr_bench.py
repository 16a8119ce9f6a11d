"""What the ocr pass costs per photo: the gate alone on photos without text, against RapidOCR's full pipeline on
the same pictures (the baseline, same run), and a full read of photos with text.

    .venv/bin/python benchmarks/ocr_bench.py [--repeat 5] [--side 1080] [--json]

Photos: scikit-image's real photos (no text: cat, coffee, rocket, astronaut, camera, coins, moon, horse) and its
printed page, scaled so the shorter side is --side (the pass's `ocr.resize`), as the scan hands them over.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
from PIL import Image

TEXT_FREE = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins", "moon", "horse")
WITH_TEXT = ("page",)


def _picture(name: str, side: int) -> Any:
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.dtype != np.uint8:
        pixels = (pixels * 255).astype(np.uint8)
    image = Image.fromarray(pixels).convert("RGB")
    scale = side / min(image.size)
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale))))


def _ms(fn: Any, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--side", type=int, default=1080)
    parser.add_argument("--gate-side", type=int, default=416)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from chronicon.embed.ocr import TextReader

    reader = TextReader(gate_side=args.gate_side)
    rows: list[dict[str, Any]] = []
    for name in TEXT_FREE + WITH_TEXT:
        rgb = _picture(name, args.side)
        gate = reader.has_text(rgb)
        full = _ms(lambda rgb=rgb: reader.engine(rgb), args.repeat)  # baseline: RapidOCR's whole pipeline
        passed = _ms(lambda rgb=rgb: reader.read(rgb) if reader.has_text(rgb) else [], args.repeat)
        rows.append({"photo": name, "text": name in WITH_TEXT, "gate_says_text": gate,
                     "baseline_ms": round(full, 1), "pass_ms": round(passed, 1)})  # fmt: skip
    free = [r for r in rows if not r["text"]]
    summary = {
        "side": args.side,
        "gate_side": args.gate_side,
        "text_free_pass_ms": round(statistics.median(r["pass_ms"] for r in free), 1),
        "text_free_baseline_ms": round(statistics.median(r["baseline_ms"] for r in free), 1),
        "gate_false_positives": sum(1 for r in free if r["gate_says_text"]),
        "rows": rows,
    }
    summary["speedup"] = round(summary["text_free_baseline_ms"] / max(summary["text_free_pass_ms"], 1e-6), 2)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{'photo':12} {'text':>5} {'gate':>5} {'baseline ms':>12} {'pass ms':>8}")
    for r in rows:
        print(f"{r['photo']:12} {r['text']!s:>5} {r['gate_says_text']!s:>5} {r['baseline_ms']:>12} {r['pass_ms']:>8}")
    print(f"photos without text (median): pass {summary['text_free_pass_ms']} ms, RapidOCR's full pipeline "
          f"{summary['text_free_baseline_ms']} ms ({summary['speedup']}x); gate false positives "
          f"{summary['gate_false_positives']}/{len(free)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
