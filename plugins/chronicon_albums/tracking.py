"""Which albums an asset change can affect: events kept in memory during a scan, plus a catch-up from the catalog."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chronicon.api import col

from .rules import AlbumRule, RuleError
from .store import Album

# The columns the cheap predicates of a rule read.
CHEAP_COLUMNS = ("id", "path", "kind", "taken_at", "mtime_ns", "camera_make", "camera_model", "labels",
                 "gps_lat", "gps_lon")  # fmt: skip


@dataclass
class Changes:
    """Assets indexed (id -> (kind, cheap columns)) and removed (ids) since the last rebuild."""

    indexed: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.indexed or self.removed)


def catalog_key(catalog_dir: str | os.PathLike[str]) -> str:
    """What makes two catalog folders the same catalog: the resolved path."""
    return str(Path(catalog_dir).expanduser().resolve())


def emitting_catalog(event: Any) -> str | None:
    """The catalog (its `catalog_key`) whose scan sent this asset event, or None for an event that names none
    (the catalog catch-up at the end of the next scan then finds the change)."""
    given = getattr(event, "catalog_dir", None)
    return catalog_key(given) if given else None


class Tracker:
    """The changes this process saw per catalog since that catalog's last `chronicon_scan_finished`, thread-safe.

    Keyed by catalog so two libraries in one process never mix; a scan that raised before its hook leaves its
    changes under its own catalog, where the next scan of that catalog uses them (they are real changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: dict[str, Changes] = {}

    def indexed(self, catalog: str, asset_id: str, kind: str, row: Mapping[str, Any]) -> None:
        cheap = {k: row[k] for k in CHEAP_COLUMNS if k in row}  # no updated_at: this scan's rows are all recent
        with self._lock:
            changes = self._changes.setdefault(catalog, Changes())
            changes.indexed[asset_id] = (kind, cheap)
            changes.removed.discard(asset_id)

    def removed(self, catalog: str, asset_id: str) -> None:
        with self._lock:
            changes = self._changes.setdefault(catalog, Changes())
            changes.removed.add(asset_id)
            changes.indexed.pop(asset_id, None)

    def take(self, catalog: str) -> Changes:
        """The changes so far of this catalog; its record starts empty again."""
        with self._lock:
            return self._changes.pop(catalog, None) or Changes()

    def pending(self, catalog: str) -> Changes:
        """A copy of the changes recorded for this catalog and not yet taken."""
        with self._lock:
            changes = self._changes.get(catalog) or Changes()
            return Changes(dict(changes.indexed), set(changes.removed))


def affects(album: Album, changes: Changes) -> bool:
    """Whether these changes can change the album: a member was removed or re-indexed, or an indexed asset
    can pass the rule's cheap predicates (a query or plugin filter only narrows what those allow). The rule
    is parsed once, not once per change."""
    members = album.member_ids()
    if members & changes.removed:
        return True
    if any(i in members for i in changes.indexed):
        return True
    try:
        match = AlbumRule.from_json(album.rule).matcher()
    except RuleError:
        return False  # a rule that cannot run is not rebuilt by scans; its error is shown
    return any(match.could_match(kind, row) for kind, row in changes.indexed.values())


def catch_up(catalog: Any, albums: Iterable[Album], seen: Changes) -> Changes:
    """Changes this process did not see (a scan that crashed before its rebuild, another writer): assets whose
    row was written after an album's last evaluation, and members that are now missing or gone. Only the ids
    are read first; rows this scan already reported are not loaded again."""
    clean = [a for a in albums if not a.dirty and a.current_as_of]
    extra = Changes()
    if not clean:
        return extra
    since = min(_parse(a.current_as_of) for a in clean if a.current_as_of)
    where = (col("updated_at") > _utc_wall_clock(since)) & col("missing").is_not_true()
    unseen = [r["id"] for r in catalog.rows(where, ["id"]) if r["id"] not in seen.indexed]
    if unseen:
        columns = [c for c in (*CHEAP_COLUMNS, "updated_at") if c in set(catalog.schema.names)]
        for asset_id, row in catalog.rows_by_id(unseen, columns).items():
            extra.indexed[asset_id] = (str(row.get("kind")), row)
    member_ids = set().union(*(a.member_ids() for a in clean))
    if member_ids:
        present = catalog.rows_by_id(sorted(member_ids), ["id", "missing"])
        extra.removed = {i for i in member_ids if i not in present or present[i].get("missing")}
    return extra


def stale_since(album: Album, changes: Changes) -> bool:
    """Like `affects`, but only counts indexed rows written after the album's own last evaluation."""
    if not album.current_as_of:
        return True
    when = _parse(album.current_as_of)
    recent = Changes(
        indexed={
            i: (k, r) for i, (k, r) in changes.indexed.items() if r.get("updated_at") is None or r["updated_at"] > when
        },
        removed=changes.removed,
    )
    return affects(album, recent)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _utc_wall_clock(moment: datetime) -> datetime:
    """A stamp of `now_iso` (UTC, with its offset) as the naive UTC time the catalog's filter compares
    `updated_at` with: rendered `timestamp 'YYYY-MM-DD HH:MM:SS.ffffff'`, as the row stamps are UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment
