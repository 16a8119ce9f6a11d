"""Album export: a folder of rank-named symlinks, an extended M3U playlist, or JSON (rule + members)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chronicon.api import ChroniconError, clock, col, fs_path

from .store import Album

FORMATS = ("links", "m3u", "json")
# The list of the links a `links` export made, in its folder: only those are removed by the next export.
MANIFEST = ".chronicon-album.json"


class ExportError(ChroniconError):
    """The export cannot be written there (it would touch catalogued files, or the folder is not ours)."""


@dataclass
class ExportResult:
    """What an export wrote and what it left out, and why."""

    format: str
    dest: str
    written: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "dest": self.dest, "written": self.written, "removed": self.removed,
                "skipped": self.skipped}  # fmt: skip


def export(catalog: Any, album: Album, dest: str, fmt: str) -> ExportResult:
    """Write the album to DEST in this format; originals are only ever linked to or named, never touched."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    rows = catalog.rows_by_id([m["id"] for m in album.members], ["id", "path", "path_raw", "duration", "missing"])
    target = Path(os.path.abspath(os.path.expanduser(dest)))
    if fmt == "links":
        return _links(catalog, album, rows, target)
    if fmt == "m3u":
        return _m3u(catalog, album, rows, target)
    return _json(catalog, album, rows, target)


def _live(album: Album, rows: dict[str, dict[str, Any]]) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(rank, member, catalog row) of the members whose file is still catalogued and present."""
    return [
        (rank, m, rows[m["id"]])
        for rank, m in enumerate(album.members, 1)
        if m["id"] in rows and not rows[m["id"]].get("missing")
    ]


def _refuse_catalogued(catalog: Any, target: Path, *, folder: bool) -> None:
    """Never write into the user's media: refuse a folder that holds catalogued files, or a catalogued file."""
    if folder:
        prefix = str(target).rstrip("/") + "/"
        if catalog.count(col("path").startswith(prefix)):
            raise ExportError(f"{target} holds catalogued photos or videos: export into a folder of its own")
        return
    if catalog.row_by_path(str(target)) is not None:
        raise ExportError(f"{target} is a catalogued photo or video: choose another file name")
    parent = str(target.parent).rstrip("/") + "/"
    if catalog.count(col("path").directly_in(parent)):
        raise ExportError(f"{target.parent} holds catalogued photos or videos: write the export somewhere else")


def _links(catalog: Any, album: Album, rows: dict[str, dict[str, Any]], target: Path) -> ExportResult:
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder")
    _refuse_catalogued(catalog, target, folder=True)
    target.mkdir(parents=True, exist_ok=True)
    result = ExportResult("links", str(target))
    for name in _manifest_links(target, result):  # the links our last export made go; anything else stays
        entry = target / name
        if entry.is_symlink():
            entry.unlink()
            result.removed += 1
    live = _live(album, rows)
    width = max(3, len(str(len(album.members))))
    made: list[str] = []
    for rank, _member, row in live:
        source = fs_path(row)
        link = target / f"{rank:0{width}d} - {os.path.basename(source)}"
        if link.exists() or link.is_symlink():
            result.skipped.append(f"{link.name}: a file of that name is there and is not ours; left alone")
            continue
        try:
            link.symlink_to(source)
        except OSError as exc:
            result.skipped.append(f"{link.name}: {exc.strerror or exc}")
            continue
        made.append(link.name)
        result.written += 1
    document = {"album": album.name, "format": "links", "links": made}
    _write(target / MANIFEST, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    exported = {rank for rank, _, _ in live}
    result.skipped.extend(f"#{m}: the file is missing" for m in range(1, len(album.members) + 1) if m not in exported)
    return result


def _manifest_links(target: Path, result: ExportResult) -> list[str]:
    """The link names the manifest in this folder lists (plain names in the folder only); none without one."""
    path = target / MANIFEST
    if not path.exists() and not path.is_symlink():
        return []
    try:
        if path.is_symlink():
            raise ValueError("it is a symlink")
        data = json.loads(path.read_text(encoding="utf-8"))
        names = data["links"] if isinstance(data, dict) else None
        if not isinstance(names, list):
            raise ValueError("no list of links")
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{path} cannot be read ({exc}): remove it, or export into another folder") from exc
    plain = [n for n in names if isinstance(n, str) and n not in ("", ".", "..") and "/" not in n and "\0" not in n]
    if len(plain) != len(names):
        result.skipped.append(f"{MANIFEST}: {len(names) - len(plain)} entries are not link names; ignored")
    return plain


def m3u_text(album: Album, rows: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """The extended M3U of an album's videos (photos are left out: players show them poorly) and the notes."""
    lines = ["#EXTM3U", f"#PLAYLIST:{album.name}"]
    skipped: list[str] = []
    for rank, member, row in _live(album, rows):
        path = fs_path(row)
        if member.get("kind") != "video":
            skipped.append(f"#{rank} {os.path.basename(path)}: a photo (playlists hold videos only)")
            continue
        duration = row.get("duration")
        start = member.get("t", member.get("t_start"))  # the moment that matched (older albums: the shot start)
        title = os.path.basename(path) + (f" @ {clock(start)}" if start is not None else "")
        lines.append(f"#EXTINF:{round(duration) if duration else -1},{title}")
        if start is not None:
            lines.append(f"#EXTVLCOPT:start-time={start:g}")
            if member.get("t_end") is not None:
                lines.append(f"#EXTVLCOPT:stop-time={member['t_end']:g}")
        lines.append(os.path.abspath(path))
    return "\n".join(lines) + "\n", skipped


def _m3u(catalog: Any, album: Album, rows: dict[str, dict[str, Any]], target: Path) -> ExportResult:
    if target.is_dir():
        target = target / f"{album.name}.m3u"
    _refuse_catalogued(catalog, target, folder=False)
    text, skipped = m3u_text(album, rows)
    _write(target, text)
    return ExportResult("m3u", str(target), written=text.count("\n#EXTINF"), skipped=skipped)


def json_document(album: Album, rows: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The album as one JSON document: name, source, rule, times and members (with rank)."""
    return {
        "name": album.name,
        "source": album.source,
        "rule": album.rule_data,
        "updated_at": album.updated_at,
        "evaluated_at": album.evaluated_at,
        "error": album.error,
        "count": len(album.members),
        "members": [{"rank": n, **m} for n, m in enumerate(album.members, 1)],
    }


def _json(catalog: Any, album: Album, rows: dict[str, dict[str, Any]], target: Path) -> ExportResult:
    if target.is_dir():
        target = target / f"{album.name}.json"
    _refuse_catalogued(catalog, target, folder=False)
    _write(target, json.dumps(json_document(album, rows), indent=2, ensure_ascii=False) + "\n")
    return ExportResult("json", str(target), written=len(album.members))


def _write(target: Path, text: str) -> None:
    """Write a file atomically (a temporary file renamed over it), never following a symlink at DEST."""
    if target.is_symlink():
        raise ExportError(f"{target} is a symlink: choose another file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
