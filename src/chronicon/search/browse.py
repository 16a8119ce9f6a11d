"""Browse order: the ids of one page of the assets that pass the filters, newest first or by a sort column."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence, Set
from datetime import datetime
from typing import Any

import pyarrow as pa

from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.store import Catalog, sql_str
from chronicon.search.extensions import SortKey, sort_rows
from chronicon.search.stacks import membership

# Pages ending at most this deep are read with LanceDB's ORDER BY ... LIMIT (a top-k over the sort columns, no
# row leaves LanceDB but the page's); deeper ones read the sort columns of every row that passes the filters.
TOP_K_DEPTH = 10_000
KEEP_ORDERS = 2  # deep pages: the whole order of the latest this many (filters, sort), until the catalog changes
_IN_CHUNK = 500
_ORDERS: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
_ORDERS_LOCK = threading.Lock()

Fetch = Callable[[list[str], str], pa.Table]  # (columns, where) -> rows, as `Catalog.to_arrow`


def iso_mtime(mtime_ns: int | None) -> str:
    """A file time as local ISO text, comparable with `taken_at` (which records the local time)."""
    if not mtime_ns:
        return ""
    return datetime.fromtimestamp(mtime_ns / 1e9).strftime("%Y-%m-%dT%H:%M:%S")


def date_key(value: Any, mtime_ns: Any, asset_id: str) -> tuple[str, int, str]:
    """Newest-first key of a row: capture time, else the file's time (as the date filters do); the id breaks ties."""
    return (value or iso_mtime(mtime_ns), mtime_ns or 0, asset_id)


def page_ids(
    catalog: Catalog,
    where: str,
    *,
    order: str,
    sort: SortKey | None,
    kinds: Sequence[StackKind],
    allowed: Set[str] | None,
    offset: int,
    limit: int,
) -> list[str]:
    """The ids of rows offset .. offset+limit in browse order (None sort: newest first), a stack once by its cover:
    a top-k query for shallow pages; for deep ones (`TOP_K_DEPTH`) every row's sort columns, the order kept for
    the next deep page until the assets table changes."""
    if offset + limit <= TOP_K_DEPTH:
        return _top_page(catalog, where, order, sort, kinds, allowed, offset, limit)
    if allowed is not None:  # (plugin filters read tables of their own, which a cache could not follow)
        return all_ordered(catalog.to_arrow, where, order, sort, kinds, allowed)[offset : offset + limit]
    key = (str(catalog.dir), catalog.table_version(), where, order, sort, tuple(kinds))
    with _ORDERS_LOCK:
        ids = _ORDERS.get(key)
    if ids is None:
        ids = all_ordered(catalog.to_arrow, where, order, sort, kinds, None)
        with _ORDERS_LOCK:
            _ORDERS[key] = ids
            while len(_ORDERS) > KEEP_ORDERS:
                _ORDERS.popitem(last=False)
    return ids[offset : offset + limit]


def all_ordered(
    fetch: Fetch,
    where: str,
    order: str,
    sort: SortKey | None,
    kinds: Sequence[StackKind],
    allowed: Set[str] | None,
) -> list[str]:
    """Every id in browse order, from the sort columns of every row that passes `where` (what browse did for
    every page before the top-k query)."""
    stack_columns = [k.column for k in kinds if k.column != order]
    table = fetch(list(dict.fromkeys(["id", order, "mtime_ns", *stack_columns])), where)
    keyed = [
        (i, v, m)
        for i, v, m in zip(*(table.column(c).to_pylist() for c in ("id", order, "mtime_ns")), strict=True)
        if allowed is None or i in allowed
    ]
    if kinds:  # members whose cover is listed too are shown by it
        listed = {r[0] for r in keyed}
        stacked = {c: table.column(c).to_pylist() for c in stack_columns}
        hidden = set()
        for index, asset_id in enumerate(table.column("id").to_pylist()):
            found = membership({c: values[index] for c, values in stacked.items()}, kinds)
            if found is not None and found.cover != asset_id and (found.cover in listed or found.kind.parts):
                hidden.add(asset_id)
        keyed = [r for r in keyed if r[0] not in hidden]
    keyed.sort(key=lambda r: r[0])  # ties in id order, as the top-k query breaks them
    if sort is None:
        keyed.sort(key=lambda r: date_key(r[1], r[2], r[0]), reverse=True)
    else:
        keyed = sort_rows(keyed, sort, lambda r: r[1])
    return [r[0] for r in keyed]


def _top_page(
    catalog: Catalog,
    where: str,
    order: str,
    sort: SortKey | None,
    kinds: Sequence[StackKind],
    allowed: Set[str] | None,
    offset: int,
    limit: int,
) -> list[str]:
    """One page from the first `window` rows in order, the window widened while hidden stack members and rows the
    plugin filters refuse leave it short."""
    want = offset + limit
    window = want if not kinds and allowed is None else max(2 * want, 200)
    stack_columns = [k.column for k in kinds if k.column != order]
    columns = list(dict.fromkeys(["id", order, "mtime_ns", *stack_columns]))
    while True:
        rows, exhausted = _top_rows(catalog, where, columns, order, sort, window)
        listed = [r for r in rows if allowed is None or r["id"] in allowed]
        if kinds:
            listed = _without_shown_members(catalog, where, listed, kinds, allowed, exhausted)
        if len(listed) >= want or exhausted:
            return [str(r["id"]) for r in listed[offset:want]]
        window *= 4


def _top_rows(
    catalog: Catalog, where: str, columns: list[str], order: str, sort: SortKey | None, window: int
) -> tuple[list[dict[str, Any]], bool]:
    """The first `window` rows in browse order, and whether they are all there are."""
    from lancedb.query import ColumnOrdering

    def top(extra: str, by: list[tuple[str, bool]]) -> list[dict[str, Any]]:
        ordering = [ColumnOrdering(column_name=c, ascending=asc, nulls_first=False) for c, asc in by]
        query = catalog.assets.search().where(f"({where}) AND {extra}" if extra else where)
        return list(query.select(columns).order_by(ordering).limit(window).to_arrow().to_pylist())

    if sort is not None:
        rows = top("", [(order, not sort.descending), ("id", True)])
        return rows, len(rows) < window
    # Newest first by capture time, else the file's time: the rows with a capture time by it, those without by
    # their mtime (the same order as its local ISO text, but for the hour a clock change repeats), merged.
    dated = top("taken_at IS NOT NULL AND taken_at <> ''", [("taken_at", False), ("mtime_ns", False), ("id", False)])
    undated = top("(taken_at IS NULL OR taken_at = '')", [("mtime_ns", False), ("id", False)])
    merged = sorted(dated + undated, key=lambda r: date_key(r["taken_at"], r["mtime_ns"], r["id"]), reverse=True)
    return merged[:window], len(dated) < window and len(undated) < window and len(merged) <= window


def _without_shown_members(
    catalog: Catalog,
    where: str,
    rows: list[dict[str, Any]],
    kinds: Sequence[StackKind],
    allowed: Set[str] | None,
    exhausted: bool,
) -> list[dict[str, Any]]:
    """The rows less the stack members whose cover is listed too (it is shown for them), and the parts of a
    cover (a Live Photo's motion) whatever the filters say of it."""
    places = [(r, membership(r, kinds)) for r in rows]
    listed = {str(r["id"]) for r in rows}
    outside = sorted({m.cover for r, m in places if m is not None and m.cover != r["id"] and m.cover not in listed})
    if outside and not exhausted:  # covers past the window (or filtered out): ask whether they pass
        for start in range(0, len(outside), _IN_CHUNK):
            chunk = outside[start : start + _IN_CHUNK]
            clause = "id IN (" + ", ".join(sql_str(c) for c in chunk) + ")"
            found = catalog.to_arrow(["id"], where=f"({where}) AND {clause}").column("id").to_pylist()
            listed.update(str(i) for i in found if allowed is None or i in allowed)
    return [r for r, m in places if m is None or m.cover == r["id"] or not (m.cover in listed or m.kind.parts)]
