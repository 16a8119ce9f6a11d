"""Typed plugin storage: PluginTable's commits and reads, and `col`/`Where` filters that quote every value."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from chronicon.catalog.store import Catalog
from chronicon.catalog.tables import Where, col

SCHEMA = pa.schema([pa.field("key", pa.string()), pa.field("n", pa.int64()), pa.field("owner", pa.string())])


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog")


def test_a_table_reads_empty_before_its_first_write_and_is_made_by_it(catalog: Catalog) -> None:
    table = catalog.plugin_table("test_things", SCHEMA, key=["key"])
    assert not table.exists() and table.count() == 0
    assert table.read().schema == SCHEMA and table.read(["n"]).column_names == ["n"]
    table.upsert([{"key": "a", "n": 1, "owner": "x"}])
    assert table.exists() and table.rows() == [{"key": "a", "n": 1, "owner": "x"}]


def test_upsert_replaces_by_key_and_replacing_deletes_in_the_same_commit(catalog: Catalog) -> None:
    table = catalog.plugin_table("test_things", SCHEMA, key=["key"])
    table.upsert([{"key": k, "n": i, "owner": "x" if i < 3 else "y"} for i, k in enumerate("abcde")])
    before = table.version()
    # The rows of owner x become exactly these two: a changes, d is new, b and c go; y's rows stay.
    table.upsert([{"key": "a", "n": 10, "owner": "x"}, {"key": "z", "n": 11, "owner": "x"}],
                 replacing=col("owner") == "x")  # fmt: skip
    assert table.version() == before + 1
    assert {r["key"]: r["n"] for r in table.rows()} == {"a": 10, "z": 11, "d": 3, "e": 4}
    table.upsert([], replacing=col("owner") == "y")
    assert sorted(r["key"] for r in table.rows()) == ["a", "z"]


def test_a_newer_schema_adds_its_columns_and_old_rows_read_null(catalog: Catalog) -> None:
    catalog.plugin_table("test_things", SCHEMA, key=["key"]).upsert([{"key": "a", "n": 1, "owner": "x"}])
    wider = SCHEMA.append(pa.field("note", pa.string()))
    table = catalog.plugin_table("test_things", wider, key=["key"])
    assert table.rows() == [{"key": "a", "n": 1, "owner": "x", "note": None}]
    table.upsert([{"key": "b", "n": 2, "owner": "x", "note": "hi"}])
    assert table.count(col("note").not_null()) == 1


def test_values_are_quoted_so_no_value_changes_the_query(catalog: Catalog) -> None:
    table = catalog.plugin_table("test_things", SCHEMA, key=["key"])
    table.upsert([{"key": "o'brien", "n": 1, "owner": "x"}, {"key": "100%_sure", "n": 2, "owner": "x"},
                  {"key": "plain", "n": 3, "owner": "x"}])  # fmt: skip
    assert [r["n"] for r in table.rows(where=col("key") == "o'brien")] == [1]
    assert table.count(col("key") == "x' OR '1'='1") == 0
    assert [r["n"] for r in table.rows(where=col("key").contains("%_S"))] == [2]  # wildcards match literally
    assert table.count(col("key").contains("%")) == 1
    assert table.count(col("key").isin(["plain", "o'brien"]) & ~(col("n") > 2)) == 1
    assert table.count(col("key").isin([])) == 0


def test_filters_render_typed_literals() -> None:
    assert (col("n") >= 2).sql() == "n >= 2"
    assert (col("flag") == True).sql() == "flag = true"  # noqa: E712 - a comparison that builds a filter
    assert (col("at") > datetime(2024, 1, 2, 3, 4, 5)).sql() == "at > timestamp '2024-01-02 03:04:05'"
    assert col("missing").is_not_true().sql() == "(missing IS NULL OR missing = false)"
    assert Where.all_of([None, col("a") == 1, col("b") == 2]).sql() == "(a = 1) AND (b = 2)"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="column name"):
        col("a; drop")
    with pytest.raises(TypeError):
        col("a") == object()  # noqa: B015


def test_plugin_table_names_cannot_collide_with_the_core_tables(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="plugin table names"):
        catalog.plugin_table("vectors__x", SCHEMA)


def test_assets_and_vector_tables_take_the_same_filters(catalog: Catalog) -> None:
    from chronicon.catalog.schema import empty_row
    from chronicon.catalog.vectors import VectorRow

    rows = []
    for i, path in enumerate(["/p/a.jpg", "/p/sub/b.jpg", "/q/c.jpg"]):
        row = empty_row(catalog.schema)
        row.update(id=f"id{i}", path=path, kind="image", status="ok", size=1, mtime_ns=0)
        rows.append(row)
    catalog.upsert(rows)
    assert catalog.count(col("path").startswith("/p/")) == 2
    assert catalog.count(col("path").directly_in("/p/")) == 1
    vectors = catalog.vector_table("test-space", 2)
    vectors.replace([VectorRow("id0", pa.array([1.0, 0.0]).to_numpy(), segment=0),
                     VectorRow("id0", pa.array([0.0, 1.0]).to_numpy(), segment=1)])  # fmt: skip
    assert vectors.read(["asset_id", "segment"], col("segment") == 0).to_pylist() == [{"asset_id": "id0", "segment": 0}]
