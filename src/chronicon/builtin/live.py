"""Built-in pass `live`: Apple Live Photos (a still and its MOV) as one stack, and Android motion photos' video."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.store import display_path, sql_str
from chronicon.hookspecs import hookimpl
from chronicon.media.motion import describe_motion_part, find_motion_part, still_content_id, video_content_id
from chronicon.media.photo import register_heif
from chronicon.types import MediaKind, Phase

if TYPE_CHECKING:
    from chronicon.library import Library
    from chronicon.scan.summary import ScanSummary

PLUGIN_NAME = "live"
log = logging.getLogger(__name__)

STACK = StackKind("live", "live_cover", "Live Photo", owner="live", priority=5, parts=True)
EMBEDDED = "embedded"  # `motion_part` of a photo whose video is inside the file itself
PAIR_SECONDS = 2.0  # a still taken within this of its MOV's span pairs by name when no identifier says so
MAX_MOTION_SECONDS = 6.0  # a longer same-named video is a video of its own, never a Live Photo's motion
_PAIR_COLUMNS = ("id", "path", "kind", "taken_at", "duration", "missing", "live_content_id", "live_key",
                 "live_cover", "motion_part", "live_motion_offset")  # fmt: skip
_MOV_FORMATS = frozenset({"mov", "mp4", "quicktime", "m4v"})


def live_key(path: str) -> str:
    """Folder and lower-case stem: what a still and its MOV share when they pair by name."""
    folder, name = os.path.split(path)
    return f"{folder}/{os.path.splitext(name)[0].lower()}"


class LivePass(PerItemAnalyzer):
    """Per file: the Live Photo content identifier (Apple MakerNote of a HEIC/JPEG, QuickTime key of a MOV) and the
    embedded motion video of a Google/Android motion photo. The stills and MOVs are paired after the scan."""

    name: ClassVar[str] = "live"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.METADATA
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    columns: ClassVar[dict[str, pa.DataType]] = {
        "live_content_id": pa.string(),  # Apple's content identifier (the still's and its MOV's are equal)
        "live_key": pa.string(),  # folder/lower-case stem (pairing by name)
        "live_motion_offset": pa.int64(),  # motion photo: where the embedded MP4 starts in the file (bytes)
        "live_motion_length": pa.int64(),  # and how long it is
        "live_motion_duration": pa.float64(),  # seconds of the embedded video
        "live_motion_audio": pa.bool_(),  # whether the embedded video has sound
        "live_problem": pa.string(),  # a motion photo whose XMP points at no video, and why
        "motion_part": pa.string(),  # the still's motion: its MOV's asset id, or "embedded"; null otherwise
        "live_cover": pa.string(),  # the live stack: the still's id on the still and its MOV; null when unpaired
    }

    def _load(self) -> None:
        register_heif()

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        out: dict[str, Any] = {name: None for name in self.columns if name != "live_cover"}
        out["live_key"] = live_key(display_path(item.path))  # as the catalog stores `path`
        if item.kind == MediaKind.VIDEO:
            if item.format.lower() in _MOV_FORMATS:
                out["live_content_id"] = video_content_id(item.path)
            return out
        out["live_content_id"] = still_content_id(item.path)
        if item.format.lower() in ("jpeg", "jpg"):
            claim = find_motion_part(item.path)
            if claim.problem:
                log.warning("%s: motion photo left out: %s", item.path, claim.problem)
                out["live_problem"] = claim.problem
            if claim.part is not None:
                try:
                    facts = describe_motion_part(item.path, claim.part)
                except Exception as exc:  # a damaged embedded video: the photo itself is fine
                    out["live_problem"] = f"{claim.part.flavour} video at byte {claim.part.offset}: {exc}"
                    log.warning("%s: motion photo left out: %s", item.path, out["live_problem"])
                else:
                    out["live_motion_offset"] = claim.part.offset
                    out["live_motion_length"] = claim.part.length
                    out["live_motion_duration"] = facts["duration"]
                    out["live_motion_audio"] = facts["has_audio"]
                    out["motion_part"] = EMBEDDED
        return out


# -- pairing after the scan ----------------------------------------------------------------------------------
def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _close(still: dict[str, Any], mov: dict[str, Any]) -> bool:
    """Whether the still was taken during its MOV (± PAIR_SECONDS); both capture times must be known."""
    taken, start = _moment(still.get("taken_at")), _moment(mov.get("taken_at"))
    if taken is None or start is None:
        return False
    if (taken.tzinfo is None) != (start.tzinfo is None):  # one says its offset, one not: compare wall clocks
        taken, start = taken.replace(tzinfo=None), start.replace(tzinfo=None)
    lead = (taken - start).total_seconds()
    span = float(mov.get("duration") or 0.0)
    return -PAIR_SECONDS <= lead <= span + PAIR_SECONDS


def _by_name(still: dict[str, Any], mov: dict[str, Any]) -> bool:
    """Same folder and stem, taken together, and not both carrying (different) identifiers."""
    if still.get("live_key") != mov.get("live_key"):
        return False
    return not (still.get("live_content_id") and mov.get("live_content_id")) and _close(still, mov)


def pair_live_photos(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """MOV id -> still id for the rows of some folders: the same content identifier in one folder first, else
    the same folder and stem (any case) with the still taken during the (short) MOV. Missing files never pair."""
    stills: dict[str, list[dict[str, Any]]] = defaultdict(list)
    movs: list[dict[str, Any]] = []
    for row in rows:
        if row.get("missing"):
            continue
        if row.get("kind") == MediaKind.VIDEO.value:
            movs.append(row)
        elif row.get("kind") == MediaKind.IMAGE.value:
            stills[os.path.dirname(row["path"])].append(row)
    pairs: dict[str, str] = {}
    taken: set[str] = set()
    movs.sort(key=lambda r: r["path"])
    for by_id in (True, False):
        for mov in movs:
            if mov["id"] in pairs:
                continue
            folder = stills.get(os.path.dirname(mov["path"]), [])
            if by_id:
                cid = mov.get("live_content_id")
                found = [s for s in folder if cid and s.get("live_content_id") == cid and s["id"] not in taken]
            else:
                if float(mov.get("duration") or 0.0) > MAX_MOTION_SECONDS:
                    continue
                found = [s for s in folder if s["id"] not in taken and _by_name(s, mov)]
            if found:
                still = min(found, key=lambda s: s["path"])
                pairs[mov["id"]] = still["id"]
                taken.add(still["id"])
    return pairs


def _folder(root: str) -> str:
    return root if os.path.isdir(root) or not os.path.exists(root) else os.path.dirname(root)


def _candidates(catalog: Any, roots: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The rows under the roots that may be in a live stack: identified or short videos, stills that carry an
    identifier or share a name with such a video, and the current members (so that stale stacks come apart)."""
    columns = [c for c in _PAIR_COLUMNS if c in catalog.schema.names]
    found: dict[str, dict[str, Any]] = {}
    for root in roots:
        prefix = sql_str(_folder(root).rstrip("/") + "/")
        where = (f"starts_with(path, {prefix}) AND (live_content_id IS NOT NULL OR live_cover IS NOT NULL"
                 f" OR (motion_part IS NOT NULL AND motion_part != '{EMBEDDED}')"
                 f" OR (kind = 'video' AND (duration IS NULL OR duration <= {MAX_MOTION_SECONDS})))")  # fmt: skip
        for row in catalog.rows(where, columns):
            found[row["id"]] = row
    keys = sorted({r["live_key"] for r in found.values() if r.get("kind") == "video" and r.get("live_key")})
    for start in range(0, len(keys), 200):
        chunk = ", ".join(sql_str(k) for k in keys[start : start + 200])
        for row in catalog.rows(f"kind = 'image' AND live_key IN ({chunk})", columns):
            found[row["id"]] = row
    return found


def regroup(catalog: Any, roots: Iterable[str]) -> int:
    """Write `live_cover` and `motion_part` where pairing the rows under the roots changes them; idempotent."""
    rows = _candidates(catalog, roots)
    pairs = pair_live_photos(rows.values())
    motion = {still: mov for mov, still in pairs.items()}
    changes: list[dict[str, Any]] = []
    for row in rows.values():
        rid = row["id"]
        cover = pairs.get(rid) or (rid if rid in motion else None)
        part = motion.get(rid) or (EMBEDDED if row.get("live_motion_offset") is not None else None)
        if row.get("live_cover") != cover or row.get("motion_part") != part:
            changes.append({"id": rid, "live_cover": cover, "motion_part": part})
    return int(catalog.update_columns(changes))


@hookimpl
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    if not any(cls.name == LivePass.name for cls in library.analyzer_classes):
        return
    try:
        changed = regroup(library.catalog, summary.roots)
    except Exception as exc:  # pairing must never break a scan; the next scan pairs again
        log.exception("Live Photos were not paired")
        summary.notes.append(f"Live Photos were not paired: {type(exc).__name__}: {exc}")
        return
    if changed:
        summary.notes.append(f"Live Photos: {changed} stills and motion parts (re)paired")


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [LivePass]


@hookimpl
def chronicon_register_stacks() -> list[StackKind]:
    return [STACK]
