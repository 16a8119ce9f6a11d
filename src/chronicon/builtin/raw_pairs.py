"""Built-in pass `raw_pairs`: a RAW file and the JPEG (or HEIC) the camera wrote of the same shot form one stack.

Both files are indexed in full, each by its own passes; the pairing only says which is shown. Two files pair when
they lie in the same folder, have the same stem (case aside: `IMG_0001.CR2` and `IMG_0001.JPG`) and the same
capture time, within `raw_pairs.max_seconds_apart` (when either has no date, the stem alone decides). The
rendered file is the cover; `raw_pair_cover` holds its id on both. Pairs are worked out again over the whole
catalog at the end of every scan, so adding or removing either side later pairs or unpairs the other.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.tables import col
from chronicon.config import Setting
from chronicon.hookspecs import hookimpl
from chronicon.media.sniff import RAW_FORMATS
from chronicon.types import MediaKind, Phase

if TYPE_CHECKING:
    from chronicon.library import Library
    from chronicon.scan.summary import ScanSummary

PLUGIN_NAME = "raw_pairs"
COLUMN = "raw_pair_cover"
STACK = StackKind(name="raw-pair", column=COLUMN, label="RAW + JPEG", owner=PLUGIN_NAME, priority=10)
# Which rendered file covers a pair when a RAW has several (a camera writing JPEG and HEIC): lower first.
_COVER_ORDER = {"jpeg": 0, "heif": 1, "avif": 2}
_WRITE_CHUNK = 10_000  # rows per `update_columns` commit
log = logging.getLogger(__name__)


class RawPairsPass(PerItemAnalyzer):
    """Pairs RAW files with their JPEGs over the catalog at the end of each scan (`chronicon_scan_finished`);
    it reads nothing per file, so it never runs on one: the metadata pass has already read the capture times."""

    name: ClassVar[str] = PLUGIN_NAME
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.METADATA
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    columns: ClassVar[dict[str, pa.DataType]] = {COLUMN: pa.string()}
    settings: ClassVar[dict[str, Setting]] = {
        # Largest difference between the two capture times of a pair, in seconds (a camera writes both at once).
        "max_seconds_apart": Setting("float", 1.0, minimum=0.0, maximum=3600.0),
    }

    def applies_to(self, item: AssetItem) -> bool:
        return False  # the pairing is catalog-wide, made after the scan (`pair_covers`)

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        return {}


def _stem_key(path: str) -> tuple[str, str]:
    folder, name = os.path.split(path)
    return folder, os.path.splitext(name)[0].casefold()


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def same_shot(a: Any, b: Any, max_seconds: float) -> bool:
    """Whether two capture times (ISO 8601 text or datetimes) are of one shot; True when either is unknown. Two
    aware times compare as instants; otherwise as the clock showed them (a RAW and a JPEG with and without an
    offset)."""
    first, second = _moment(a), _moment(b)
    if first is None or second is None:
        return True
    if (first.tzinfo is None) != (second.tzinfo is None):
        first, second = first.replace(tzinfo=None), second.replace(tzinfo=None)
    return abs((first - second).total_seconds()) <= max_seconds


def pair_covers(rows: Iterable[Mapping[str, Any]], max_seconds: float = 1.0) -> dict[str, str]:
    """Asset id -> the id of its pair's cover, for every file in a RAW + rendered pair (the cover maps to itself).

    `rows` need `id`, `path`, `format` and `taken_at`; pass only present images. A RAW pairs with the first
    rendered file of its folder and stem (JPEG, then HEIF, AVIF, any other; by path) whose time matches; several
    RAWs of one stem (a RAW+JPEG camera writing DNG and CR3) share that cover."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("path") and row.get("id"):
            groups[_stem_key(str(row["path"]))].append(row)
    covers: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        raws = [r for r in members if r.get("format") in RAW_FORMATS]
        rendered = sorted(
            (r for r in members if r.get("format") not in RAW_FORMATS),
            key=lambda r: (_COVER_ORDER.get(str(r.get("format")), len(_COVER_ORDER)), str(r["path"])),
        )
        for raw in raws:
            cover = next((r for r in rendered if same_shot(raw.get("taken_at"), r.get("taken_at"), max_seconds)), None)
            if cover is not None:
                covers[str(raw["id"])] = covers[str(cover["id"])] = str(cover["id"])
    return covers


def repair(catalog: Any, max_seconds: float) -> tuple[int, int, int]:
    """Work the pairs out again over the catalog's images and write `raw_pair_cover` where it changed (hold the
    scan lock). Returns (pairs now, files paired, files unpaired) of this run."""
    columns = ["id", "path", "format", "taken_at", "missing", COLUMN]
    rows = list(catalog.rows(col("kind") == MediaKind.IMAGE.value, columns))
    covers = pair_covers((r for r in rows if not r.get("missing")), max_seconds)
    changes = [{"id": r["id"], COLUMN: covers.get(r["id"])} for r in rows if r.get(COLUMN) != covers.get(r["id"])]
    for start in range(0, len(changes), _WRITE_CHUNK):
        catalog.update_columns(changes[start : start + _WRITE_CHUNK])
    paired = sum(1 for change in changes if change[COLUMN] is not None)
    return len(set(covers.values())), paired, len(changes) - paired


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [RawPairsPass]


@hookimpl
def chronicon_register_stacks() -> list[StackKind]:
    return [STACK]


@hookimpl
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    if not any(kind.name == STACK.name for kind in library.stack_kinds):
        return  # the pass is off (or the catalog lacks its column)
    max_seconds = library.config.section(PLUGIN_NAME).float("max_seconds_apart")
    pairs, paired, unpaired = repair(library.catalog, max_seconds)
    if paired or unpaired:
        summary.notes.append(f"RAW + JPEG pairs: {pairs} ({paired} files paired, {unpaired} unpaired in this scan)")
