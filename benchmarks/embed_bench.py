"""Embedding benchmark: images/s of the open_clip ViT-B-32 image tower through each CPU backend of the runtime.

Random weights (no download), real input size (224x224). In one run it measures:

1. the baseline: a naive per-image loop, eager fp32, batch 1, torch's default threads;
2. `chronicon.runtime.prepare_model` with each CPU backend available here (eager, amp bf16, compile fp32 and
   bf16, onnxruntime fp32 and int8, openvino when installed) at the chosen batch size, and each one's lowest
   cosine to the eager fp32 embeddings;
3. the model's FLOPs per image (torch.utils.flop_counter) and this machine's measured torch.matmul throughput
   in fp32 and bf16 (2048x2048), so each backend's achieved GFLOP/s can be read against the hardware.

Goals printed with the table: >= 3x the naive loop, and >= 50% of the measured bf16 matmul throughput.
Each timing is the best of `--repeats` passes over the images (machines shared with other work are noisy).

    python benchmarks/embed_bench.py                 # 64 images, batch 32
    python benchmarks/embed_bench.py --quick --json  # 16 images, no torch.compile
    python benchmarks/embed_bench.py --int8          # eager fp32, amp bf16, onnxruntime fp32/int8 on real
                                                     # photos, and what the automatic choice measures and keeps
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chronicon.runtime import backend_available, bf16_supported_on_cpu, prepare_model

GOAL_SPEEDUP = 3.0
GOAL_BF16_PEAK = 0.5


class ImageEncoder(torch.nn.Module):
    """open_clip's encode_image followed by L2 normalisation: what the semantic-search pass stores."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.visual = clip.visual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(x), dim=-1)


def build_encoder() -> torch.nn.Module:
    import open_clip

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that no pretrained weights were loaded
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32")
    return ImageEncoder(model).eval()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def flops_per_image(model: torch.nn.Module) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.randn(1, 3, 224, 224))
    return float(counter.get_total_flops())


def time_naive(model: torch.nn.Module, images: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    """Per-image eager fp32 loop: seconds for all images (best pass) and the embeddings."""
    outs: list[np.ndarray] = []
    best = float("inf")
    with torch.inference_mode():
        model(torch.from_numpy(images[:1]))  # warm-up
        for _ in range(repeats):
            outs = []
            start = time.perf_counter()
            for i in range(len(images)):
                outs.append(model(torch.from_numpy(images[i : i + 1])).numpy())
            best = min(best, time.perf_counter() - start)
    return best, np.concatenate(outs)


def real_photos(count: int) -> np.ndarray | None:
    """scikit-image's sample photos, CLIP-preprocessed to 224x224 and repeated up to `count` (None without it)."""
    try:
        from skimage import data
    except ImportError:
        return None
    from PIL import Image

    from chronicon.analyzers.inputs import center_crop_array

    mean = np.array((0.48145466, 0.4578275, 0.40821073), dtype=np.float32)
    std = np.array((0.26862954, 0.26130258, 0.27577711), dtype=np.float32)
    names = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
    arrays = []
    for name in names:
        try:
            image = getattr(data, name)()
        except Exception:  # a sample that would need a download
            continue
        crop = center_crop_array(Image.fromarray(np.asarray(image)[..., :3]), 224).astype(np.float32) / 255.0
        arrays.append(((crop - mean) / std).transpose(2, 0, 1))
    if not arrays:
        return None
    return np.ascontiguousarray(np.resize(np.stack(arrays), (count, 3, 224, 224)), dtype=np.float32)


def min_cosine(out: np.ndarray, ref: np.ndarray) -> float:
    dots = (out * ref).sum(axis=1)
    return float((dots / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1))).min())


def time_runner(run: Any, images: np.ndarray, batch: int, repeats: int) -> tuple[float, np.ndarray]:
    outs: list[np.ndarray] = []
    best = float("inf")
    for _ in range(repeats):
        outs = []
        start = time.perf_counter()
        for i in range(0, len(images), batch):
            outs.append(run(images[i : i + batch]))
        best = min(best, time.perf_counter() - start)
    return best, np.concatenate(outs)


def variants(quick: bool, int8: bool = False) -> list[tuple[str, str, str]]:
    """(label, backend, precision) to measure, restricted to what runs here."""
    wanted = [
        ("eager fp32", "eager", "fp32"),
        ("amp bf16", "amp", "bf16"),
        ("compile fp32", "compile", "fp32"),
        ("compile bf16", "compile", "bf16"),
        ("onnxruntime fp32", "onnxruntime", "fp32"),
        ("onnxruntime int8", "onnxruntime", "int8"),
        ("openvino bf16", "openvino", "bf16"),
    ]
    out = []
    for label, backend, precision in wanted:
        if (quick or int8) and backend == "compile":
            continue
        if int8 and backend == "openvino":
            continue
        if precision == "bf16" and not bf16_supported_on_cpu():
            label, precision = label.replace("bf16", "fp32"), "fp32"
            if backend == "amp":
                continue
        if backend_available(backend, "cpu")[0]:
            out.append((label, backend, precision))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=64, help="images per timed pass (default 64)")
    parser.add_argument("--batch", type=int, default=32, help="batch size for the runtime backends (default 32)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per backend; the best counts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for the runner (0 = default)")
    parser.add_argument("--quick", action="store_true", help="16 images, batch 8, one pass, no torch.compile")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="eager fp32, amp bf16, onnxruntime fp32 and int8 only, on real photos; then the automatic choice",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.batch, args.repeats = min(args.images, 16), min(args.batch, 8), 1

    rng = np.random.default_rng(0)
    photos = real_photos(args.images) if args.int8 else None
    images = photos if photos is not None else rng.standard_normal((args.images, 3, 224, 224), dtype=np.float32)
    base_model = build_encoder()
    flops = flops_per_image(base_model)
    peak32 = matmul_gflops(torch.float32)
    # without native bf16 a bf16 matmul is emulated (well under 1 GFLOP/s: minutes for nothing): fp32 stands in
    peak16 = matmul_gflops(torch.bfloat16) if bf16_supported_on_cpu() else peak32

    naive_s, reference = time_naive(copy.deepcopy(base_model), images, args.repeats)
    naive_ips = args.images / naive_s
    rows: list[dict[str, Any]] = [
        {
            "backend": "naive loop (eager fp32, batch 1)",
            "used": "eager",
            "precision": "fp32",
            "batch": 1,
            "setup_s": 0.0,
            "images_per_s": naive_ips,
            "max_abs_diff": 0.0,
            "min_cosine": 1.0,
        }
    ]
    decision = ""
    with tempfile.TemporaryDirectory(prefix="embed-bench-") as cache:
        for label, backend, precision in variants(args.quick, args.int8):
            model = copy.deepcopy(base_model)
            start = time.perf_counter()
            run = prepare_model(
                model,
                name="vit-b-32-visual",
                fingerprint="random-seed0",
                example=images[: args.batch],
                device="cpu",
                backend=backend,
                precision=precision,
                cache_dir=Path(cache),
                threads=args.threads,
            )
            run(images[: args.batch])  # first call: compilation / warm-up
            setup = time.perf_counter() - start
            seconds, out = time_runner(run, images, args.batch, args.repeats)
            rows.append(
                {
                    "backend": label,
                    "used": run.backend,
                    "precision": run.precision,
                    "batch": args.batch,
                    "setup_s": setup,
                    "images_per_s": args.images / seconds,
                    "max_abs_diff": float(np.abs(out - reference).max()),
                    "min_cosine": min_cosine(out, reference),
                }
            )
            del run, model
        if args.int8 and backend_available("onnxruntime", "cpu")[0]:
            # what a pass with backend and precision 'auto' does: its automatic choice, int8 measured against it
            from chronicon.runtime.backends import auto_backend

            auto = auto_backend("cpu")
            run = prepare_model(
                copy.deepcopy(base_model),
                name="vit-b-32-visual",
                fingerprint="random-seed0",
                example=images[:1],
                device="cpu",
                backend=auto,
                precision="auto",
                cache_dir=Path(cache),
                threads=args.threads,
                alternatives=[("onnxruntime", "int8")],
                batch_size=args.batch,
            )
            run(images[: args.batch])
            decision = f"{run.backend} {run.precision}; " + "; ".join(run.notes)
            del run
    for row in rows:
        gflops = row["images_per_s"] * flops / 1e9
        row.update(
            speedup=row["images_per_s"] / naive_ips,
            gflops=gflops,
            pct_fp32_peak=100 * gflops / peak32,
            pct_bf16_peak=100 * gflops / peak16,
        )
    best = max(rows[1:], key=lambda r: r["images_per_s"], default=rows[0])
    result = {
        "model": "open_clip ViT-B-32 image tower (random weights), 224x224, L2-normalised output",
        "machine": {
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "bf16_on_cpu": bf16_supported_on_cpu(),
        },
        "images": args.images,
        "gflop_per_image": flops / 1e9,
        "matmul_gflops": {"fp32": peak32, "bf16": peak16 if bf16_supported_on_cpu() else None},
        "rows": rows,
        "goals": {
            "speedup_vs_naive": {"goal": GOAL_SPEEDUP, "best": best["speedup"], "met": best["speedup"] >= GOAL_SPEEDUP},
            "fraction_of_bf16_matmul": {
                "goal": GOAL_BF16_PEAK,
                "best": best["pct_bf16_peak"] / 100,
                "met": best["pct_bf16_peak"] / 100 >= GOAL_BF16_PEAK,
            },
        },
        "best": best["backend"],
        "inputs": "scikit-image sample photos" if photos is not None else "standard normal noise",
    }
    if decision:
        result["automatic_choice"] = decision
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['model']}; {args.images} images; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"CPU {result['machine']['cpu']}; inputs: {result['inputs']}")
    bf16_peak = f"{peak16:.0f} GFLOP/s" if bf16_supported_on_cpu() else "n/a (no native bf16: %bf16 pk uses fp32)"
    print(f"{flops / 1e9:.2f} GFLOP/image; matmul 2048x2048: fp32 {peak32:.0f} GFLOP/s, bf16 {bf16_peak}")
    header = f"{'backend':<34} {'used':<16} {'batch':>5} {'setup s':>8} {'img/s':>7} {'x base':>7}"
    header += f" {'GFLOP/s':>8} {'%fp32 pk':>8} {'%bf16 pk':>8} {'max|diff|':>9} {'min cos':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        used = f"{r['used']}/{r['precision']}"
        print(
            f"{r['backend']:<34} {used:<16} {r['batch']:>5} {r['setup_s']:>8.1f} {r['images_per_s']:>7.2f}"
            f" {r['speedup']:>6.2f}x {r['gflops']:>8.1f} {r['pct_fp32_peak']:>7.0f}% {r['pct_bf16_peak']:>7.0f}%"
            f" {r['max_abs_diff']:>9.1e} {r['min_cosine']:>8.5f}"
        )
    for name, goal in result["goals"].items():
        shown = f"{goal['best']:.2f}x" if name == "speedup_vs_naive" else f"{100 * goal['best']:.0f}%"
        wanted = f"{goal['goal']:.0f}x" if name == "speedup_vs_naive" else f"{100 * goal['goal']:.0f}%"
        print(f"goal {name}: >= {wanted}; best ({best['backend']}) {shown}: {'MET' if goal['met'] else 'NOT MET'}")
    if decision:
        print(f"automatic choice (backend and precision auto, int8 measured at batch {args.batch}): {decision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
