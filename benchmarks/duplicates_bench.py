"""Near-duplicate candidate search: multi-index hashing on 100k random pHashes with planted near-duplicates, against
brute force (every pair) on a 10k subset, and the recall of the planted pairs; then the cosine-only pairs (blocked
NumPy top-k over segment-0 vectors) against one vector-table search per asset.

    .venv/bin/python benchmarks/duplicates_bench.py [--n 100000] [--subset 10000] [--distance 8]
        [--vectors 100000] [--dim 512] [--search-subset 2000] [--json]

The brute-force time for all n is extrapolated from the subset (it grows with n²); the speed-up is that
extrapolation divided by the multi-index time. The subset is also searched both ways and the pair sets compared.
The per-asset searches (the old way) run on `--search-subset` vectors in a temporary LanceDB table and are
extrapolated linearly (each search is exact over the table, so this understates the n² growth).
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

from chronicon_duplicates.grouping import Vectors, cosine_pairs  # noqa: E402
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


def planted_vectors(n: int, dim: int, seed: int) -> np.ndarray[Any, Any]:
    """n random unit vectors (float32); a tenth of them near copies of another (cosine about 0.99)."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    sources, targets = rng.integers(0, n, size=n // 10), rng.integers(0, n, size=n // 10)
    matrix[targets] = matrix[sources] + 0.1 * rng.standard_normal((len(targets), dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def cosine_report(n: int, dim: int, search_subset: int) -> dict[str, Any]:
    """Blocked top-k cosine pairs on n vectors; per-asset vector-table searches on a subset, extrapolated."""
    import tempfile

    import lancedb

    from chronicon.catalog.vectors import VectorRow, VectorTable

    matrix = planted_vectors(n, dim, seed=1)
    vectors = Vectors([f"a{i:07d}" for i in range(n)], matrix)
    start = time.perf_counter()
    pairs = cosine_pairs(vectors, 10, 0.97)
    blocked_s = time.perf_counter() - start
    m = min(search_subset, n)
    with tempfile.TemporaryDirectory() as folder:
        table = VectorTable(lancedb.connect(folder), "bench-pixels", dim)
        table.replace([VectorRow(vectors.ids[i], matrix[i]) for i in range(m)])
        allowed = set(vectors.ids[:m])
        table.load()
        start = time.perf_counter()
        for i in range(m):
            table.search(matrix[i], k=11, asset_ids=allowed, min_score=0.97)
        search_s = time.perf_counter() - start
    sub = Vectors(vectors.ids[:m], matrix[:m])
    start = time.perf_counter()
    cosine_pairs(sub, 10, 0.97)
    blocked_sub_s = time.perf_counter() - start
    return {
        "vectors": n,
        "dim": dim,
        "blocked_seconds": round(blocked_s, 2),
        "cosine_pairs": len(pairs),
        "search_subset": m,
        "subset_per_asset_search_seconds": round(search_s, 2),
        "subset_blocked_seconds": round(blocked_sub_s, 3),
        "per_asset_search_seconds_extrapolated": round(search_s * (n / m) ** 2, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--planted", type=int, default=1_000, help="near-duplicate pairs planted")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors for the cosine-only pairs (0: skip)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--search-subset", type=int, default=2_000)
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
    if args.vectors:
        report["cosine"] = cosine_report(args.vectors, args.dim, args.search_subset)
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
    if args.vectors:
        c = report["cosine"]
        print(
            f"  cosine-only pairs, {c['vectors']:,} x {c['dim']}-d: blocked top-k {c['blocked_seconds']:.1f} s "
            f"({c['cosine_pairs']:,} pairs); one table search per asset on {c['search_subset']:,}: "
            f"{c['subset_per_asset_search_seconds']:.1f} s (blocked {c['subset_blocked_seconds']:.2f} s), "
            f"about {c['per_asset_search_seconds_extrapolated']:,.0f} s extrapolated to all"
        )


if __name__ == "__main__":
    main()
