"""Built-in pass `bursts`: burst ids and sub-second times per photo; the frames of a burst become one stack."""

from __future__ import annotations

import functools
import logging
import operator
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.stacks import StackKind
from chronicon.builtin.burst_groups import ROW_COLUMNS, Rules, covers
from chronicon.catalog.store import Catalog, display_path
from chronicon.catalog.tables import col
from chronicon.config import Setting
from chronicon.events import AssetEvent
from chronicon.hookspecs import hookimpl
from chronicon.media.burst_ids import read_burst_facts
from chronicon.media.photo import register_heif
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "bursts"
COVER_COLUMN = "burst_cover"
_FOLDERS_PER_QUERY = 40  # folders OR'ed into one catalog query
_IDS_PER_QUERY = 500  # cover ids in one `IN` list
_WHOLE_TABLE = 400  # more touched folders than this: the photos' few columns are read in one scan instead
log = logging.getLogger(__name__)


class BurstsPass(PerItemAnalyzer):
    """Reads what each photo records of a burst (never its pixels); the frames are grouped when the scan ends."""

    name: ClassVar[str] = "bursts"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.METADATA
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    columns: ClassVar[dict[str, pa.DataType]] = {
        "burst_id": pa.string(),  # the burst id the file records (Apple BurstUUID, GCamera:BurstID)
        "burst_source": pa.string(),  # where it came from: "apple" or "gcamera"
        "burst_time": pa.float64(),  # DateTimeOriginal (+ SubSecTimeOriginal) as seconds on the camera's clock
        "burst_subsec": pa.bool_(),  # whether burst_time has the sub-seconds
        COVER_COLUMN: pa.string(),  # the stack column: the burst's cover id on every frame; null: no burst
        "burst_checked": pa.string(),  # the grouping rules this row was last grouped under; null: to regroup
    }
    settings: ClassVar[dict[str, Setting]] = {
        "cover": Setting("str", "sharpness", choices=("sharpness", "aesthetic"), help="how a burst's cover is chosen"),
        "max_gap": Setting("float", 1.0, minimum=0.05, maximum=5.0, help="most seconds between consecutive frames"),
        "phash_distance": Setting(
            "int", 16, minimum=0, maximum=32, help="most differing pHash bits between consecutive frames without an id"
        ),
    }

    def _load(self) -> None:
        register_heif()  # iPhone bursts are often HEIC: their EXIF (and MakerNote) is read through pillow-heif

    def fingerprint(self) -> str:
        return str(self.version)  # the grouping settings regroup from `burst_checked`, without re-reading files

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        facts = read_burst_facts(item.path)
        return {
            "burst_id": facts.burst_id,
            "burst_source": facts.source,
            "burst_time": facts.time,
            "burst_subsec": facts.subsec if facts.time is not None else None,
            "burst_checked": None,
        }


def rules_from(section: Any) -> Rules:
    distance = int(section["phash_distance"])
    return Rules(float(section["max_gap"]), distance, distance // 2, str(section["cover"]))


def signature(rules: Rules) -> str:
    return f"{BurstsPass.version}:{rules.max_gap:g}:{rules.phash_distance}:{rules.cover}"


class _Touched:
    """Folders (per catalog) whose assets this process saw indexed or removed since that catalog's last regroup."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[str, set[str]] = {}

    def add(self, event: AssetEvent) -> None:
        catalog_dir, path = getattr(event, "catalog_dir", None), getattr(event, "path", None)
        if catalog_dir is None or not path or getattr(event, "kind", None) != MediaKind.IMAGE.value:
            return  # an event naming no catalog: the `burst_checked` catch-up finds new rows anyway
        with self._lock:
            self._folders.setdefault(str(Path(catalog_dir).resolve()), set()).add(_folder(display_path(str(path))))

    def take(self, catalog_dir: Path) -> set[str]:
        with self._lock:
            return self._folders.pop(str(Path(catalog_dir).resolve()), set())


TOUCHED = _Touched()


def _folder(path: str) -> str:
    return os.path.dirname(path).rstrip(os.sep) + os.sep


def _rows_in(catalog: Catalog, folders: set[str], columns: list[str]) -> list[dict[str, Any]]:
    if len(folders) > _WHOLE_TABLE:
        return [r for r in catalog.rows(col("kind") == "image", columns) if _folder(r["path"]) in folders]
    ordered = sorted(folders)
    out: list[dict[str, Any]] = []
    for start in range(0, len(ordered), _FOLDERS_PER_QUERY):
        parts = [col("path").directly_in(f) for f in ordered[start : start + _FOLDERS_PER_QUERY]]
        where = functools.reduce(operator.or_, parts) & (col("kind") == "image")
        out.extend(catalog.rows(where, columns))
    return out


def regroup(catalog: Catalog, rules: Rules, folders: Iterable[str] = ()) -> tuple[int, int]:
    """Recompute `burst_cover` in the folders given, those with rows not grouped under these rules (new, changed
    or re-read photos; a scan that stopped before this ran), those with missing frames still stacked, and the
    folders of the stacks any of them were in. Writes only rows whose value changes; returns (bursts, rows written)."""
    names = set(catalog.schema.names)
    columns = [c for c in ROW_COLUMNS if c in names]
    if rules.cover == "aesthetic" and "aesthetic" in names:
        columns.append("aesthetic")
    mark = signature(rules)
    touched = set(folders)
    stale = (col("burst_checked").is_null() | (col("burst_checked") != mark)) | (
        col("missing").is_true() & col(COVER_COLUMN).not_null()
    )
    touched |= {_folder(r["path"]) for r in catalog.rows(stale & (col("kind") == "image"), ["path"])}
    if not touched:
        return 0, 0
    rows = {r["id"]: r for r in _rows_in(catalog, touched, columns)}
    stacks = {r[COVER_COLUMN] for r in rows.values() if r.get(COVER_COLUMN)}
    if stacks:  # members of those stacks elsewhere (a frame moved away): their folders are regrouped too
        ordered = sorted(stacks)
        others: set[str] = set()
        for start in range(0, len(ordered), _IDS_PER_QUERY):
            chunk = col(COVER_COLUMN).isin(ordered[start : start + _IDS_PER_QUERY])
            others |= {_folder(r["path"]) for r in catalog.rows(chunk, ["path"])}
        if others - touched:
            rows.update({r["id"]: r for r in _rows_in(catalog, others - touched, columns)})
    by_folder: dict[str, list[dict[str, Any]]] = {}
    for row in rows.values():
        by_folder.setdefault(_folder(row["path"]), []).append(row)
    found = 0
    writes: list[dict[str, Any]] = []
    for members in by_folder.values():
        chosen = covers(members, rules)
        found += len({c for c in chosen.values() if c})
        for row in members:
            cover = chosen[row["id"]]
            if row.get(COVER_COLUMN) != cover or row.get("burst_checked") != mark:
                writes.append({"id": row["id"], COVER_COLUMN: cover, "burst_checked": mark})
    catalog.update_columns(writes)
    return found, len(writes)


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [BurstsPass]


@hookimpl
def chronicon_register_stacks() -> list[StackKind]:
    return [StackKind("burst", COVER_COLUMN, "burst", owner=PLUGIN_NAME, priority=50)]


@hookimpl
def chronicon_asset_indexed(event: AssetEvent) -> None:
    TOUCHED.add(event)


@hookimpl
def chronicon_asset_removed(event: AssetEvent) -> None:
    TOUCHED.add(event)


@hookimpl
def chronicon_scan_finished(summary: Any, library: Any) -> None:
    """Group the frames of the folders this scan touched (bounded: those folders and their stacks' members)."""
    folders = TOUCHED.take(library.catalog_dir)
    section = library.config.section(PLUGIN_NAME)
    catalog = library.catalog
    if not section.bool("enabled") or COVER_COLUMN not in catalog.schema.names:
        return
    try:
        found, written = regroup(catalog, rules_from(section), folders)
    except Exception as exc:  # bursts must never break a scan; the next scan regroups (burst_checked stays)
        log.exception("bursts were not grouped")
        summary.notes.append(f"bursts were not grouped: {type(exc).__name__}: {exc}")
        return
    if written:
        log.info("bursts: %d bursts in the touched folders, %d rows updated", found, written)
