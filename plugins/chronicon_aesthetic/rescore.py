"""Writing scores back to the catalog: with the learned head when there is one, else the heuristic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .analyzer import HEURISTIC
from .head import Head, features_for, parts_vector
from .metrics import PARTS, combine

_COLUMNS = ["id", "path", "kind", "aesthetic", "aesthetic_parts", "aesthetic_source", "missing"]
_CHUNK = 500


def has_columns(catalog: Any) -> bool:
    """Whether the catalog has the aesthetic columns (the pass is or was enabled)."""
    return {"aesthetic", "aesthetic_parts", "aesthetic_source"} <= set(catalog.schema.names)


def scored_rows(catalog: Any, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Present assets with heuristic parts (all of them, or these ids)."""
    if ids is None:
        rows = list(catalog.rows("aesthetic_parts IS NOT NULL", _COLUMNS))
    else:
        rows = list(catalog.rows_by_id(list(ids), _COLUMNS).values())
    return [r for r in rows if r.get("aesthetic_parts") and not r.get("missing")]


def rescore(
    catalog: Any, head: Head | None, weights: dict[str, float], ids: Iterable[str] | None = None
) -> dict[str, int]:
    """Re-score assets (all, or these ids) and write `aesthetic` / `aesthetic_source` in one commit per chunk.

    With a head, assets that have every feature get the head's score; the others (no vector in the head's
    space yet) keep the heuristic. Returns counts {"head": n, "heuristic": m}. The caller holds the scan lock."""
    rows = scored_rows(catalog, ids)
    updates: list[dict[str, Any]] = []
    counts = {"head": 0, "heuristic": 0}
    by_head: dict[str, float] = {}
    if head is not None and rows:
        kept, matrix, _left = features_for(catalog, rows, head.space)
        if kept and matrix.shape[1] == len(head.mean):
            for row, value in zip(kept, head.score(matrix), strict=True):
                by_head[row["id"]] = round(float(value), 6)
    for row in rows:
        if row["id"] in by_head and head is not None:
            updates.append({"id": row["id"], "aesthetic": by_head[row["id"]], "aesthetic_source": head.source})
            counts["head"] += 1
            continue
        parts = parts_vector(row["aesthetic_parts"])
        if parts is None:
            continue
        value = round(combine(dict(zip(PARTS, parts.tolist(), strict=True)), weights), 6)
        updates.append({"id": row["id"], "aesthetic": value, "aesthetic_source": HEURISTIC})
        counts["heuristic"] += 1
    for start in range(0, len(updates), _CHUNK):
        catalog.update_columns(updates[start : start + _CHUNK])
    return counts
