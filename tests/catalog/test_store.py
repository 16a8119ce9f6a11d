"""The LanceDB catalog: creation, batched upserts, the diff index, missing marks, migrations."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from chronicon.catalog import schema as schema_mod
from chronicon.catalog.schema import SCHEMA_VERSION, empty_row
from chronicon.catalog.store import Catalog, display_path, fs_path, raw_path
from chronicon.errors import CatalogError


def _row(catalog: Catalog, ident: str, path: str, **values: Any) -> dict[str, Any]:
    row = empty_row(catalog.schema)
    row.update(
        id=ident,
        path=display_path(path),
        path_raw=raw_path(path),
        kind="image",
        size=10,
        mtime_ns=1,
        status="ok",
        missing=False,
    )
    row.update(values)
    return row


def test_new_catalog_has_tables_and_version(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "cat")
    assert catalog.schema_version == SCHEMA_VERSION
    assert catalog.count() == 0
    assert "created_at" in catalog.meta()
    assert catalog.stats()["assets"] == 0


def test_upsert_is_by_id_and_index_reads_back(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.upsert([_row(catalog, "a", "/x/a.jpg"), _row(catalog, "b", "/x/b.jpg")])
    catalog.upsert([_row(catalog, "a", "/x/moved.jpg", size=11)])
    assert catalog.count() == 2
    index = {e.id: e for e in catalog.index()}
    assert index["a"].path == "/x/moved.jpg"
    assert index["a"].size == 11
    assert catalog.rows_by_id(["b"])["b"]["path"] == "/x/b.jpg"
    assert catalog.row_by_path("/x/moved.jpg")["id"] == "a"  # type: ignore[index]
    assert catalog.row_by_path("/nope") is None


def test_paths_that_are_not_utf8_round_trip(tmp_path: Path) -> None:
    odd = os.fsdecode(b"/x/caf\xe9 'quoted'.jpg")
    catalog = Catalog(tmp_path)
    catalog.upsert([_row(catalog, "a", odd)])
    entry = catalog.index()[0]
    assert entry.path == odd
    row = catalog.row_by_path(odd)
    assert row is not None
    assert fs_path(row) == odd
    assert "\\xe9" in row["path"]


def test_mark_missing_and_delete(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.upsert([_row(catalog, str(i), f"/x/{i}.jpg") for i in range(3)])
    when = datetime(2026, 1, 1, tzinfo=UTC)
    catalog.mark_missing(["0"], when)
    index = {e.id: e for e in catalog.index()}
    assert index["0"].missing and index["0"].missing_since == when
    assert not index["1"].missing
    catalog.delete(["0", "1"])
    assert [e.id for e in catalog.index()] == ["2"]
    assert catalog.stats()["assets"] == 1


def test_reopen_keeps_rows_and_plugin_columns_are_added(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.upsert([_row(catalog, "a", "/x/a.jpg")])
    again = Catalog(tmp_path, extra_columns={"aesthetic": pa.float64()})
    assert "aesthetic" in again.schema.names
    assert again.rows_by_id(["a"])["a"]["aesthetic"] is None


def test_migrations_run_step_by_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Catalog(tmp_path)  # version 1
    ran: list[int] = []

    def step(n: int) -> Any:
        def migrate(db: Any) -> None:
            ran.append(n)
            if n == SCHEMA_VERSION + 1:
                db.open_table("assets").add_columns(pa.field("labels", pa.list_(pa.string())))

        return migrate

    monkeypatch.setattr(schema_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    monkeypatch.setattr("chronicon.catalog.store.SCHEMA_VERSION", SCHEMA_VERSION + 2)
    monkeypatch.setitem(schema_mod.MIGRATIONS, SCHEMA_VERSION + 1, step(SCHEMA_VERSION + 1))
    monkeypatch.setitem(schema_mod.MIGRATIONS, SCHEMA_VERSION + 2, step(SCHEMA_VERSION + 2))
    catalog = Catalog(tmp_path)
    assert ran == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]
    assert catalog.schema_version == SCHEMA_VERSION + 2
    assert "labels" in catalog.schema.names
    Catalog(tmp_path)
    assert ran == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]  # nothing runs twice


def test_catalog_from_a_newer_chronicon_is_refused(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.set_meta("schema_version", str(SCHEMA_VERSION + 5))
    with pytest.raises(CatalogError, match="newer than this Chronicon"):
        Catalog(tmp_path)


def test_a_version_1_catalog_gets_the_sidecars_column(tmp_path: Path) -> None:
    import lancedb

    # What Chronicon before XMP support left: the assets table without `sidecars`, schema version 1.
    old = pa.schema([f for f in schema_mod.ASSETS_SCHEMA if f.name != "sidecars"])
    db = lancedb.connect(str(tmp_path))
    db.create_table(schema_mod.META_TABLE, schema=schema_mod.META_SCHEMA)
    meta = pa.Table.from_pylist([{"key": "schema_version", "value": "1"}], schema=schema_mod.META_SCHEMA)
    db.open_table(schema_mod.META_TABLE).add(meta)
    row = {**dict.fromkeys(old.names), "id": "a", "path": "/p/a.jpg", "size": 3, "mtime_ns": 7, "missing": False}
    db.create_table(schema_mod.ASSETS_TABLE, data=pa.Table.from_pylist([row], schema=old))
    catalog = Catalog(tmp_path)
    assert catalog.schema_version == SCHEMA_VERSION and "sidecars" in catalog.schema.names
    [entry] = catalog.index()
    assert entry.id == "a" and entry.sidecars is None and entry.size == 3


def test_a_version_2_catalog_gets_the_taken_at_source_columns(tmp_path: Path) -> None:
    import lancedb

    # What Chronicon before issue 19's dates left: no `taken_at_source` / `taken_at_offset`, schema version 2.
    new = ("taken_at_source", "taken_at_offset")
    old = pa.schema([f for f in schema_mod.ASSETS_SCHEMA if f.name not in new])
    db = lancedb.connect(str(tmp_path))
    db.create_table(schema_mod.META_TABLE, schema=schema_mod.META_SCHEMA)
    meta = pa.Table.from_pylist([{"key": "schema_version", "value": "2"}], schema=schema_mod.META_SCHEMA)
    db.open_table(schema_mod.META_TABLE).add(meta)
    row = {
        **dict.fromkeys(old.names),
        "id": "a",
        "path": "/p/a.jpg",
        "taken_at": "2020-01-02T03:04:05",
        "missing": False,
    }
    db.create_table(schema_mod.ASSETS_TABLE, data=pa.Table.from_pylist([row], schema=old))
    catalog = Catalog(tmp_path)
    assert catalog.schema_version == 3 and set(new) <= set(catalog.schema.names)
    got = catalog.rows_by_id(["a"])["a"]
    assert got["taken_at"] == "2020-01-02T03:04:05" and got["taken_at_source"] is None
