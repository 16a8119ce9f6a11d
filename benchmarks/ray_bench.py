"""Ray engine benchmark: the same generated library scanned by the local engine and by `--engine ray` on a
2-node Ray cluster started on this machine, into two catalogs in one run.

Prints one JSON object: items/s of each engine and their ratio, each engine's time to its first committed batch
(the difference is Ray's fixed cost: Ray starting actors that import chronicon and build the passes),
whether the two catalogs are equal (rows column by column, vectors; `tests/catalogdiff.py`), and the driver's
commit rate (`Scanner._commit`, rows/s, measured on the Ray scan). Both Ray nodes (`ray start --head` and
`ray start --address`, one CPU each) are stopped at the end, even on an error.

    python benchmarks/ray_bench.py --photos 400 --videos 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scan_bench import PASSES, generate_library

from catalogdiff import catalog_differences
from chronicon.library import Library
from chronicon.scan.scanner import Scanner


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def two_node_cluster(temp: Path) -> Iterator[str]:
    """`ray start --head` and a second node, one CPU each, both in the foreground (`--block`) so that they are
    this process's children: stopped by their process group at the end, never by `ray stop` (which would stop
    every Ray of this machine)."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    # A throwaway cluster on 127.0.0.1: no token authentication (a real one keeps it: docs/scale.md). Set before
    # this process first touches Ray, which reads it once.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path[:2], os.environ.get("PYTHONPATH", "")])}
    common = ["--num-cpus", "1", "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen[bytes]] = []
    logs = temp / "ray-nodes.log"
    try:
        with logs.open("wb") as log:
            head = [ray_cli, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                    "--include-dashboard=false", "--temp-dir", str(temp / "ray"), *common]  # fmt: skip
            nodes.append(subprocess.Popen(head, env=env, stdout=log, stderr=log, start_new_session=True))
            _wait_for_nodes(address, 1)
            worker = [ray_cli, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common]
            nodes.append(subprocess.Popen(worker, env=env, stdout=log, stderr=log, start_new_session=True))
            _wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()


def _wait_for_nodes(address: str, count: int, timeout: float = 120.0) -> None:
    import ray

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.init(address=address, logging_level=logging.ERROR)
            alive = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
            ray.shutdown()
            if len(alive) >= count:
                return
        except (ConnectionError, RuntimeError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"the Ray cluster at {address} did not get {count} nodes in {timeout:.0f}s")


class CommitClock:
    """Times `Scanner._commit` (the driver's share of a scan) while installed, and when the first one ended: the
    first committed result, the same event for both engines (the local engine's progress advances as soon as an
    item is decoded, before its model passes; Ray's when the item is back on the driver)."""

    def __init__(self) -> None:
        self.rows = 0
        self.seconds = 0.0
        self.batches = 0
        self.started = time.perf_counter()
        self.first_commit: float | None = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = Scanner._commit

        def timed(scanner: Scanner, batch: list[Any], summary: Any) -> None:
            t0 = time.perf_counter()
            original(scanner, batch, summary)
            self.seconds += time.perf_counter() - t0
            if self.first_commit is None:
                self.first_commit = time.perf_counter() - self.started
            self.rows += len(batch)
            self.batches += 1

        Scanner._commit = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Scanner._commit = original  # type: ignore[method-assign]


def scan(catalog: Path, root: Path, overrides: dict[str, Any], clock: CommitClock) -> dict[str, Any]:
    library = Library(catalog, overrides=overrides, environ={}, entry_points=False)
    clock.started = t0 = time.perf_counter()
    with clock.installed():
        summary = library.scan([str(root)])
    seconds = time.perf_counter() - t0
    items = summary.files_seen
    return {
        "engine": summary.engine,
        "files": items,
        "failed": summary.failed,
        "batches": summary.batches,
        "seconds": round(seconds, 2),
        "items_per_second": round(items / seconds, 2),
        "first_commit_seconds": None if clock.first_commit is None else round(clock.first_commit, 2),
        "notes": [n for n in summary.notes if n.startswith("ray engine")],
    }


def commit_rate(catalog: Path, rows: int, batch_size: int, dim: int) -> dict[str, Any]:
    """The driver's ceiling: `Scanner._commit` of synthetic finished items (rows as the passes leave them, and
    one `dim`-d vector each when `dim`), in batches of `batch_size`, into a catalog that grows to `rows`."""
    import uuid

    import numpy as np

    from chronicon.analyzers.base import AssetItem
    from chronicon.catalog.schema import empty_row
    from chronicon.catalog.vectors import VectorRow
    from chronicon.scan.discover import FoundFile
    from chronicon.scan.items import WorkItem
    from chronicon.scan.summary import ScanSummary
    from chronicon.types import Change, MediaKind

    library = Library(catalog, overrides=PASSES, environ={}, entry_points=False)
    scanner = Scanner(library.catalog, library.analyzers(), library.config.section("scan"))
    summary = ScanSummary(roots=["/synthetic"], catalog=str(catalog))
    rng = np.random.default_rng(7)
    seconds = 0.0
    for start in range(0, rows, batch_size):
        batch: list[WorkItem] = []
        for i in range(start, min(rows, start + batch_size)):
            path = f"/synthetic/{i // 1000:04d}/IMG_{i:07d}.jpg"
            found = FoundFile(path, "/synthetic", 2_000_000 + i, 1_700_000_000_000_000_000 + i, 0, i)
            item = AssetItem(uuid.uuid4().hex, path, MediaKind.IMAGE, "jpeg", found.size, found.mtime_ns)
            item.row = empty_row(library.catalog.schema)
            item.row.update(id=item.id, path=path, path_raw=path.encode(), root="/synthetic", size=found.size,
                            mtime_ns=found.mtime_ns, format="jpeg", width=4032, height=3024, missing=False,
                            content_hash=f"{i:032x}", camera_make="Canon", phash=f"{i:016x}")  # fmt: skip
            w = WorkItem(item, Change.NEW, found)
            if dim:
                vector = rng.standard_normal(dim).astype(np.float32)
                w.vectors["bench:vectors"] = (dim, [VectorRow(item.id, vector / np.linalg.norm(vector), 0,
                                                              content_hash=item.row["content_hash"])])  # fmt: skip
            batch.append(w)
        t0 = time.perf_counter()
        scanner._commit(batch, summary)
        seconds += time.perf_counter() - t0
    return {
        "rows": rows,
        "batch_size": batch_size,
        "vector_dim": dim,
        "commits": summary.batches,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds, 1),
        "commits_per_second": round(summary.batches / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ocr", action="store_true", help="run the OCR model pass too (its model load dominates)")
    parser.add_argument("--keep", action="store_true", help="keep the generated library and catalogs")
    parser.add_argument(
        "--commit-rows",
        type=int,
        default=0,
        help="only measure the driver's commit rate: this many synthetic rows (with and without a 512-d vector)",
    )
    args = parser.parse_args()
    if args.commit_rows:
        with tempfile.TemporaryDirectory(prefix="chronicon-commit-bench-") as tmp:
            folder = Path(tmp)
            rates = [commit_rate(folder / f"c{dim}", args.commit_rows, args.batch_size, dim) for dim in (0, 512)]
        print(json.dumps({"driver_commit": rates}, indent=2))
        return

    work = Path(tempfile.mkdtemp(prefix="chronicon-ray-bench-"))
    try:
        root = work / "library"
        t0 = time.perf_counter()
        generate_library(root, args.photos, args.videos)
        generated = time.perf_counter() - t0
        passes = {**PASSES, "ocr.enabled": args.ocr}
        overrides: dict[str, Any] = {**passes, "scan.batch_size": args.batch_size, "scan.workers": 2}
        local = scan(work / "catalog-local", root, overrides, CommitClock())
        clock = CommitClock()
        with two_node_cluster(work) as address:
            remote = scan(
                work / "catalog-ray",
                root,
                {**overrides, "scan.engine": "ray", "scan.ray_address": address},
                clock,
            )
        one = Library(work / "catalog-local", overrides=passes, environ={}, entry_points=False)
        other = Library(work / "catalog-ray", overrides=passes, environ={}, entry_points=False)
        differences = catalog_differences(one, other)
        overhead = round(remote["first_commit_seconds"] - local["first_commit_seconds"], 2)
        print(
            json.dumps(
                {
                    "files": args.photos + args.videos,
                    "generate_seconds": round(generated, 2),
                    "cluster": "2 Ray nodes on this machine (ray start --head / --address), 1 CPU each",
                    "local": local,
                    "ray": remote,
                    "ray_over_local_items_per_second": round(remote["items_per_second"] / local["items_per_second"], 3),
                    # Ray's fixed cost: starting actors that import chronicon and build (and load) the passes.
                    "ray_fixed_overhead_seconds": overhead,
                    "driver_commit": {
                        "batches": clock.batches,
                        "rows": clock.rows,
                        "seconds": round(clock.seconds, 3),
                        "rows_per_second": round(clock.rows / clock.seconds, 1) if clock.seconds else None,
                        "commits_per_second": round(clock.batches / clock.seconds, 2) if clock.seconds else None,
                    },
                    "catalogs_equal": not differences,
                    "differences": differences[:20],
                },
                indent=2,
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
