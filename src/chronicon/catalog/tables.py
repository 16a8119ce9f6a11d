"""Typed plugin storage: `PluginTable` (a plugin's own LanceDB table) and `col`/`Where`, filters without SQL strings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from chronicon.catalog.faults import guard


def _literal(value: Any) -> str:
    """A value as a LanceDB (DataFusion) SQL literal; strings are quoted, so no value can change the query."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:  # NaN
            raise ValueError("NaN cannot be compared")
        return repr(value)
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot compare a column with a {type(value).__name__}")


def _name(column: str) -> str:
    if not column.replace("_", "").isalnum():
        raise ValueError(f"not a column name: {column!r}")
    return column


class Where:
    """A filter on a table's rows, built from `col(...)` comparisons and `&`, `|`, `~` (renders its own SQL)."""

    def __init__(self, sql: str) -> None:
        self._sql = sql

    def sql(self) -> str:
        return self._sql

    def __and__(self, other: Where) -> Where:
        return Where(f"({self._sql}) AND ({other._sql})")

    def __or__(self, other: Where) -> Where:
        return Where(f"({self._sql}) OR ({other._sql})")

    def __invert__(self) -> Where:
        return Where(f"NOT ({self._sql})")

    def __repr__(self) -> str:
        return f"Where({self._sql!r})"

    @staticmethod
    def all_of(parts: Iterable[Where | None]) -> Where | None:
        """The parts joined by AND (None parts left out); None when there are none."""
        found = [p for p in parts if p is not None]
        if not found:
            return None
        out = found[0]
        for part in found[1:]:
            out = out & part
        return out


class Column:
    """One column in a filter: `col("key") == "x"`, `col("n") > 2`, `col("id").isin(ids)`, `.startswith(p)`."""

    def __init__(self, name: str) -> None:
        self.name = _name(name)

    def _cmp(self, op: str, value: Any) -> Where:
        return Where(f"{self.name} {op} {_literal(value)}")

    def __eq__(self, value: object) -> Where:  # type: ignore[override]
        return self.is_null() if value is None else self._cmp("=", value)

    def __ne__(self, value: object) -> Where:  # type: ignore[override]
        return self.not_null() if value is None else self._cmp("!=", value)

    def __lt__(self, value: Any) -> Where:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> Where:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> Where:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> Where:
        return self._cmp(">=", value)

    __hash__ = None  # type: ignore[assignment]

    def isin(self, values: Iterable[Any]) -> Where:
        found = list(values)
        if not found:
            return Where("false")
        return Where(f"{self.name} IN ({', '.join(_literal(v) for v in found)})")

    def is_null(self) -> Where:
        return Where(f"{self.name} IS NULL")

    def not_null(self) -> Where:
        return Where(f"{self.name} IS NOT NULL")

    def is_true(self) -> Where:
        """True (a null counts as false)."""
        return Where(f"{self.name} = true")

    def is_not_true(self) -> Where:
        """False or null (e.g. `missing`, which older rows leave null)."""
        return Where(f"({self.name} IS NULL OR {self.name} = false)")

    def startswith(self, prefix: str) -> Where:
        return Where(f"starts_with({self.name}, {_literal(prefix)})")

    def directly_in(self, folder: str) -> Where:
        """A path column naming a file directly in `folder` (which ends with "/"), not in a subfolder."""
        return Where(
            f"starts_with({self.name}, {_literal(folder)}) AND strpos(substr({self.name}, {len(folder) + 1}), '/') = 0"
        )

    def contains(self, text: str, *, case: bool = False) -> Where:
        """The text column contains `text` (case-insensitively unless `case`); LIKE wildcards in it match literally."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        target = self.name if case else f"lower({self.name})"
        needle = escaped if case else escaped.lower()
        return Where(f"{target} LIKE {_literal('%' + needle + '%')} ESCAPE '\\'")


def col(name: str) -> Column:
    """A column of a table, for building a `Where`."""
    return Column(name)


def where_sql(where: Where | str | None) -> str | None:
    """The SQL text of a filter (strings are the catalog's own, trusted filters)."""
    if where is None:
        return None
    return where.sql() if isinstance(where, Where) else where


def chunked(values: Iterable[Any], size: int = 2_000) -> Iterator[list[Any]]:
    """Distinct values in sorted chunks of `size`, for `col(...).isin(chunk)` over many ids."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


class PluginTable:
    """A plugin's own table in the catalog: its schema declared once, created on the first write, new columns added
    when a newer plugin version declares more; reads see the latest commit (also another process's). Storage
    errors are one-line `CatalogError`s naming the table (exit code 3). Writers hold the scan lock."""

    def __init__(self, db: Any, name: str, schema: pa.Schema, *, key: Sequence[str] = (), folder: Path) -> None:
        if not name.replace("_", "").isalnum() or "__" in name:
            raise ValueError(f"plugin table names are letters, digits and single _ (e.g. faces_people), not {name!r}")
        self._db = db
        self.name = name
        self.schema = schema
        self.key = list(key)
        self._folder = folder
        self._table: Any = None

    def fault_place(self) -> tuple[str, Path]:
        return self.name, self._folder

    # -- opening ---------------------------------------------------------------------------------------
    def _open(self) -> Any | None:
        """The table at its latest version, or None when nothing was ever written (opening writes nothing)."""
        if self._table is not None:
            self._table.checkout_latest()
            return self._table
        try:
            self._table = self._db.open_table(self.name)
        except (ValueError, FileNotFoundError):  # "Table 'x' was not found"
            return None
        return self._table

    def _writable(self) -> Any:
        table = self._open()
        if table is None:
            self._table = table = self._db.create_table(self.name, schema=self.schema, exist_ok=True)
        have = set(table.schema.names)
        new = [f for f in self.schema if f.name not in have]
        if new:  # made by an earlier version of the plugin
            table.add_columns(new)
        return table

    @guard("read")
    def exists(self) -> bool:
        return self._open() is not None

    # -- reading ---------------------------------------------------------------------------------------
    @guard("read")
    def read(self, columns: Sequence[str] | None = None, where: Where | None = None,
             limit: int | None = None) -> pa.Table:  # fmt: skip
        """Rows as Arrow (all columns unless `columns`); an empty table with the declared schema before any write."""
        table = self._open()
        if table is None:
            empty = self.schema.empty_table()
            return empty.select(list(columns)) if columns is not None else empty
        have = set(table.schema.names)
        query = table.search()
        if where is not None:
            query = query.where(where.sql())
        wanted = list(columns) if columns is not None else [f.name for f in self.schema]
        query = query.select([c for c in wanted if c in have]).limit(limit).with_row_id(False)
        data = query.to_arrow()
        for name in wanted:  # a column an earlier plugin version never wrote reads as nulls
            if name not in data.schema.names:
                data = data.append_column(self.schema.field(name), pa.nulls(len(data), self.schema.field(name).type))
        return data.select(wanted)

    def rows(self, columns: Sequence[str] | None = None, where: Where | None = None) -> list[dict[str, Any]]:
        return list(self.read(columns, where).to_pylist())

    @guard("read")
    def count(self, where: Where | None = None) -> int:
        table = self._open()
        return 0 if table is None else int(table.count_rows(where.sql() if where is not None else None))

    @guard("read")
    def version(self) -> int:
        table = self._open()
        return 0 if table is None else int(table.version)

    # -- writing (each call is one commit: all rows or none) --------------------------------------------
    def _arrow(self, rows: pa.Table | Sequence[Mapping[str, Any]]) -> pa.Table:
        if isinstance(rows, pa.Table):
            return rows.select([f.name for f in self.schema]).cast(self.schema)
        return pa.Table.from_pylist([dict(r) for r in rows], schema=self.schema)

    @guard("write")
    def upsert(self, rows: pa.Table | Sequence[Mapping[str, Any]], *, replacing: Where | None = None) -> None:
        """Insert rows or replace those with the same key (the table's `key` columns), in one commit. With
        `replacing`, the stored rows that match it and are not among `rows` are deleted in that same commit
        (e.g. `replacing=col("asset_id").isin(ids)`: these assets' rows become exactly `rows`)."""
        if not self.key:
            raise ValueError(f"table {self.name} has no key: use add() or replace()")
        data = self._arrow(rows)
        if not len(data):
            if replacing is not None:
                table = self._open()
                if table is not None:
                    table.delete(replacing.sql())
            return
        merge = self._writable().merge_insert(self.key).when_matched_update_all().when_not_matched_insert_all()
        if replacing is not None:
            merge = merge.when_not_matched_by_source_delete(replacing.sql())
        merge.execute(data)

    @guard("write")
    def add(self, rows: pa.Table | Sequence[Mapping[str, Any]]) -> None:
        data = self._arrow(rows)
        if len(data):
            self._writable().add(data)

    @guard("write")
    def replace(self, rows: pa.Table | Sequence[Mapping[str, Any]]) -> None:
        """All rows replaced by these, in one commit (readers see the old rows or the new, never a mix)."""
        self._writable().add(self._arrow(rows), mode="overwrite")

    @guard("write")
    def delete(self, where: Where) -> None:
        table = self._open()
        if table is not None:
            table.delete(where.sql())

    @guard("write")
    def update(self, where: Where, values: Mapping[str, Any]) -> None:
        table = self._open()
        if table is not None and values:
            table.update(where=where.sql(), values=dict(values))

    @guard("write")
    def create_index(self, column: str, kind: str = "btree") -> None:
        """A scalar index (`btree`, `bitmap`, `label_list`) or `fts` on a column; replaces an older one."""
        table = self._writable()
        if kind == "fts":
            table.create_fts_index(_name(column), replace=True)
        else:
            table.create_scalar_index(_name(column), index_type=kind.upper(), replace=True)
