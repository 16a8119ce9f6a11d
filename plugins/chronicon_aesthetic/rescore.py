"""Writing scores back to the catalog: with the learned head when there is one, else the heuristic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chronicon.api import Catalog, col

from .analyzer import HEURISTIC
from .head import Head, features_for, parts_vector
from .metrics import PARTS, combine

_COLUMNS = ["id", "path", "kind", "aesthetic", "aesthetic_parts", "aesthetic_source", "missing"]
_BLOCK = 20_000  # rows per feature block and per `update_columns` commit
_PRESENT = col("aesthetic_parts").not_null() & col("missing").is_not_true()


def has_columns(catalog: Catalog) -> bool:
    """Whether the catalog has the aesthetic columns (the pass is or was enabled)."""
    return {"aesthetic", "aesthetic_parts", "aesthetic_source"} <= set(catalog.schema.names)


def scored_rows(catalog: Catalog, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Present assets with heuristic parts (all of them, or these ids)."""
    if ids is None:
        rows = list(catalog.rows(col("aesthetic_parts").not_null(), _COLUMNS))
    else:
        rows = list(catalog.rows_by_id(list(ids), _COLUMNS).values())
    return [r for r in rows if r.get("aesthetic_parts") and not r.get("missing")]


def unscored_ids(catalog: Catalog, head: Head) -> list[str]:
    """Present assets whose score does not come from this head (new or re-analysed ones get the heuristic)."""
    source = col("aesthetic_source")
    where = _PRESENT & (source.is_null() | (source != head.source))
    return [str(v) for v in catalog.to_arrow(["id"], where=where).column("id").to_pylist()]


def has_head_scores(catalog: Catalog) -> bool:
    """Whether any asset's score still comes from a learned head."""
    source = col("aesthetic_source")
    where = source.not_null() & (source != HEURISTIC)
    return len(catalog.to_arrow(["id"], where=where)) > 0


def _block_rows(catalog: Catalog, ids: list[str] | None) -> Iterable[list[dict[str, Any]]]:
    """The rows to score, `_BLOCK` at a time (all present scored assets, or these ids)."""
    if ids is None:
        data = catalog.to_arrow(["id", "aesthetic", "aesthetic_parts", "aesthetic_source"], where=_PRESENT)
        for start in range(0, len(data), _BLOCK):
            yield data.slice(start, _BLOCK).to_pylist()
        return
    for start in range(0, len(ids), _BLOCK):
        yield scored_rows(catalog, ids[start : start + _BLOCK])


def rescore(
    catalog: Catalog, head: Head | None, weights: dict[str, float], ids: Iterable[str] | None = None
) -> dict[str, int]:
    """Re-score assets (all, or these ids) and write `aesthetic` / `aesthetic_source`, one commit per block of
    20,000 rows; features are built per block, in float32.

    With a head, assets that have every feature get the head's score; the others (no vector in the head's
    space yet) keep the heuristic. Returns counts {"head": n, "heuristic": m}. The caller holds the scan lock."""
    counts = {"head": 0, "heuristic": 0}
    for rows in _block_rows(catalog, None if ids is None else sorted(set(ids))):
        by_head: dict[str, float] = {}
        if head is not None and rows:
            kept, matrix, _left = features_for(catalog, rows, head.space, dtype=np.float32)
            if kept and matrix.shape[1] == len(head.mean):
                for row, value in zip(kept, head.score(matrix).tolist(), strict=True):
                    by_head[row["id"]] = round(float(value), 6)
        updates: list[dict[str, Any]] = []
        for row in rows:
            if head is not None and row["id"] in by_head:
                value, source = by_head[row["id"]], head.source
                counts["head"] += 1
            else:
                parts = parts_vector(row["aesthetic_parts"])
                if parts is None:
                    continue
                value = round(combine(dict(zip(PARTS, parts.tolist(), strict=True)), weights), 6)
                source = HEURISTIC
                counts["heuristic"] += 1
            if row.get("aesthetic") != value or row.get("aesthetic_source") != source:  # unchanged: not rewritten
                updates.append({"id": row["id"], "aesthetic": value, "aesthetic_source": source})
        catalog.update_columns(updates)
    return counts
