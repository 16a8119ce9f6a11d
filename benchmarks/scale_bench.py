"""1M-asset operations: rescan planning, search with and without prefilters, browse pages and album refresh,
each against the code path it replaced, on a synthetic catalog written through the real Catalog API.

    .venv/bin/python benchmarks/scale_bench.py                          # 1,000,000 assets (build: ~8 min)
    .venv/bin/python benchmarks/scale_bench.py --assets 100000 --catalog /tmp/c100k   # keep it, reuse it
    .venv/bin/python benchmarks/scale_bench.py --assets 2000 --queries 5 --json

The catalog (benchmarks/scale_catalog.py): paths in year/month/event folders, 93 % photos and 7 % videos, sizes,
mtimes, capture times over 20 years (3 % unknown), a dozen cameras (Zipf) plus one rare camera on ~2,000 assets,
labels, GPS on a third, status done with the scanner's pass signature, and one 512-d vector per asset around a few
thousand cluster centres, then the indexes a scan builds (ANN from 100k vectors). "before" is the code as it was:
the engine with `search.prefilter_cache: 0` (the allowed ids read by SQL and the allowed rows' vectors read from
disk on every search) and browse ordering every row that passes the filters (`browse.TOP_K_DEPTH = 0`).
Rescan planning is fed FoundFile records equal to the catalog's rows instead of walking a real 1M-file tree.
`benchmarks/scale_plugins.py` (near-duplicates, faces), when present, adds its own rows.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_catalog as sc  # noqa: E402

from chronicon.analyzers.spaces import SpaceEncoder  # noqa: E402
from chronicon.catalog import vectors as vmod  # noqa: E402
from chronicon.catalog.store import Catalog  # noqa: E402
from chronicon.config import Section, core_section  # noqa: E402
from chronicon.scan.discover import FoundFile  # noqa: E402
from chronicon.scan.gcpause import gc_paused  # noqa: E402
from chronicon.scan.scanner import Scanner, ScanOptions  # noqa: E402
from chronicon.search import browse as browse_mod  # noqa: E402
from chronicon.search.engine import SearchEngine  # noqa: E402
from chronicon.search.filters import Filters  # noqa: E402

GOALS = {"search, prefilter 2,000 assets": "p50 <= 15 ms", "browse, page 1": "<= 100 ms"}
PAGE = 100


class TextLikeEncoder(SpaceEncoder):
    """Queries as a text model would give them: near one cluster centre (chosen by the text), but not on any photo."""

    kind = "bench"
    space = sc.SPACE

    def __init__(self, centres: NDArray[np.float32]) -> None:
        super().__init__(None)
        self.centres = centres

    def unavailable(self) -> str | None:
        return None

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")
            rng = np.random.default_rng(seed)
            v = self.centres[seed % len(self.centres)] + rng.standard_normal(sc.DIM).astype(np.float32) * 0.06
            out.append((v / np.linalg.norm(v)).astype(np.float32))
        return np.stack(out)


class BenchLibrary:
    """What the albums plugin asks of a Library, over the bench catalog's engine (no plugin filters or sorts)."""

    def __init__(self, engine: SearchEngine) -> None:
        self.search_engine = engine
        self.search_filters: dict[str, Any] = {}
        self.sort_keys: dict[str, Any] = {}
        self.config = self

    def section(self, name: str) -> Section:
        """The defaults of a core section (the bench's album rules set their own max_items)."""
        return core_section(name, {})

    def filters(self, **kwargs: Any) -> Filters:
        return Filters(**{k: v for k, v in kwargs.items() if v is not None})

    def sort_key(self, name: str | None) -> None:
        if name is not None:
            raise ValueError(f"the bench catalog has no sort key {name!r}")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall times in ms of `repeat` calls."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(_ms(time.perf_counter() - t0))
    return out


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


@contextmanager
def old_browse() -> Any:
    """Browse as it was: every row that passes the filters read and ordered for each page."""
    depth, keep = browse_mod.TOP_K_DEPTH, browse_mod.KEEP_ORDERS
    browse_mod.TOP_K_DEPTH, browse_mod.KEEP_ORDERS = 0, 0
    browse_mod._ORDERS.clear()
    try:
        yield
    finally:
        browse_mod.TOP_K_DEPTH, browse_mod.KEEP_ORDERS = depth, keep


def engine_for(catalog: Catalog, keep: int) -> SearchEngine:
    config = {"space": "auto", "hybrid": False, "cutoff": False, "prefilter_cache": keep}
    return SearchEngine(catalog, [], config, encoders=[TextLikeEncoder(sc.centres(sc.cluster_count(catalog.count())))])


def bench_planning(catalog: Catalog, paused: bool) -> dict[str, Any]:
    """Unchanged-rescan planning: `Catalog.index()`, then the scanner's diff of every (unchanged) found file;
    `paused`: with the cyclic garbage collector paused as the scanner does (before: collecting all along)."""
    with gc_paused() if paused else nullcontext():
        return _planning(catalog)


def _planning(catalog: Catalog) -> dict[str, Any]:
    scanner = Scanner(catalog, [], {})
    t0 = time.perf_counter()
    index = catalog.index()
    t1 = time.perf_counter()
    found = [FoundFile(e.path, sc.ROOT, e.size, e.mtime_ns, 0, i) for i, e in enumerate(index)]
    t2 = time.perf_counter()
    by_path = {e.path: e for e in index}
    planned = 0
    opts = ScanOptions()
    for f in found:
        entry = by_path.get(f.path)
        if entry is not None and scanner._plan_known(entry, f, opts) is not None:
            planned += 1
    t3 = time.perf_counter()
    if planned:
        raise RuntimeError(f"{planned} unchanged files were planned for work: the bench catalog is inconsistent")
    return {"read_index_ms": _ms(t1 - t0), "diff_ms": _ms(t3 - t2), "total_ms": _ms((t1 - t0) + (t3 - t2))}


def bench_search(before: SearchEngine, after: SearchEngine, n: int, queries: int) -> list[dict[str, Any]]:
    cases = [
        ("search, no prefilter", Filters()),
        ("search, prefilter 2,000 assets", Filters(camera=" ".join(sc.RARE_CAMERA))),
        ("search, prefilter ~30 %", Filters(after=sc.LARGE_AFTER)),
    ]
    rows = []
    for name, filters in cases:
        allowed = after._allowed(filters)
        shown = len(allowed) if allowed is not None else n
        texts = [f"a text query {i}" for i in range(queries)]
        first: dict[str, float] = {}
        times: dict[str, list[float]] = {}
        results: dict[str, list[list[str]]] = {}
        after._prefilters.clear()
        after._prefilter_rows.clear()
        vmod._SUBSETS.clear()
        for label, engine in (("before", before), ("after", after)):
            out: list[list[str]] = []
            spent: list[float] = []
            for text in texts:
                t0 = time.perf_counter()
                hits = engine.search(text, filters=filters, limit=20)
                spent.append(_ms(time.perf_counter() - t0))
                out.append([h.asset_id for h in hits])
            first[label], times[label], results[label] = spent[0], spent[1:] or spent, out
        same = results["before"] == results["after"]
        for stat in ("p50", "p99"):
            q = 50 if stat == "p50" else 99
            b, a = pct(times["before"], q), pct(times["after"], q)
            rows.append(_row(f"{name} ({shown:,} allowed) {stat}", b, a, GOALS.get(name, "") if stat == "p50" else "",
                             same=same))  # fmt: skip
        rows.append(_row(f"{name}: first query", first["before"], first["after"], "", same=same))
    return rows


def bench_browse(engine: SearchEngine, n: int, repeat: int) -> list[dict[str, Any]]:
    rows = []
    for name, offset in (("browse, page 1", 0), (f"browse, page at offset {n // 2:,}", n // 2)):
        with old_browse():
            old = [h.asset_id for h in engine.browse(limit=PAGE, offset=offset)]
            before = timed(lambda o=offset: engine.browse(limit=PAGE, offset=o), repeat)  # type: ignore[misc]
        browse_mod._ORDERS.clear()
        browse_mod._LAST_SPAN.clear()  # (the first page after start-up finds its bound from nothing)
        t0 = time.perf_counter()
        new = [h.asset_id for h in engine.browse(limit=PAGE, offset=offset)]
        cold = _ms(time.perf_counter() - t0)
        after = timed(lambda o=offset: engine.browse(limit=PAGE, offset=o), repeat)  # type: ignore[misc]
        same = old == new
        rows.append(_row(f"{name} (first)", before[0], cold, GOALS.get(name, ""), same=same))
        rows.append(_row(f"{name} (median of {repeat})", statistics.median(before), statistics.median(after), "",
                         same=same))  # fmt: skip
    return rows


def bench_albums(before: SearchEngine, after: SearchEngine, repeat: int) -> list[dict[str, Any]]:
    from chronicon_albums.evaluate import rebuild
    from chronicon_albums.rules import AlbumRule
    from chronicon_albums.store import Album

    rules = {
        "album refresh, filters only (newest 500 since 2019)": AlbumRule(after=sc.LARGE_AFTER, max_items=500),
        "album refresh, query + camera filter": AlbumRule(query="a dog on the beach", camera="leica", max_items=500),
        "album refresh, query + ~30 % filter": AlbumRule(query="a dog on the beach", after=sc.LARGE_AFTER,
                                                         max_items=500),
    }  # fmt: skip
    rows = []
    for name, rule in rules.items():
        text = json.dumps(rule.to_dict())
        members: dict[str, list[str]] = {}
        spent: dict[str, list[float]] = {}
        for label, engine in (("before", before), ("after", after)):
            library = BenchLibrary(engine)
            album = Album(name="bench", rule=text)

            def refresh(lib: BenchLibrary = library, alb: Album = album, title: str = name) -> None:
                rebuild(lib, alb)
                if alb.error:
                    raise RuntimeError(f"album {title}: {alb.error}")

            if label == "before":
                with old_browse():
                    spent[label] = timed(refresh, repeat)
            else:
                browse_mod._ORDERS.clear()
                after._prefilters.clear()
                after._prefilter_rows.clear()
                vmod._SUBSETS.clear()
                spent[label] = timed(refresh, repeat)
            members[label] = [m["id"] for m in album.members]
        same = members["before"] == members["after"]
        rows.append(_row(f"{name} (first)", spent["before"][0], spent["after"][0], "", same=same))
        rows.append(_row(f"{name} (median of {repeat})", statistics.median(spent["before"]),
                         statistics.median(spent["after"]), "", same=same))  # fmt: skip
    return rows


def _row(
    operation: str, before: float | None, after: float | None, goal: str, *, same: bool | None = None
) -> dict[str, Any]:
    ratio = round(before / after, 1) if before and after else None
    return {"operation": operation, "before_ms": before, "after_ms": after, "ratio": ratio, "goal": goal,
            "same_results": same}  # fmt: skip


def plugin_rows(catalog_dir: Path, n: int) -> dict[str, Any]:
    """What benchmarks/scale_plugins.py reports (near-duplicates, faces), when that file exists."""
    try:
        plugins = importlib.import_module("scale_plugins")
    except ModuleNotFoundError as exc:
        if exc.name != "scale_plugins":
            raise
        return {}
    out: dict[str, Any] = {}
    if hasattr(plugins, "bench_near_duplicates"):
        out["near_duplicates"] = plugins.bench_near_duplicates(catalog_dir, n)
    if hasattr(plugins, "bench_faces"):
        out["faces"] = plugins.bench_faces(n)
    return out


def ensure_catalog(directory: Path, n: int) -> tuple[Catalog, dict[str, Any]]:
    """The bench catalog in `directory`: built when it holds no assets yet, else reused as it is."""
    catalog = Catalog(directory, extra_columns=sc.EXTRA_COLUMNS)
    have = catalog.count()
    if have:
        if have != n:
            print(f"reusing {directory}: it holds {have:,} assets (not --assets {n:,})", file=sys.stderr)
        return catalog, {"reused": True, "assets": have}
    signatures = {kind.value: sig for kind, sig in Scanner(catalog, [], {}).signatures.items()}
    print(f"building {n:,} assets in {directory} ...", file=sys.stderr)
    built = sc.build(directory, n, signatures, log=n >= 100_000)
    return Catalog(directory, extra_columns=sc.EXTRA_COLUMNS), {"reused": False, "assets": n, "seconds": built.seconds}


def run(n: int, directory: Path, queries: int, repeat: int, with_plugins: bool) -> dict[str, Any]:
    catalog, built = ensure_catalog(directory, n)
    n = catalog.count()
    rows: list[dict[str, Any]] = []
    bench_planning(catalog, paused=True)  # (warm: the first read of the columns pays for the disk)
    old_plan = bench_planning(catalog, paused=False)
    new_plan = bench_planning(catalog, paused=True)
    rows.append(_row("unchanged-rescan planning (index + diff; before: collector on)", old_plan["total_ms"],
                     new_plan["total_ms"], "", same=True))  # fmt: skip
    before, after = engine_for(catalog, 0), engine_for(catalog, 8)
    vmod.clear_cache()
    rows += bench_search(before, after, n, queries)
    rows += bench_browse(after, n, repeat)
    rows += bench_albums(before, after, repeat)
    vectors = catalog.open_vector_table(sc.SPACE)
    result: dict[str, Any] = {"assets": n, "catalog": str(directory), "build": built, "planning": new_plan,
                              "vectors": vectors.stats() if vectors else None, "rows": rows}  # fmt: skip
    if with_plugins:
        result["plugins"] = plugin_rows(directory, n)
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['assets']:,} assets, catalog {result['catalog']}; planning {result['planning']}")
    print(f"{'operation':<72} {'before ms':>10} {'after ms':>10} {'ratio':>7}  {'same':<5} goal")
    for r in result["rows"]:
        cells = [f"{v:>10.1f}" if isinstance(v, float | int) else f"{'-':>10}" for v in (r["before_ms"], r["after_ms"])]
        ratio = f"{r['ratio']:>6.1f}x" if r["ratio"] else f"{'-':>7}"
        print(f"{r['operation']:<72} {cells[0]} {cells[1]} {ratio}  {r['same_results']!s:<5} {r['goal']}")
    for name, values in (result.get("plugins") or {}).items():
        print(f"{name}: {values}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=1_000_000, help="assets in the synthetic catalog")
    parser.add_argument("--catalog", type=Path, help="catalog folder to build into, or to reuse when it has assets")
    parser.add_argument("--queries", type=int, default=50, help="search queries per case (p50/p99 over them)")
    parser.add_argument("--repeat", type=int, default=5, help="calls per browse page and album refresh")
    parser.add_argument("--no-plugins", action="store_true", help="skip benchmarks/scale_plugins.py")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.assets < 1 or args.queries < 1 or args.repeat < 1:
        parser.error("--assets, --queries and --repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="chronicon-scale-") as scratch:
        directory = args.catalog or Path(scratch) / "catalog"
        result = run(args.assets, directory, args.queries, args.repeat, not args.no_plugins)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
