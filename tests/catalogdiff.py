"""Differences between two catalogs of the same library: asset rows column by column and every vector space's
vectors, by path (ids, timestamps and timings differ between any two scans and are left out)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from chronicon.library import Library

VOLATILE_COLUMNS = {"id", "first_seen", "updated_at"}
VOLATILE_PHASE_KEYS = {"at", "seconds"}


def _by_path(library: Library) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    rows = {r["path"]: r for r in library.catalog.rows()}
    return rows, {r["id"]: path for path, r in rows.items()}


def _neutral(value: Any, id_to_path: dict[str, str]) -> Any:
    """A value with every asset id in it replaced by that asset's path (ids are random per scan)."""
    if isinstance(value, str):
        for asset_id, path in id_to_path.items():
            value = value.replace(asset_id, f"<{path}>")
        return re.sub(r"thumbnails/[0-9a-f]{2}/<", "thumbnails/<", value)  # thumbnails/<id[:2]>/<id>.webp
    if isinstance(value, list):
        return [_neutral(v, id_to_path) for v in value]
    if isinstance(value, dict):
        return {k: _neutral(v, id_to_path) for k, v in value.items()}
    return value


def comparable(row: dict[str, Any], id_to_path: dict[str, str]) -> dict[str, Any]:
    """A catalog row without what differs between two scans of the same files."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in VOLATILE_COLUMNS:
            continue
        if key == "phases" and value:
            phases = json.loads(value)
            value = {n: {k: v for k, v in r.items() if k not in VOLATILE_PHASE_KEYS} for n, r in phases.items()}
        out[key] = _neutral(value, id_to_path)
    return out


def catalog_differences(one: Library, other: Library, *, atol: float = 1e-5) -> list[str]:
    """What differs between the two catalogs (empty: the same), one line per difference."""
    problems: list[str] = []
    rows_a, paths_a = _by_path(one)
    rows_b, paths_b = _by_path(other)
    if sorted(rows_a) != sorted(rows_b):
        problems.append(f"paths differ: {sorted(set(rows_a) ^ set(rows_b))[:10]}")
    for path in sorted(set(rows_a) & set(rows_b)):
        a, b = comparable(rows_a[path], paths_a), comparable(rows_b[path], paths_b)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                problems.append(f"{path}: {key}: {a.get(key)!r} != {b.get(key)!r}")
        thumb = rows_b[path].get("thumbnail")
        if thumb and not (other.catalog_dir / thumb).is_file():
            problems.append(f"{path}: thumbnail {thumb} is missing")
    spaces = sorted(one.catalog.vector_spaces())
    if spaces != sorted(other.catalog.vector_spaces()):
        problems.append(f"vector spaces differ: {spaces} != {sorted(other.catalog.vector_spaces())}")
    for space in spaces:
        table_a, table_b = one.catalog.open_vector_table(space), other.catalog.open_vector_table(space)
        if table_a is None or table_b is None:
            continue
        vectors_a = {paths_a[i]: rows for i, rows in table_a.vectors_for(paths_a).items()}
        vectors_b = {paths_b[i]: rows for i, rows in table_b.vectors_for(paths_b).items()}
        if set(vectors_a) != set(vectors_b):
            problems.append(f"{space}: assets with vectors differ: {sorted(set(vectors_a) ^ set(vectors_b))[:10]}")
        for path in sorted(set(vectors_a) & set(vectors_b)):
            mine, theirs = vectors_a[path], vectors_b[path]
            if [(r.segment, r.content_hash) for r in mine] != [(r.segment, r.content_hash) for r in theirs]:
                problems.append(f"{space}: {path}: segments or content hashes differ")
            elif not all(np.allclose(x.vector, y.vector, atol=atol) for x, y in zip(mine, theirs, strict=True)):
                problems.append(f"{space}: {path}: vectors differ")
    return problems
