"""Browse order: the ids of one page of the assets that pass the filters, newest first or by a sort column."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence, Set
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.store import Catalog, sql_str
from chronicon.search.extensions import SortKey, sort_rows
from chronicon.search.stacks import membership

# Pages ending at most this deep are read with LanceDB's ORDER BY ... LIMIT (a top-k over the sort columns, no
# row leaves LanceDB but the page's); deeper ones read the sort columns of every row that passes the filters.
TOP_K_DEPTH = 10_000
ROWS_DEPTH = 1_000  # pages ending at most this deep read their rows' result columns with the order
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
    columns: Sequence[str] = (),
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The ids of rows offset .. offset+limit in browse order (None sort: newest first), a stack once by its cover,
    and for pages near the top (`ROWS_DEPTH`) their rows with `columns` too (read with the order; else {}): a
    top-k query for shallow pages; for deep ones (`TOP_K_DEPTH`) every row's sort columns, the order kept for the
    next deep page until the assets table changes."""
    if offset + limit <= TOP_K_DEPTH:
        wanted = columns if offset + limit <= ROWS_DEPTH else ()
        rows = _top_page(catalog, where, order, sort, kinds, allowed, offset, limit, wanted)
        kept = [c for c in wanted if rows and c in rows[0]]
        return [str(r["id"]) for r in rows], {str(r["id"]): {c: r[c] for c in kept} for r in rows} if kept else {}
    if allowed is not None:  # (plugin filters read tables of their own, which a cache could not follow)
        return all_ordered(catalog.to_arrow, where, order, sort, kinds, allowed)[offset : offset + limit], {}
    key = (str(catalog.dir), catalog.table_version(), where, order, sort, tuple(kinds))
    with _ORDERS_LOCK:
        ids = _ORDERS.get(key)
    if ids is None:
        ids = all_ordered(catalog.to_arrow, where, order, sort, kinds, None)
        with _ORDERS_LOCK:
            _ORDERS[key] = ids
            while len(_ORDERS) > KEEP_ORDERS:
                _ORDERS.popitem(last=False)
    return ids[offset : offset + limit], {}


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
    wanted: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One page's rows from the first `window` rows in order, the window widened while hidden stack members and
    rows the plugin filters refuse leave it short."""
    want = offset + limit
    window = want if not kinds and allowed is None else max(2 * want, 200)
    stack_columns = [k.column for k in kinds if k.column != order]
    have = set(catalog.schema.names)
    columns = list(dict.fromkeys(["id", order, "mtime_ns", *stack_columns, *(c for c in wanted if c in have)]))
    while True:
        rows, exhausted = _top_rows(catalog, where, columns, order, sort, window)
        listed = [r for r in rows if allowed is None or r["id"] in allowed]
        if kinds:
            listed = _without_shown_members(catalog, where, listed, kinds, allowed, exhausted)
        if len(listed) >= want or exhausted:
            return listed[offset:want]
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
    # their mtime (the same order as its local ISO text, but for the hour a clock change repeats), merged. With
    # the BTREE indexes a scan builds, each reads only its newest rows (`newest_rows`), not the whole column.
    indexed = catalog.indexed_columns()
    dated_by = [("taken_at", False), ("mtime_ns", False), ("id", False)]
    dated, dated_all = newest_rows(
        catalog, lambda bound: top(bound or "taken_at IS NOT NULL AND taken_at <> ''", dated_by),  # (bound: not empty)
        "taken_at", _iso_at, window, indexed,
    )  # fmt: skip
    undated_clause = "(taken_at IS NULL OR taken_at = '')"
    floor = _mtime_floor(dated[-1]["taken_at"]) if len(dated) >= window else None
    undated_by = [("mtime_ns", False), ("id", False)]
    if floor is not None:  # only undated rows at least as new as the window's oldest dated one can join it
        undated, undated_all = top(_and(undated_clause, f"mtime_ns >= {floor}"), undated_by), False
    else:
        undated, undated_all = newest_rows(
            catalog, lambda bound: top(_and(undated_clause, bound), undated_by), "mtime_ns", _ns_at, window, indexed
        )
    merged = sorted(dated + undated, key=lambda r: date_key(r["taken_at"], r["mtime_ns"], r["id"]), reverse=True)
    return merged[:window], dated_all and undated_all and len(merged) <= window


# Index-only counts look this many days back for a bound above which the newest rows lie (1 day .. ~180 years).
_SPAN_DAYS = tuple(float(2**i) for i in range(17))
_LAST_SPAN: dict[tuple[str, str], float] = {}
# ... narrowed (to a minute) until at most this many times the rows wanted lie there: the rows above the bound are
# read by position, and each costs about as much as an index-only count of them all.
_NARROW = 1.5


def newest_rows(
    catalog: Catalog,
    query: Callable[[str], list[dict[str, Any]]],
    column: str,
    literal_at: Callable[[datetime], str],
    window: int,
    indexed: Set[str],
) -> tuple[list[dict[str, Any]], bool]:
    """`query(bound)`'s rows (the first `window` by `column`, newest first) and whether they are all there are:
    with a BTREE index on `column`, first under `column >= bound`, the bound found by index-only counts of the
    rows since a span of days ago (at least `window`, few more); the span widened 4× while the filters leave
    fewer than `window` there, then no bound. Exact: every row under the bound is older than those above it."""
    days = _newest_span(catalog, column, literal_at, window) if column in indexed else None
    while days is not None:
        rows = query(f"{column} >= {literal_at(datetime.now() - timedelta(days=days))}")
        if len(rows) >= window:
            return rows, False
        days = days * 4 if days * 4 <= _SPAN_DAYS[-1] else None
    rows = query("")
    return rows, len(rows) < window


def _newest_span(catalog: Catalog, column: str, literal_at: Callable[[datetime], str], want: int) -> float | None:
    """The fewest days back (to a minute) since which at least `want` rows have `column` (any filter aside),
    narrowed until at most `_NARROW` × `want` do; None when not even the widest span holds `want`. The span found last
    for this catalog and column is tried first (one count when the library has not changed much)."""
    now = datetime.now()

    def count(days: float) -> int:
        return catalog.count(f"{column} >= {literal_at(now - timedelta(days=days))}")

    key = (str(catalog.location), column)
    hint = _LAST_SPAN.get(key)
    if hint is not None and want <= count(hint) <= _NARROW * want:
        return hint
    low, high, found = 0.0, None, 0
    for days in _SPAN_DAYS:
        found = count(days)
        if found >= want:
            high = days
            break
        low = days
    if high is None:
        return None
    for _ in range(16):
        if found <= _NARROW * want or high - low < 1 / 1440:
            break
        middle = (low + high) / 2
        at_middle = count(middle)
        if at_middle >= want:
            high, found = middle, at_middle
        else:
            low = middle
    _LAST_SPAN[key] = high
    return high


def _iso_at(moment: datetime) -> str:
    return sql_str(moment.strftime("%Y-%m-%dT%H:%M:%S"))


def _ns_at(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1e9))


def _mtime_floor(taken_at: Any) -> int | None:
    """A file time (ns) below which no undated row's local ISO time reaches `taken_at`: two days of margin for
    time zones and clock changes; None when the text is not a date."""
    try:
        moment = datetime.fromisoformat(str(taken_at)[:19])
    except ValueError:
        return None
    return int((moment.replace(tzinfo=UTC) - timedelta(days=2)).timestamp() * 1e9)


def _and(*clauses: str) -> str:
    return " AND ".join(c for c in clauses if c)


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
