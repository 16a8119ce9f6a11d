"""Vector search benchmark: plain LanceDB flat search vs Chronicon's cached exact path vs its ANN index path.

Synthetic but clustered data, like real embeddings: `--dim`-d L2-normalised vectors drawn from ~size/500
gaussian clusters (Zipf-sized, each with its own spread and its own low-rank 24-d subspace, plus isotropic
noise, on top of a shared direction), and queries that are perturbed data vectors. Ground truth is numpy.

    .venv/bin/python benchmarks/search_bench.py                    # 100k and 1M (about 15 minutes on 2 cores)
    .venv/bin/python benchmarks/search_bench.py --quick            # 20k only
    .venv/bin/python benchmarks/search_bench.py --sizes 1000000 --sweep --json

Goal (issue): at 1M vectors p50 <= 10 ms, p99 <= 30 ms, recall@10 >= 0.95 on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import lancedb

from chronicon.catalog import vectors as vmod
from chronicon.catalog.vectors import VectorTable, vector_schema

GOAL_P50_MS = 10.0
GOAL_P99_MS = 30.0
GOAL_RECALL = 0.95
K = 10


def make_data(n: int, dim: int, seed: int = 0, rank: int = 24) -> np.ndarray:
    """n clustered unit vectors (see the module docstring)."""
    rng = np.random.default_rng(seed)
    clusters = max(50, n // 500)
    common = rng.standard_normal(dim).astype(np.float32)
    common /= np.linalg.norm(common)
    centers = rng.standard_normal((clusters, dim), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    centers += 0.6 * common
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    spread = rng.uniform(0.4, 1.0, clusters).astype(np.float32)
    sizes = rng.zipf(1.5, clusters).astype(np.float64)
    p = 0.5 * sizes / sizes.sum() + 0.5 / clusters
    assign = np.sort(rng.choice(clusters, size=n, p=p / p.sum()))
    bounds = np.searchsorted(assign, np.arange(clusters + 1))
    out = np.empty((n, dim), np.float32)
    for c in range(clusters):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        if lo == hi:
            continue
        basis = rng.standard_normal((rank, dim), dtype=np.float32) / np.sqrt(dim)
        z = rng.standard_normal((hi - lo, rank), dtype=np.float32) / np.sqrt(rank)
        iso = rng.standard_normal((hi - lo, dim), dtype=np.float32) / np.sqrt(dim)
        v = centers[c] + spread[c] * (z @ basis) + 0.25 * spread[c] * iso
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out[rng.permutation(n)]


def make_queries(data: np.ndarray, nq: int, seed: int = 1, eps: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data), nq, replace=False)
    noise = rng.standard_normal((nq, data.shape[1]), dtype=np.float32) / np.sqrt(data.shape[1])
    q = data[idx] + eps * noise
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def ground_truth(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    out = np.empty((len(queries), K), np.int64)
    for s in range(0, len(queries), 50):
        scores = queries[s : s + 50] @ data.T
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
        out[s : s + 50] = np.take_along_axis(top, order, 1)
    return out


def write_table(db: Any, data: np.ndarray) -> tuple[VectorTable, float]:
    """Bulk load (table.add in 100k batches; the scan writes per asset with replace())."""
    n, dim = data.shape
    vt = VectorTable(db, "bench-clip", dim)
    schema = vector_schema("bench-clip", dim)
    t0 = time.perf_counter()
    for s in range(0, n, 100_000):
        chunk = data[s : s + 100_000]
        batch = pa.table(
            {
                "asset_id": pa.array([f"a{i}" for i in range(s, s + len(chunk))]),
                "segment": pa.array(np.zeros(len(chunk), np.int32)),
                "t_start": pa.nulls(len(chunk), pa.float64()),
                "t_end": pa.nulls(len(chunk), pa.float64()),
                "content_hash": pa.nulls(len(chunk), pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(chunk.reshape(-1)), dim),
            },
            schema=schema,
        )
        vt._tbl.add(batch)
    return vt, time.perf_counter() - t0


def measure(
    fn: Callable[[np.ndarray], list[str]], queries: np.ndarray, gt: np.ndarray, warm: int = 3
) -> dict[str, Any]:
    for q in queries[:warm]:
        fn(q)
    times: list[float] = []
    recalls: list[float] = []
    for q, truth in zip(queries, gt, strict=True):
        t0 = time.perf_counter()
        ids = fn(q)
        times.append((time.perf_counter() - t0) * 1e3)
        want = {f"a{i}" for i in truth.tolist()}
        recalls.append(len(want & set(ids[:K])) / K)
    ms = np.asarray(times)
    return {
        "queries": len(queries),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "recall@10": round(float(np.mean(recalls)), 4),
    }


def run_size(n: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    print(f"\n== {n:,} vectors x {args.dim}", flush=True)
    t0 = time.perf_counter()
    data = make_data(n, args.dim)
    queries = make_queries(data, args.queries)
    gt = ground_truth(data, queries)
    print(f"data + ground truth: {time.perf_counter() - t0:.1f} s", flush=True)
    db = lancedb.connect(str(root / f"db_{n}"))
    vt, write_s = write_table(db, data)
    del data
    gc.collect()
    res: dict[str, Any] = {"rows": n, "dim": args.dim, "write_s": round(write_s, 1)}

    base_q = 20 if n > 200_000 else min(args.queries, 100)

    def flat(q: np.ndarray) -> list[str]:
        table = vt._tbl.search(q).distance_type("dot").select(["asset_id"]).limit(K).to_arrow()
        return list(table.column("asset_id").to_pylist())

    res["lancedb_flat"] = measure(flat, queries[:base_q], gt[:base_q], warm=1)
    print("lancedb flat   ", res["lancedb_flat"], flush=True)

    t0 = time.perf_counter()
    vt.load()
    res["exact_load_s"] = round(time.perf_counter() - t0, 2)

    def exact(q: np.ndarray) -> list[str]:
        return [h.asset_id for h in vt.search(q, K, threshold=1 << 62)]

    res["exact"] = measure(exact, queries, gt)
    print("chronicon exact", res["exact"], f"(load {res['exact_load_s']} s)", flush=True)
    vmod.clear_cache()  # the ANN path keeps only ids in memory
    gc.collect()

    t0 = time.perf_counter()
    vt.ensure_index(threshold=0, force=True)
    res["index_build_s"] = round(time.perf_counter() - t0, 1)
    res["index"] = vt.stats().get("index")
    res["index_params"] = {
        "type": vmod.INDEX_TYPE,
        "rows_per_partition": vmod.ROWS_PER_PARTITION,
        "m": vmod.HNSW_M,
        "ef_construction": vmod.HNSW_EF_CONSTRUCTION,
        "nprobes": vmod.NPROBES,
        "ef": vmod.EF,
        "refine_factor": vmod.REFINE_FACTOR,
    }
    print(f"index {res['index']} built in {res['index_build_s']} s", flush=True)

    def ann(q: np.ndarray) -> list[str]:
        return [h.asset_id for h in vt.search(q, K, threshold=0)]

    t0 = time.perf_counter()
    ann(queries[0])
    res["ann_load_s"] = round(time.perf_counter() - t0, 2)
    res["ann"] = measure(ann, queries, gt)
    print("chronicon ann  ", res["ann"], flush=True)
    if args.sweep:
        res["sweep"] = []
        defaults = (vmod.NPROBES, vmod.EF, vmod.REFINE_FACTOR)
        parts = max(1, -(-n // vmod.ROWS_PER_PARTITION))
        for nprobes in sorted({1, 2, max(1, parts // 2), parts}):
            for ef in (80, 160, 240, 320):
                for refine in (2, 4):
                    vmod.NPROBES, vmod.EF, vmod.REFINE_FACTOR = nprobes, ef, refine
                    row = {
                        "nprobes": nprobes,
                        "ef": ef,
                        "refine_factor": refine,
                        **measure(ann, queries, gt),  # every query: recall on a subset was too optimistic
                    }
                    res["sweep"].append(row)
                    print("  sweep", row, flush=True)
        vmod.NPROBES, vmod.EF, vmod.REFINE_FACTOR = defaults

    nf = min(50, len(queries))
    small = {f"a{i}" for i in range(0, n, max(1, n // 2_000))}

    def ann_small_filter(q: np.ndarray) -> list[str]:
        return [h.asset_id for h in vt.search(q, K, threshold=0, asset_ids=small)]

    res["ann_prefilter_2k"] = measure(ann_small_filter, queries[:nf], np.zeros((nf, K), np.int64))
    res["ann_prefilter_2k"].pop("recall@10")
    half = {f"a{i}" for i in range(0, n, 2)}

    def ann_half_filter(q: np.ndarray) -> list[str]:
        return [h.asset_id for h in vt.search(q, K, threshold=0, asset_ids=half)]

    res["ann_prefilter_half"] = measure(ann_half_filter, queries[:nf], np.zeros((nf, K), np.int64))
    res["ann_prefilter_half"].pop("recall@10")
    print("prefilter 2k   ", res["ann_prefilter_2k"], "\nprefilter half ", res["ann_prefilter_half"], flush=True)
    vmod.clear_cache()
    return res


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\n{'rows':>9} {'path':<16} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9}  notes")
    for r in results:
        n = r["rows"]
        rows = [
            ("lancedb flat", r["lancedb_flat"], f"{r['lancedb_flat']['queries']} queries, no index"),
            ("chronicon exact", r["exact"], f"load {r['exact_load_s']} s"),
            ("chronicon ann", r["ann"], f"{r['index']} build {r['index_build_s']} s"),
        ]
        for name, m, note in rows:
            print(f"{n:>9,} {name:<16} {m['p50_ms']:>8} {m['p99_ms']:>8} {m['recall@10']:>9}  {note}")
        for key in ("ann_prefilter_2k", "ann_prefilter_half"):
            m = r[key]
            print(f"{n:>9,} {key[4:]:<16} {m['p50_ms']:>8} {m['p99_ms']:>8} {'':>9}  ann path, with asset_ids")
    if results:
        print("ANN params:", results[-1]["index_params"])
    print(f"\nGoal at 1M: p50 <= {GOAL_P50_MS} ms, p99 <= {GOAL_P99_MS} ms, recall@10 >= {GOAL_RECALL}")
    for r in results:
        if r["rows"] < 1_000_000:
            continue
        for path in ("exact", "ann"):
            m = r[path]
            ok = m["p50_ms"] <= GOAL_P50_MS and m["p99_ms"] <= GOAL_P99_MS and m["recall@10"] >= GOAL_RECALL
            print(f"  {r['rows']:,} {path}: {'PASS' if ok else 'FAIL'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="20k vectors only")
    parser.add_argument("--sweep", action="store_true", help="also try several nprobes / refine_factor values")
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    parser.add_argument("--keep", metavar="DIR", help="build the tables in DIR and keep them")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else args.sizes
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="chronicon-search-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_size(n, args, root) for n in sizes]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(results)
    if args.json:
        print(
            json.dumps(
                {"goal": {"p50_ms": GOAL_P50_MS, "p99_ms": GOAL_P99_MS, "recall@10": GOAL_RECALL}, "results": results}
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
