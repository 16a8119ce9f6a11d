"""The `albums_albums` plugin table in the catalog: one row per album with its rule, state and members."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from chronicon.api import Catalog, col

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
    """Reads and writes albums in the plugin's own catalog table (`albums_albums`, a `PluginTable`): made on the
    first write, given a newer schema's columns when needed; storage errors are one-line CatalogErrors."""

    def __init__(self, catalog: Catalog) -> None:
        self.table = catalog.plugin_table(TABLE, SCHEMA, key=["key"])

    def all(self) -> list[Album]:
        """Every album, by name (case-insensitive); none before the first write (reading writes nothing)."""
        return sorted((Album.from_row(r) for r in self.table.rows()), key=lambda a: a.key)

    def get(self, name: str) -> Album | None:
        rows = self.table.rows(where=col("key") == album_key(name))
        return Album.from_row(rows[0]) if rows else None

    def put(self, albums: Iterable[Album]) -> None:
        """Insert or replace albums by name, in one commit; RuleError for a name longer than MAX_NAME (every
        writer checks names with `check_name` first: this keeps an unchecked one out of the table too)."""
        rows = [a.to_row() for a in albums]
        for row in rows:
            if len(row["name"]) > MAX_NAME:
                raise RuleError(f"album name: at most {MAX_NAME} characters, not {len(row['name'])}")
        if rows:
            self.table.upsert(rows)

    def delete(self, name: str) -> None:
        self.table.delete(col("key") == album_key(name))

    def mark_checked(self, when: str) -> None:
        """Record that every asset change up to `when` has been considered for every album."""
        self.table.update(col("key").not_null(), {"checked_at": when})

    def mark_dirty(self, names: Iterable[str]) -> None:
        """Persist the dirty flag of these albums (so a crash before their rebuild does not lose it)."""
        keys = sorted({album_key(n) for n in names})
        if keys:
            self.table.update(col("key").isin(keys), {"dirty": True})
