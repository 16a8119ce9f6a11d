"""Load benchmark of `chronicon serve`: requests/s and p50/p99 latency of GET /api/search on a 100k-asset catalog.

Builds the catalog quickly (assets rows and random unit vectors written straight into LanceDB, in the space the
offline `tags` pass fills: ConSE in the MiniLM text space, so text queries embed for real), starts
`chronicon serve` in a subprocess on loopback, runs `--concurrency` client threads for `--seconds`, and prints
the figures next to the same searches called in-process without HTTP (the baseline). Timings are printed, not
asserted.

    .venv/bin/python benchmarks/serve_bench.py                       # 100k assets, 15 s, 8 clients
    .venv/bin/python benchmarks/serve_bench.py --assets 20000 --seconds 5
    .venv/bin/python benchmarks/serve_bench.py --catalog /tmp/bench-catalog   # reuse (built if empty)
    .venv/bin/python benchmarks/serve_bench.py --keep     # keep the temporary catalog (its path is printed)

The server never inherits `CHRONICON_SERVER__TOKEN` (the load would be refused). The temporary folder (catalog,
config, model cache) is removed at the end unless `--keep` is given; a `--catalog` folder is never removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chronicon.builtin.tags import conse_space
from chronicon.embed.text import DEFAULT_TEXT_MODEL, resolve_text_model
from chronicon.library import Library

QUERIES = [
    "a cat on a sofa",
    "dog in the snow",
    "beach + sunset - people",
    "birthday cake",
    "red car",
    "mountain lake",
    "a cup of coffee",
    "children playing football",
    "city at night",
    "horse in a field",
    "rocket launch",
    "bicycle",
    "flowers in a garden",
    "a man with a camera",
    "airplane",
    "old church",
]
LABELS = ["cat", "dog", "car", "beach", "person", "cup", "tree", "boat", "bird", "horse", "cake", "bicycle"]
DIM = 384


def settings(catalog: Path, model_cache: Path) -> dict[str, Any]:
    return {
        "catalog": str(catalog),
        "model_cache": str(model_cache),
        "tags": {"enabled": True},
        "clip": {"enabled": False},
        "transcribe": {"enabled": False},
        "caption": {"enabled": False},
        "plugins": {"paths": [], "disabled": []},
    }


def flat(tree: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{k}.{n}" if isinstance(v, dict) else k: w
        for k, v in tree.items()
        for n, w in (v.items() if isinstance(v, dict) else [(None, v)])
    }


def build(library: Library, n: int, root: str) -> float:
    """Write n photo rows and n random unit vectors (clustered a little, like real ones) in batches."""
    started = time.perf_counter()
    catalog = library.catalog
    schema = catalog.schema
    rng = np.random.default_rng(0)
    space = conse_space(resolve_text_model(DEFAULT_TEXT_MODEL)[1])
    vectors = catalog.vector_table(space, DIM)
    centers = rng.standard_normal((200, DIM)).astype(np.float32)
    batch = 20_000
    for start in range(0, n, batch):
        count = min(batch, n - start)
        ids = [f"{i:032x}" for i in range(start, start + count)]
        labels = [[LABELS[j % len(LABELS)], LABELS[(j * 7) % len(LABELS)]] for j in range(start, start + count)]
        columns: dict[str, Any] = {
            "id": ids,
            "path": [f"{root}/{i // 1000:03d}/IMG_{i:06d}.jpg" for i in range(start, start + count)],
            "root": [root] * count,
            "kind": ["image"] * count,
            "format": ["jpeg"] * count,
            "size": [1_000_000] * count,
            "mtime_ns": [1_700_000_000_000_000_000 + i for i in range(start, start + count)],
            "status": ["ok"] * count,
            "missing": [False] * count,
            "taken_at": [
                f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00" for i in range(start, start + count)
            ],
            "width": [4000] * count,
            "height": [3000] * count,
            "labels": labels,
            "label_scores": [[0.8, 0.5]] * count,
            "labels_text": [" ".join(x) for x in labels],
        }
        arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(count, f.type) for f in schema]
        catalog.assets.add(pa.Table.from_arrays(arrays, schema=schema))
        mix = centers[rng.integers(0, len(centers), count)] + 0.7 * rng.standard_normal((count, DIM)).astype(np.float32)
        mix /= np.linalg.norm(mix, axis=1, keepdims=True)
        table = pa.table(
            {
                "asset_id": pa.array(ids, pa.string()),
                "segment": pa.array([0] * count, pa.int32()),
                "t_start": pa.nulls(count, pa.float64()),
                "t_end": pa.nulls(count, pa.float64()),
                "content_hash": pa.nulls(count, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(mix.reshape(-1)), DIM),
            },
            schema=vectors._tbl.schema,
        )
        vectors._tbl.add(table)
    catalog.ensure_search_indexes(
        full_text=library.full_text_columns(), ann_threshold=int(library.config["search.ann_threshold"])
    )
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load(base: str, seconds: float, concurrency: int, limit: int) -> dict[str, Any]:
    """`concurrency` threads each sending searches back to back for `seconds`."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            i = n
            while time.monotonic() < stop:
                query = QUERIES[i % len(QUERIES)]
                i += concurrency
                began = time.perf_counter()
                try:
                    response = client.get("/api/search", params={"q": query, "limit": limit})
                    ok = response.status_code == 200
                    problem = "" if ok else f"{response.status_code}: {response.text[:100]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                took = time.perf_counter() - began
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "mean_ms": 1000 * statistics.fmean(latencies or [0.0]),
    }


def in_process(library: Library, seconds: float, limit: int) -> dict[str, Any]:
    """The same searches, one after another, through `Library.search` (no HTTP, no JSON)."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop:
        began = time.perf_counter()
        library.search(QUERIES[i % len(QUERIES)], limit=limit)
        latencies.append(time.perf_counter() - began)
        i += 1
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--catalog", type=Path, help="Catalog folder to reuse (built when it holds no assets).")
    parser.add_argument("--model-cache", type=Path, help="Model cache (default: next to the catalog).")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary catalog folder.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    try:
        run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:  # with --catalog it holds only the config: the catalog lives elsewhere
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """Build (or reuse) the catalog, measure in-process and over HTTP, print the figures."""
    catalog = args.catalog or work / "catalog"
    model_cache = args.model_cache or catalog.parent / "models"
    tree = settings(catalog, model_cache)
    library = Library(catalog, overrides=flat(tree), environ={}, entry_points=False)
    built = 0.0
    if library.catalog.count() == 0:
        print(f"building a {args.assets:,}-asset catalog in {catalog} ...", file=sys.stderr)
        built = build(library, args.assets, "/bench/photos")
    assets = library.catalog.count()
    library.search(QUERIES[0], limit=args.limit)  # load the models and the vectors once (both sides do)
    baseline = in_process(library, min(args.seconds, 10.0), args.limit)
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(tree))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CHRONICON_SERVER__TOKEN"}
    env["HF_HUB_OFFLINE"] = "1"
    command = [sys.executable, "-m", "chronicon", "--config", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/api/search", params={"q": "warm up"}, timeout=120).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.2)
        http = load(base, args.seconds, args.concurrency, args.limit)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "assets": assets,
        "build_seconds": round(built, 1),
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "limit": args.limit,
        "http": http,
        "in_process": baseline,
        "p50_ratio_http_vs_in_process": http["p50_ms"] / baseline["p50_ms"] if baseline["p50_ms"] else None,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"catalog: {assets:,} assets (built in {built:.1f} s), {os.cpu_count()} CPUs, limit {args.limit}")
    print(
        f"HTTP  GET /api/search  {args.concurrency} clients x {args.seconds:.0f} s: {http['rps']:.1f} req/s, "
        f"p50 {http['p50_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms, {http['errors']} errors ({http['requests']} ok)"
    )
    print(
        f"in-process Library.search, serial: {baseline['rps']:.1f} searches/s, p50 {baseline['p50_ms']:.1f} ms, "
        f"p99 {baseline['p99_ms']:.1f} ms"
    )
    if result["p50_ratio_http_vs_in_process"]:
        print(f"p50 ratio HTTP (under load) / in-process: {result['p50_ratio_http_vs_in_process']:.2f}")
    if http["first_error"]:
        print(f"first error: {http['first_error']}")


if __name__ == "__main__":
    main()
