"""After a scan: remove the thumbnails no asset references (left by killed scans, re-cut shots, purges).

A scan writes a thumbnail before the batch that references it commits, so a scan killed in between leaves
a file no row names, and a video re-cut into fewer shots leaves its old shot pictures. The sweep runs under
the scan lock (no other scan writes), touches only names the built-in passes write
(`thumbnails/<2 hex>/<id>.webp`, `<id>-s<N>.webp`) and their stale temporary files (a dead writer's at once,
any other after a grace period), and leaves plugin folders
(`thumbnails/faces/`, ...) to their plugins. On an object-store catalog it lists and deletes the same names
under `<prefix>/thumbnails/` (temporary files are never uploaded)."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chronicon.media.imaging import temp_owner_tag

log = logging.getLogger(__name__)

# What the content and shots passes write: an asset id (32 hex digits), optionally "-s<shot index>".
_OWNED = re.compile(r"[0-9a-f]{32}(?:-s\d+)?\.webp")
_SHARD = re.compile(r"[0-9a-f]{2}")
# write_thumbnail's temporary files: ".<name>.<host hash>-<pid>-<12 hex>.tmp" (older versions: ".<name>.<12 hex>.tmp").
# One whose writer is a dead process on this host goes at once; any other, once older than the grace period.
_TMP = re.compile(r"\..+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{12}\.tmp")
TMP_GRACE_SECONDS = 600.0


@dataclass
class SweepResult:
    """What the sweep removed, and what it could not."""

    removed: int = 0
    bytes: int = 0
    errors: int = 0


def referenced_thumbnails(catalog: Any) -> set[str]:
    """Every thumbnail path (relative to the catalog folder) a row names: the asset's own and its shots'."""
    names = set(catalog.assets.schema.names)
    columns = [c for c in ("thumbnail", "segments") if c in names]
    if not columns:
        return set()
    data = catalog.to_arrow(columns).to_pydict()
    found = {t for t in data.get("thumbnail", []) if t}
    for raw in data.get("segments", []):
        if not raw:
            continue
        try:
            segments = json.loads(raw)
        except ValueError:
            continue
        found.update(s["thumbnail"] for s in segments if isinstance(s, dict) and s.get("thumbnail"))
    return found


def sweep_thumbnails(catalog: Any, *, now: float | None = None) -> SweepResult:
    """Delete unreferenced pass thumbnails and stale temporary files under `<catalog>/thumbnails`."""
    if getattr(catalog, "store", None) is not None:
        return _sweep_remote(catalog)
    root = Path(catalog.dir) / "thumbnails"
    result = SweepResult()
    if not root.is_dir():
        return result
    keep = referenced_thumbnails(catalog)
    cutoff = (time.time() if now is None else now) - TMP_GRACE_SECONDS
    for shard in _entries(root):
        if not (shard.is_dir(follow_symlinks=False) and _SHARD.fullmatch(shard.name)):
            continue
        for entry in _entries(Path(shard.path)):
            if not entry.is_file(follow_symlinks=False):
                continue
            if _OWNED.fullmatch(entry.name):
                if f"thumbnails/{shard.name}/{entry.name}" in keep:
                    continue
            elif not _stale_temp(entry, cutoff):
                continue
            try:
                size = entry.stat(follow_symlinks=False).st_size
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                result.errors += 1
                log.debug("could not remove %s: %s", entry.path, exc)
                continue
            result.removed += 1
            result.bytes += size
    return result


def _sweep_remote(catalog: Any) -> SweepResult:
    """The sweep of an object-store catalog: one LIST of `thumbnails/`, one DeleteObjects per 1,000 strays."""
    result = SweepResult()
    for path in catalog.upload_staged():  # a scan uploads before it commits; this only catches stragglers
        path.unlink(missing_ok=True)
    keep = referenced_thumbnails(catalog)
    strays: list[str] = []
    for relative, size in catalog.store.list_files("thumbnails"):
        parts = relative.split("/")
        if len(parts) != 3 or not _SHARD.fullmatch(parts[1]) or not _OWNED.fullmatch(parts[2]):
            continue
        if relative not in keep:
            strays.append(relative)
            result.bytes += size
    if strays:
        catalog.store.delete(strays)
    result.removed = len(strays)
    return result


def _stale_temp(entry: os.DirEntry[str], cutoff: float) -> bool:
    """Whether a temporary thumbnail's writer is gone: a dead process on this host, or the file is old."""
    match = _TMP.fullmatch(entry.name)
    if match is None:
        return False
    if match["pid"] and match["host"] == temp_owner_tag().split("-")[0]:
        pid = int(match["pid"])
        if pid != os.getpid() and not _alive(pid):
            return True
    return _mtime(entry) < cutoff


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a pid we cannot ask about: assume it is writing
    return True


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError as exc:
        log.debug("cannot list %s: %s", folder, exc)
        return []


def _mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return float("inf")
