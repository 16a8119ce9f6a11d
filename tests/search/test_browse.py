"""Browse pages: the top-k query and the kept deep-page order give the old whole-table order, every row once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import Catalog
from chronicon.search import browse
from chronicon.search.engine import SearchEngine
from chronicon.search.extensions import SortKey
from chronicon.search.filters import Filters

BURST = StackKind("burst", "burst_cover", "burst", priority=10)
LIVE = StackKind("live", "live_cover", "Live Photo", priority=20, parts=True)
SCORE = SortKey("score", "score", "a plugin's score")
N = 400


def _rows(catalog: Catalog, start: int, count: int, seed: int) -> list[dict[str, Any]]:
    """Assets with capture times that tie, some unknown or empty (then the mtime orders them), bursts of three
    (the first is the cover), Live Photo pairs (the video is a part of the still), a score that is sometimes null,
    and a few missing files."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(start, start + count):
        row = empty_row(catalog.schema)
        day = int(rng.integers(1, 6))
        taken: str | None = f"2024-03-0{day}T1{int(rng.integers(0, 3))}:00:00"
        if i % 11 == 0:
            taken = None
        elif i % 23 == 0:
            taken = ""
        row.update(id=f"a{i:04d}", path=f"/p/{i // 50}/{i:04d}.jpg", kind="video" if i % 9 == 0 else "image",
                   taken_at=taken, mtime_ns=int(rng.integers(1, 10**6)) * 10**12 if i % 17 else None,
                   missing=i % 29 == 0, size=1, status="done",
                   score=None if i % 5 == 0 else float(rng.integers(0, 20)))  # fmt: skip
        if 100 <= i < 190:
            row["burst_cover"] = f"a{i - (i - 100) % 3:04d}"
        if 200 <= i < 260 and i % 2 == 1:  # the video of the pair: its cover is the still before it
            row["live_cover"] = f"a{i - 1:04d}"
        elif 200 <= i < 260:
            row["live_cover"] = f"a{i:04d}"
        rows.append(row)
    return rows


@pytest.fixture
def engine(tmp_path: Path) -> SearchEngine:
    extra = {"burst_cover": pa.string(), "live_cover": pa.string(), "score": pa.float64()}
    catalog = Catalog(tmp_path / "catalog", extra_columns=extra)
    catalog.upsert(_rows(catalog, 0, N, seed=3))
    return SearchEngine(catalog, [], {}, stacks=[BURST, LIVE])


def _everything(engine: SearchEngine, filters: Filters, sort: SortKey | None, stacks: bool) -> list[str]:
    """The order as browse computed it before the top-k query: every row that passes, ordered in Python."""
    kinds = engine._stacks(filters) if stacks else []
    order = sort.column if sort is not None else "taken_at"
    return browse.all_ordered(engine.catalog.to_arrow, filters.where(), order, sort, kinds, None)


def _paged(engine: SearchEngine, filters: Filters, sort: SortKey | None, stacks: bool, size: int) -> list[str]:
    out: list[str] = []
    while True:
        page = engine.browse(filters, limit=size, offset=len(out), sort=sort, expand_stacks=not stacks)
        out.extend(h.asset_id for h in page)
        if len(page) < size:
            return out


@pytest.mark.parametrize("sort", [None, SCORE], ids=["newest", "score"])
@pytest.mark.parametrize("stacks", [True, False], ids=["stacks", "expanded"])
@pytest.mark.parametrize(
    "filters", [Filters(), Filters(kind="image"), Filters(under="/p/3")], ids=["all", "kind", "under"]
)
def test_pages_hold_every_row_once_in_the_old_order(
    engine: SearchEngine, filters: Filters, sort: SortKey | None, stacks: bool
) -> None:
    expected = _everything(engine, filters, sort, stacks)
    assert expected  # (the fixture has rows for every case)
    paged = _paged(engine, filters, sort, stacks, size=37)
    assert paged == expected
    assert len(set(paged)) == len(paged)


def test_stacks_hide_members_whose_cover_is_listed_and_parts_always(engine: SearchEngine) -> None:
    shown = set(_paged(engine, Filters(), None, True, size=50))
    assert "a0100" in shown and "a0101" not in shown  # a burst: its cover stands for it
    assert "a0201" not in shown  # a Live Photo's motion: never alone
    videos = set(_paged(engine, Filters(kind="video"), None, True, size=50))
    assert "a0201" not in videos  # even when the filters leave its still out
    assert "a0171" in videos  # a burst member whose cover (an image) is filtered out stays itself


def test_deep_pages_keep_the_order_until_the_catalog_changes(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "TOP_K_DEPTH", 20)
    browse._ORDERS.clear()
    expected = _everything(engine, Filters(), None, True)
    assert _paged(engine, Filters(), None, True, size=30) == expected
    assert len(browse._ORDERS) == 1  # the pages past the top-k depth shared one ordering
    newest = _rows(engine.catalog, N, 1, seed=9)[0]
    newest.update(taken_at="2030-01-01T00:00:00", burst_cover=None, live_cover=None, missing=False)
    engine.catalog.upsert([newest])  # a new table version: the kept order is stale
    again = [h.asset_id for h in engine.browse(Filters(), limit=30, offset=30)]
    assert again == ([newest["id"], *expected])[30:60]


def test_plugin_id_filters_page_without_the_cache(engine: SearchEngine) -> None:
    from chronicon.search.extensions import SearchFilter

    some = {f"a{i:04d}" for i in range(0, N, 3)}
    only = SearchFilter("some", "test", asset_ids=lambda catalog, value: some)
    filters = Filters(extra=[(only, "x")])
    kinds = engine._stacks(filters)
    expected = browse.all_ordered(engine.catalog.to_arrow, filters.where(), "taken_at", None, kinds, some)
    assert _paged(engine, filters, None, True, size=25) == expected
    assert set(expected) <= some


def test_a_sort_column_that_does_not_exist_is_named(engine: SearchEngine) -> None:
    from chronicon.search.filters import FilterError

    with pytest.raises(FilterError, match="nope"):
        engine.browse(Filters(), sort=SortKey("nope", "nope", "missing"))


@pytest.fixture
def indexed(engine: SearchEngine) -> SearchEngine:
    """The engine's catalog with the indexes a scan builds (BTREE on taken_at and mtime_ns among them)."""
    engine.catalog.ensure_search_indexes()
    assert {"taken_at", "mtime_ns"} <= engine.catalog.indexed_columns()
    browse._LAST_SPAN.clear()
    return engine


@pytest.mark.parametrize("stacks", [True, False], ids=["stacks", "expanded"])
@pytest.mark.parametrize(
    "filters", [Filters(), Filters(kind="video"), Filters(under="/p/3")], ids=["all", "kind", "under"]
)
def test_indexed_newest_pages_read_under_a_bound_and_keep_the_order(
    indexed: SearchEngine, filters: Filters, stacks: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds: list[str] = []
    real = browse.newest_rows

    def spy(catalog: Catalog, query: Any, *args: Any) -> Any:
        def recorded(bound: str) -> Any:
            bounds.append(bound)
            return query(bound)

        return real(catalog, recorded, *args)

    monkeypatch.setattr(browse, "newest_rows", spy)
    expected = _everything(indexed, filters, None, stacks)
    assert _paged(indexed, filters, None, stacks, size=37) == expected
    assert any(b.startswith("taken_at >=") for b in bounds)  # dated rows read since a bound ...
    assert any(b.startswith("mtime_ns >=") for b in bounds) or filters.under  # ... and, past them, undated ones
    if filters.under:
        assert "" in bounds  # a narrow filter leaves the bounded rows short: widened, then read without a bound


def test_rows_read_with_the_order_are_the_rows_by_id(indexed: SearchEngine) -> None:
    from chronicon.search.engine import RESULT_COLUMNS

    page = indexed.browse(Filters(), limit=40)
    columns = [c for c in [*RESULT_COLUMNS, "burst_cover", "live_cover"] if c in indexed.catalog.schema.names]
    by_id = indexed.catalog.rows_by_id([h.asset_id for h in page], columns=columns)
    assert len(page) == 40
    assert [{c: h.row[c] for c in columns} for h in page] == [by_id[h.asset_id] for h in page]
