"""The engine's kept prefilters: the same results as without them, and a write to the catalog is seen at once."""

from __future__ import annotations

from typing import Any

from chronicon.catalog.schema import empty_row
from chronicon.catalog.vectors import VectorRow
from chronicon.search.engine import SearchEngine
from chronicon.search.filters import Filters
from vectorfactory import DIM, SPACE, AxisEncoder, unit


def _ids(hits: list[Any]) -> list[str]:
    return [h.asset_id for h in hits]


def test_kept_prefilters_give_the_same_results(engine: SearchEngine, filled_catalog: Any) -> None:
    uncached = SearchEngine(filled_catalog, [], {"hybrid": True, "cutoff": False, "prefilter_cache": 0},
                            encoders=[AxisEncoder()])  # fmt: skip
    for filters in (Filters(camera="canon"), Filters(after="2023"), Filters(kind="image"), Filters()):
        for query in ("cat", "beach sunset", "dog"):
            first = _ids(engine.search(query, filters=filters))
            assert first == _ids(engine.search(query, filters=filters)) == _ids(uncached.search(query, filters=filters))
    assert len(engine._prefilters) == 3 and not uncached._prefilters  # (no filter: nothing to keep)


def test_a_new_asset_passes_a_kept_filter_at_once(engine: SearchEngine, filled_catalog: Any) -> None:
    filters = Filters(camera="canon")
    assert "a-newcat" not in _ids(engine.search("cat", filters=filters))
    row = empty_row(filled_catalog.schema)
    row.update(id="a-newcat", path="/photos/a-newcat.jpg", kind="image", taken_at="2024-05-01T10:00:00",
               camera_make="Canon", camera_model="EOS R6", labels=["cat"], status="ok", size=1, mtime_ns=0)  # fmt: skip
    filled_catalog.upsert([row])
    filled_catalog.vector_table(SPACE, DIM).replace([VectorRow("a-newcat", unit(cat=1.0))])
    assert "a-newcat" in _ids(engine.search("cat", filters=filters))
    filled_catalog.update_columns([{"id": "a-newcat", "camera_make": "NIKON"}])
    assert "a-newcat" not in _ids(engine.search("cat", filters=filters))


def test_kept_result_rows_are_copies_and_follow_writes(engine: SearchEngine, filled_catalog: Any) -> None:
    filters = Filters(camera="canon")
    first = engine.search("cat", filters=filters)
    assert engine._prefilter_rows  # a small filter: its assets' result rows are kept
    first[0].row["camera_model"] = "changed by a caller"
    again = engine.search("cat", filters=filters)
    assert again[0].asset_id == first[0].asset_id and again[0].row["camera_model"] == "EOS R5"
    filled_catalog.update_columns([{"id": first[0].asset_id, "camera_model": "EOS R5 Mark II"}])
    assert engine.search("cat", filters=filters)[0].row["camera_model"] == "EOS R5 Mark II"


def test_a_small_filters_rows_are_read_by_row_id_and_equal_a_scan(engine: SearchEngine, filled_catalog: Any) -> None:
    filters = Filters(camera="canon")
    hits = engine.search("cat", filters=filters)
    _, allowed, row_ids = engine._prefilters[filters.where()]
    assert row_ids is not None and len(row_ids) == len(allowed)  # few: their row ids were kept with them
    (kept,) = engine._prefilter_rows.values()
    columns = sorted(next(iter(kept[1].values())))
    scanned = {r["id"]: r for r in filled_catalog.to_arrow(columns, where=filters.where()).to_pylist()}
    assert kept[1] == scanned  # what `rows_at` read is what a second scan of the filter would have
    assert all({c: h.row[c] for c in columns} == scanned[h.asset_id] for h in hits)
