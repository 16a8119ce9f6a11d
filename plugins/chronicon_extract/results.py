"""Reading extraction results back from the catalog: the `--field FIELD=VALUE` filter and the export rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from chronicon.api import Catalog, ExtensionError, Where, col, display_path

from .terms import norm

_STORED = col("extracted").not_null() & col("missing").is_not_true()


def stored(catalog: Catalog, where: Where | None = None) -> Iterator[dict[str, Any]]:
    """Rows with results (and the extra condition): id, path, values (dict), flags, schema."""
    if "extracted" not in catalog.schema.names:
        return
    condition = _STORED if where is None else _STORED & where
    for row in catalog.rows(where=condition, columns=["id", "path", "extracted", "extract_flags", "extract_schema"]):
        try:
            values = json.loads(row["extracted"])
        except ValueError:
            continue
        if isinstance(values, dict):
            yield {"id": row["id"], "path": display_path(str(row["path"])), "values": values,
                   "flags": list(row.get("extract_flags") or []), "schema": row.get("extract_schema")}  # fmt: skip


def parse_condition(value: Any) -> tuple[str, str]:
    """`event_type=crash` -> ("event_type", "crash")."""
    name, sep, wanted = str(value).partition("=")
    if not sep or not name.strip():
        raise ExtensionError(f"--field {value!r}: expected FIELD=VALUE, e.g. --field event_type=crash")
    return name.strip(), wanted.strip()


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def matching_ids(catalog: Catalog, value: Any) -> set[str]:
    """Assets whose extracted FIELD equals VALUE (case, spacing and punctuation aside)."""
    name, wanted = parse_condition(value)
    target = norm(wanted)
    # Only rows whose stored JSON holds every word of the value can match: the query narrows, Python decides.
    narrow = Where.all_of(col("extracted").contains(word) for word in target.split())
    return {
        r["id"] for r in stored(catalog, narrow) if name in r["values"] and norm(_shown(r["values"][name])) == target
    }


def export_rows(catalog: Catalog, id_by: str = "path") -> list[dict[str, Any]]:
    """One object per asset, {"id": path or asset id, field: value, ...}: the `--pred` input of `eval extract`."""
    rows = [{"id": r[id_by], **r["values"]} for r in stored(catalog)]
    return sorted(rows, key=lambda r: str(r["id"]))


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with an id column (the shape of a `--truth` file: a start for labelling by hand)."""
    columns = ["id"]
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else (_shown(v) if isinstance(v, bool) else v) for k, v in row.items()})
    return out.getvalue()
