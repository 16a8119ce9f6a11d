"""Near-duplicate candidate search: multi-index hashing on 100k random pHashes with planted near-duplicates, against
brute force (every pair) on a 10k subset, and the recall of the planted pairs.

    .venv/bin/python benchmarks/duplicates_bench.py [--n 100000] [--subset 10000] [--distance 8] [--json]

The brute-force time for all n is extrapolated from the subset (it grows with n²); the speed-up is that
extrapolation divided by the multi-index time. The subset is also searched both ways and the pair sets compared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "plugins"))

from chronicon_duplicates.mih import brute_force_pairs, near_pairs, pair_set, plan_for  # noqa: E402


def planted(n: int, pairs: int, distance: int, seed: int) -> tuple[np.ndarray[Any, Any], set[tuple[int, int]]]:
    """n random 64-bit hashes; `pairs` of them are copies of another with 0..distance bits flipped."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    slots = rng.permutation(n)[: 2 * pairs].reshape(pairs, 2)
    truth: set[tuple[int, int]] = set()
    for source, target in slots.tolist():
        value = int(hashes[source])
        for bit in rng.choice(64, size=int(rng.integers(0, distance + 1)), replace=False):
            value ^= 1 << int(bit)
        hashes[target] = np.uint64(value)
        truth.add((min(source, target), max(source, target)))
    return hashes, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--planted", type=int, default=1_000, help="near-duplicate pairs planted")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    hashes, truth = planted(args.n, args.planted, args.distance, seed=0)
    start = time.perf_counter()
    found = near_pairs(hashes, args.distance)
    mih_s = time.perf_counter() - start
    found_set = pair_set(found)
    recall = len(truth & found_set) / len(truth) if truth else 1.0

    sub = hashes[: args.subset]
    start = time.perf_counter()
    brute = brute_force_pairs(sub, args.distance)
    brute_sub_s = time.perf_counter() - start
    start = time.perf_counter()
    fast_sub = near_pairs(sub, args.distance)
    mih_sub_s = time.perf_counter() - start
    brute_full_s = brute_sub_s * (args.n / args.subset) ** 2
    plan = plan_for(args.n, args.distance)
    report = {
        "n": args.n,
        "distance": args.distance,
        "plan": {"bands": list(plan.widths), "radius": plan.radius, "probes_per_hash": plan.probes},
        "mih_seconds": round(mih_s, 3),
        "pairs_found": len(found_set),
        "planted_pairs": len(truth),
        "recall_of_planted": round(recall, 4),
        "subset": args.subset,
        "subset_brute_seconds": round(brute_sub_s, 3),
        "subset_mih_seconds": round(mih_sub_s, 3),
        "subset_same_pairs": pair_set(fast_sub) == pair_set(brute),
        "subset_speedup": round(brute_sub_s / mih_sub_s, 1) if mih_sub_s else None,
        "brute_full_seconds_extrapolated": round(brute_full_s, 1),
        "speedup_full_extrapolated": round(brute_full_s / mih_s, 1) if mih_s else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.n:,} hashes, distance <= {args.distance}: bands {list(plan.widths)}, radius {plan.radius}")
    print(f"  multi-index: {mih_s:.2f} s, {len(found_set):,} pairs, recall of planted pairs {recall:.4f}")
    print(
        f"  brute force on {args.subset:,}: {brute_sub_s:.2f} s (multi-index {mih_sub_s:.2f} s, "
        f"same pairs: {report['subset_same_pairs']})"
    )
    print(
        f"  brute force on all {args.n:,} (extrapolated x{(args.n / args.subset) ** 2:.0f}): {brute_full_s:.0f} s "
        f"-> multi-index is {report['speedup_full_extrapolated']}x faster"
    )


if __name__ == "__main__":
    main()
