"""Checking a catalog's tables for damage and going back to a table's last good LanceDB version.

Every commit makes a new table version and LanceDB keeps the old ones until compaction drops those older than
an hour (`scan.compact_after_batches`), so a truncated or lost data file usually leaves an earlier version
that still reads whole. `check` reads every row of every table (streamed, so a million 512-d vectors are
fine) and, for a damaged one, walks back through the kept versions to the newest that reads. `restore` makes
that version the latest (a new commit; nothing is deleted) and keeps the other tables consistent with it:
vectors of assets the restored table no longer has are dropped, and assets whose vectors went back in time
are marked so the next scan computes them again. Works on the raw LanceDB folder, so it also runs on a
catalog that `Catalog()` can no longer open."""

from __future__ import annotations

import json
import logging
import os

os.environ.setdefault("LANCE_LOG", "error")

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import lancedb

from chronicon.catalog.faults import guarded, is_husk, lance_reason
from chronicon.catalog.schema import ASSETS_TABLE, META_TABLE
from chronicon.catalog.vectors import SPACE_KEY, VECTOR_TABLE_PREFIX
from chronicon.errors import CatalogError

log = logging.getLogger(__name__)

_BATCH = 4096  # rows per streamed batch when reading a table whole


@dataclass
class TableHealth:
    """What `check` found about one table."""

    table: str
    role: str  # "assets", "meta", "vectors" (derived: a scan re-creates them) or "plugin"
    state: str  # "ok", "damaged" or "half-created" (no committed version: removed on the next open)
    version: int | None = None
    rows: int | None = None
    versions_kept: int = 0
    problem: str | None = None
    last_good: int | None = None  # the newest kept version that reads whole (damaged tables)
    last_good_at: str | None = None
    last_good_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RestoreResult:
    """What `restore` did to one table and to the others to keep them consistent."""

    table: str
    from_version: int | None
    to_version: int | None  # the version whose content is now the latest; None when the table was dropped
    rows_before: int | None
    rows_after: int
    dropped: bool = False
    vectors_pruned: dict[str, int] = field(default_factory=dict)  # space table -> rows of unknown assets removed
    assets_to_redo: int = 0  # assets whose passes the next scan runs again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def role_of(table: str) -> str:
    if table == ASSETS_TABLE:
        return "assets"
    if table == META_TABLE:
        return "meta"
    if table.startswith(VECTOR_TABLE_PREFIX):
        return "vectors"
    return "plugin"


def table_names(catalog_dir: Path) -> list[str]:
    """Every table folder of the catalog (also half-created ones), sorted: assets and meta first."""
    names = [p.name.removesuffix(".lance") for p in catalog_dir.glob("*.lance") if p.is_dir()]
    order = {ASSETS_TABLE: 0, META_TABLE: 1}
    return sorted(names, key=lambda n: (order.get(n, 2), n))


def _connect(catalog_dir: Path) -> Any:
    with guarded("catalog", "open", catalog_dir):
        return lancedb.connect(str(catalog_dir))


def _read_whole(table: Any) -> int:
    """Read every column of every row of the table's checked-out version; the row count."""
    rows = 0
    for batch in table.search().limit(None).to_batches(_BATCH):
        rows += batch.num_rows
    return rows


def _versions(table: Any) -> list[dict[str, Any]]:
    return sorted(table.list_versions(), key=lambda v: int(v["version"]), reverse=True)


def check_table(db: Any, catalog_dir: Path, name: str, *, deep: bool = True) -> TableHealth:
    """Open the table and (deep) read it whole; for a damaged table, find the newest kept version that reads."""
    health = TableHealth(name, role_of(name), "ok")
    if is_husk(catalog_dir / f"{name}.lance"):
        health.state = "half-created"
        health.problem = "no committed version (a crash or a full disk stopped its creation)"
        return health
    try:
        table = db.open_table(name)
        health.version = int(table.version)
        versions = _versions(table)
        health.versions_kept = len(versions)
        health.rows = _read_whole(table) if deep else int(table.count_rows())
        return health
    except Exception as exc:  # whatever LanceDB raises for a damaged file: that is what we are looking for
        health.state = "damaged"
        health.problem = lance_reason(exc)
    try:
        table = db.open_table(name)
        versions = _versions(table)
    except Exception:
        return health  # the newest manifest itself is unreadable: nothing to walk back through
    health.versions_kept = len(versions)
    for entry in versions:
        number = int(entry["version"])
        if health.version is not None and number >= health.version:
            continue
        try:
            table.checkout(number)
            rows = _read_whole(table)
        except Exception:
            continue
        health.last_good, health.last_good_rows = number, rows
        stamp = entry.get("timestamp")
        health.last_good_at = stamp.isoformat(timespec="seconds") if isinstance(stamp, datetime) else str(stamp)
        break
    return health


def check(catalog_dir: str | os.PathLike[str], *, deep: bool = True) -> list[TableHealth]:
    """The health of every table of the catalog (`deep`: read every row; else only open and count)."""
    folder = Path(catalog_dir).expanduser().absolute()
    if not folder.is_dir():
        raise CatalogError(f"there is no catalog at {folder}")
    db = _connect(folder)
    return [check_table(db, folder, name, deep=deep) for name in table_names(folder)]


def restore(
    catalog_dir: str | os.PathLike[str],
    table: str,
    version: int | None = None,
    *,
    drop: bool = False,
    ml_passes: Collection[str] = (),
) -> RestoreResult:
    """Make `version` (default: the last good one) the latest version of `table`, or drop a vector table
    (`drop`, when no good version is left: the next scan re-creates its vectors), then keep the others
    consistent. The caller holds the scan lock. `ml_passes` names the passes the next scan must run again for
    assets whose vectors are gone, when their records do not say which spaces they wrote (catalogs written
    before records kept `spaces`)."""
    folder = Path(catalog_dir).expanduser().absolute()
    db = _connect(folder)
    if table not in table_names(folder):
        raise CatalogError(f"the catalog {folder} has no table {table!r} (see `chronicon catalog check`)")
    health = check_table(db, folder, table)
    role = health.role
    if drop:
        if role != "vectors":
            raise CatalogError(
                f"only vector tables can be dropped (a scan re-creates them); {table!r} holds {role} data: restore "
                "a version instead, or move the catalog folder aside and scan again"
            )
        space = _space_of(db, table)
        with guarded(table, "drop", folder):
            db.drop_table(table)
        result = RestoreResult(table, health.version, None, health.rows, 0, dropped=True)
        if space is not None:
            result.assets_to_redo = _redo_space(db, folder, space, set(), ml_passes)
        return result
    if version is None:
        if health.state == "ok":
            raise CatalogError(f"the table {table!r} reads whole; give --version to go back anyway")
        if health.last_good is None:
            advice = (
                f"drop it with `chronicon catalog restore --table {table} --drop` and scan again"
                if role == "vectors"
                else "move the catalog folder aside and scan again (thumbnails and passes are redone)"
            )
            raise CatalogError(f"the table {table!r} has no kept version that reads whole: {advice}")
        version = health.last_good
    with guarded(table, "restore", folder):
        handle = db.open_table(table)
        known = {int(v["version"]) for v in handle.list_versions()}
        if version not in known:
            raise CatalogError(
                f"the table {table!r} keeps versions {', '.join(str(v) for v in sorted(known))}, not {version}"
            )
        handle.checkout(version)
        rows_after = _read_whole(handle)
        handle.restore()
        handle.checkout_latest()
    result = RestoreResult(table, health.version, version, health.rows, rows_after)
    if role == "vectors":
        space = _space_of(db, table)
        if space is not None:
            result.assets_to_redo = _redo_space(db, folder, space, _vector_hashes(db, folder, table), ml_passes)
    elif role == "assets":
        result.vectors_pruned = _prune_vectors(db, folder)
    return result


def _space_of(db: Any, table: str) -> str | None:
    try:
        raw = (db.open_table(table).schema.metadata or {}).get(SPACE_KEY)
    except Exception:
        raw = None
    if raw is None:
        return None
    return bytes(raw).decode("utf-8")


def _vector_hashes(db: Any, folder: Path, table: str) -> dict[str, set[str | None]]:
    """asset id -> the content hashes its vectors in this table were computed from."""
    out: dict[str, set[str | None]] = {}
    with guarded(table, "read", folder):
        data = db.open_table(table).search().select(["asset_id", "content_hash"]).limit(None).to_arrow()
    for asset_id, digest in zip(data["asset_id"].to_pylist(), data["content_hash"].to_pylist(), strict=True):
        out.setdefault(asset_id, set()).add(digest)
    return out


def _redo_space(
    db: Any, folder: Path, space: str, have: dict[str, set[str | None]] | set[str], ml_passes: Collection[str]
) -> int:
    """Mark assets whose vectors in `space` are missing or were computed from other content so that the next
    scan runs again the passes that write that space; the number of assets marked."""
    with guarded(ASSETS_TABLE, "read", folder):
        assets = db.open_table(ASSETS_TABLE)
        data = assets.search().select(["id", "content_hash", "phases"]).limit(None).to_arrow().to_pylist()
    updates: list[dict[str, Any]] = []
    for row in data:
        hashes = have.get(row["id"]) if isinstance(have, dict) else None
        if hashes is not None and (row["content_hash"] in hashes or None in hashes):
            continue  # its vectors there are of this very file
        phases = json.loads(row["phases"]) if row.get("phases") else {}
        stale = [name for name, record in phases.items() if _writes(record, name, space, ml_passes)]
        if not stale:
            continue
        for name in stale:
            phases.pop(name)
        updates.append({"id": row["id"], "phases": json.dumps(phases, sort_keys=True), "pass_signature": None})
    if updates:
        import pyarrow as pa

        schema = assets.schema
        fields = [schema.field("id"), schema.field("phases"), schema.field("pass_signature")]
        with guarded(ASSETS_TABLE, "write", folder):
            table = pa.Table.from_pylist(updates, schema=pa.schema(fields))
            assets.merge_insert("id").when_matched_update_all().execute(table)
    return len(updates)


def _writes(record: Any, name: str, space: str, ml_passes: Collection[str]) -> bool:
    if not isinstance(record, dict):
        return False
    spaces = record.get("spaces")
    if isinstance(spaces, list):
        return space in spaces
    return name in ml_passes  # an older record: it does not say, so redo every model pass


def _prune_vectors(db: Any, folder: Path) -> dict[str, int]:
    """Remove vector rows of assets the (restored) assets table no longer has; rows removed per table."""
    with guarded(ASSETS_TABLE, "read", folder):
        ids = set(db.open_table(ASSETS_TABLE).search().select(["id"]).limit(None).to_arrow()["id"].to_pylist())
    pruned: dict[str, int] = {}
    for name in table_names(folder):
        if role_of(name) != "vectors" or is_husk(folder / f"{name}.lance"):
            continue
        with guarded(name, "write", folder):
            table = db.open_table(name)
            present = set(table.search().select(["asset_id"]).limit(None).to_arrow()["asset_id"].to_pylist())
            unknown = sorted(present - ids)
            for start in range(0, len(unknown), 2000):
                chunk = unknown[start : start + 2000]
                table.delete("asset_id IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in chunk) + ")")
        if unknown:
            pruned[name] = len(unknown)
    return pruned


def damaged(reports: Iterable[TableHealth]) -> list[TableHealth]:
    return [r for r in reports if r.state == "damaged"]
