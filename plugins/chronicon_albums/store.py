"""The `albums_albums` LanceDB table in the catalog: one row per album with its rule, state and members."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from chronicon.catalog.faults import guard
from chronicon.catalog.store import sql_str

from .rules import MAX_NAME, RuleError, album_key

TABLE = "albums_albums"
SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # album_key(name): what makes names equal
        pa.field("name", pa.string(), nullable=False),  # as the user wrote it
        pa.field("rule", pa.string(), nullable=False),  # AlbumRule JSON (or the raw definition when it is bad)
        pa.field("source", pa.string(), nullable=False),  # "cli" or "config"
        pa.field("created_at", pa.string()),
        pa.field("updated_at", pa.string()),  # rule or members last changed
        pa.field("evaluated_at", pa.string()),  # last evaluation (members may be the same)
        pa.field("checked_at", pa.string()),  # asset changes up to this time were considered (a scan's end)
        pa.field("dirty", pa.bool_()),
        pa.field("error", pa.string()),  # why the last evaluation failed, or why the rule cannot run
        pa.field("count", pa.int64()),
        pa.field("members", pa.string()),  # JSON list of member dicts, best first
    ]
)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class Album:
    """One stored album."""

    name: str
    rule: str
    source: str = "cli"
    created_at: str | None = None
    updated_at: str | None = None
    evaluated_at: str | None = None
    checked_at: str | None = None
    dirty: bool = True
    error: str | None = None
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return album_key(self.name)

    @property
    def rule_data(self) -> dict[str, Any]:
        try:
            data = json.loads(self.rule)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def current_as_of(self) -> str | None:
        """The time up to which asset changes are reflected: the later of the last evaluation and check."""
        stamps = [t for t in (self.evaluated_at, self.checked_at) if t]
        return max(stamps) if stamps else None

    def member_ids(self) -> set[str]:
        return {str(m.get("id")) for m in self.members}

    def to_row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "rule": self.rule,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "evaluated_at": self.evaluated_at,
            "checked_at": self.checked_at,
            "dirty": self.dirty,
            "error": self.error,
            "count": len(self.members),
            "members": json.dumps(self.members, ensure_ascii=False),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Album:
        try:
            members = json.loads(row.get("members") or "[]")
        except ValueError:
            members = []
        return cls(
            name=row["name"],
            rule=row["rule"],
            source=row.get("source") or "cli",
            created_at=row.get("created_at"),
            updated_at=row.get("updated_at"),
            evaluated_at=row.get("evaluated_at"),
            checked_at=row.get("checked_at"),
            dirty=bool(row.get("dirty")),
            error=row.get("error"),
            members=members if isinstance(members, list) else [],
        )


class AlbumStore:
    """Reads and writes albums in the catalog's LanceDB database (`catalog.db`)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._table: Any = None

    def fault_place(self) -> tuple[str, Path]:
        """What storage errors name: this table in the catalog folder (see `chronicon.catalog.faults.guard`)."""
        return TABLE, Path(str(getattr(self.db, "uri", ".")))

    @property
    def table(self) -> Any:
        """The table at its latest version, made (or given an earlier version's missing columns) when needed: for
        writers, who hold the scan lock."""
        table = self._open()
        if table is None:
            self._table = table = self.db.create_table(TABLE, schema=SCHEMA, exist_ok=True)
        have = set(table.schema.names)
        new = [f for f in SCHEMA if f.name not in have]
        if new:  # a table made by an earlier version of the plugin
            table.add_columns(new)
        return table

    def _open(self) -> Any:
        """The table at its latest version (another process or thread may have written), or None when no album
        was ever stored; opening writes nothing, so readers need no lock."""
        if self._table is not None:
            self._table.checkout_latest()
            return self._table
        try:
            self._table = self.db.open_table(TABLE)
        except ValueError:  # "Table 'albums_albums' was not found" (listing tables would need paging)
            return None
        return self._table

    @guard("read")
    def all(self) -> list[Album]:
        """Every album, by name (case-insensitive)."""
        table = self._open()
        rows = table.search().limit(None).to_arrow().to_pylist() if table is not None else []
        return sorted((Album.from_row(r) for r in rows), key=lambda a: a.key)

    @guard("read")
    def get(self, name: str) -> Album | None:
        table = self._open()
        if table is None:
            return None
        rows = table.search().where(f"key = {sql_str(album_key(name))}").limit(None).to_arrow().to_pylist()
        return Album.from_row(rows[0]) if rows else None

    @guard("write")
    def put(self, albums: Iterable[Album]) -> None:
        """Insert or replace albums by name, in one commit; RuleError for a name longer than MAX_NAME (every
        writer checks names with `check_name` first: this keeps an unchecked one out of the table too)."""
        rows = [a.to_row() for a in albums]
        for row in rows:
            if len(row["name"]) > MAX_NAME:
                raise RuleError(f"album name: at most {MAX_NAME} characters, not {len(row['name'])}")
        if not rows:
            return
        data = pa.Table.from_pylist(rows, schema=SCHEMA)
        self.table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(data)

    @guard("write")
    def delete(self, name: str) -> None:
        self.table.delete(f"key = {sql_str(album_key(name))}")

    @guard("write")
    def mark_checked(self, when: str) -> None:
        """Record that every asset change up to `when` has been considered for every album."""
        self.table.update(where="key IS NOT NULL", values={"checked_at": when})

    @guard("write")
    def mark_dirty(self, names: Iterable[str]) -> None:
        """Persist the dirty flag of these albums (so a crash before their rebuild does not lose it)."""
        keys = sorted({album_key(n) for n in names})
        if keys:
            self.table.update(where="key IN (" + ", ".join(sql_str(k) for k in keys) + ")", values={"dirty": True})
