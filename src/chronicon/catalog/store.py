"""The Catalog class: opens (creates, migrates) the LanceDB folder or object-store URI and reads and writes asset
rows in batches."""

from __future__ import annotations

import os

os.environ.setdefault("LANCE_LOG", "error")  # lance warns on every table creation otherwise

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa

from chronicon.catalog.faults import READ_ONLY, advice_for, guard, guarded, is_husk, lance_reason
from chronicon.catalog.location import CatalogLocation, parse_location
from chronicon.catalog.lock import ScanLock
from chronicon.catalog.objectstore import ObjectStore
from chronicon.catalog.pinned import once
from chronicon.catalog.schema import (
    ASSETS_SCHEMA,
    ASSETS_TABLE,
    INDEX_COLUMNS,
    META_SCHEMA,
    META_TABLE,
    MIGRATIONS,
    SCHEMA_VERSION,
)
from chronicon.catalog.tables import PluginTable, Where, where_sql
from chronicon.catalog.vectors import VectorTable, list_spaces
from chronicon.errors import CatalogError, CatalogLockedError, CatalogStorageError

log = logging.getLogger(__name__)

_IN_CHUNK = 500  # ids per `IN (...)` clause


def sql_str(value: str) -> str:
    """A SQL string literal for LanceDB filters."""
    return "'" + value.replace("'", "''") + "'"


def display_path(path: str) -> str:
    """The path as text that is valid UTF-8 (undecodable bytes shown as \\xNN), for storing and printing."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def raw_path(path: str) -> bytes | None:
    """The exact bytes of a path that is not valid UTF-8, else None."""
    try:
        path.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return os.fsencode(path)


def fs_path(row: dict[str, Any]) -> str:
    """The filesystem path of a catalog row (exact even for names that are not UTF-8)."""
    raw = row.get("path_raw")
    return os.fsdecode(raw) if raw else str(row["path"])


@dataclass(slots=True)
class IndexEntry:
    """The few columns of one asset the scanner needs to diff the disk against the catalog."""

    id: str
    path: str  # filesystem path
    kind: str | None
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str | None
    error_kind: str | None
    pass_signature: str | None
    missing: bool
    missing_since: datetime | None
    sidecars: str | None = None  # "name:size:mtime_ns" lines of its sidecars when last scanned


class Catalog:
    """One catalog: LanceDB tables `assets` and `meta`, `thumbnails/`, and `scan.lock` (a folder), or the same
    tables, `thumbnails/` and `scan.lease` under an `s3://bucket/prefix` (see docs/object-storage.md).

    `dir` is always a local folder: the catalog itself, or an object-store catalog's staging folder, where the
    passes write thumbnails that `upsert` uploads before the batch that names them commits."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | CatalogLocation,
        extra_columns: dict[str, pa.DataType] | None = None,
    ):
        self.location = parse_location(directory)
        self.dir = self.location.local
        self._indexed: tuple[int, frozenset[str]] | None = None  # (assets version, its indexed columns)
        self.store: ObjectStore | None = None
        if self.location.remote:
            self.store = ObjectStore(self.location)
            self.store.client  # noqa: B018 - boto3 missing is a clear error now, not mid-scan
        # Called before every commit of asset rows; a scan sets it to its lock's `check`, so a scan whose
        # object-store lease was taken over (it stalled past the TTL) commits nothing more.
        self.commit_guard: Callable[[], None] | None = None
        self.extra_columns = dict(extra_columns or {})
        self._vector_tables: dict[str, VectorTable] = {}
        self.repaired: list[str] = []  # half-created tables removed on open (see `_remove_husks`)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = advice_for(exc.errno) or exc.strerror or str(exc)
            raise CatalogStorageError(f"cannot create the catalog folder {self.dir}: {why}", exc.errno) from exc
        try:
            self._open()
        except CatalogError as exc:
            if self.store is None or isinstance(exc, CatalogLockedError):
                raise
            # On object storage an open that fails is nearly always the endpoint, bucket or credentials, not
            # damage (and `catalog check` is local-only): say so, with the URI rather than the staging folder.
            reason = lance_reason(exc.__cause__ or exc)
            raise CatalogStorageError(
                f"cannot open the catalog {self.location.uri}: {reason}; check the endpoint, the bucket and the "
                "credentials (catalog_storage_options, AWS_* environment variables)"
            ) from exc

    def _open(self) -> None:
        with guarded("meta", "open", self.dir):
            # Every read sees the latest commit, also one made by another process or another Library (a scan
            # while the web app serves, a plugin command): without this a table handle stays on its version.
            self.db = lancedb.connect(
                self.location.uri,
                read_consistency_interval=timedelta(0),
                storage_options=self.location.storage_options or None,
            )
            self.repaired = self._remove_husks()
            self._ensure_meta()
            self._migrate()
        with guarded(ASSETS_TABLE, "open", self.dir):
            self._assets = self._ensure_assets()

    def fault_place(self) -> tuple[str, Path]:
        """The table and folder that storage errors of the asset methods name (see `faults.guard`)."""
        return ASSETS_TABLE, self.dir

    # -- opening -----------------------------------------------------------------------------------------
    def _table_names(self) -> set[str]:
        result = self.db.list_tables()
        names = getattr(result, "tables", result)
        if self.store is not None:
            husks = set(self._remote_husks())
            return {str(n) for n in names if str(n) not in husks}
        return {str(n) for n in names if not is_husk(self.dir / f"{n}.lance")}

    def _remote_husks(self) -> list[str]:
        """The tables under the object-store prefix that hold no committed version (one LIST per table)."""
        assert self.store is not None
        husks = []
        for folder in self.store.folders():
            if folder.endswith(".lance") and not any(True for _ in self.store.list_files(f"{folder}/_versions")):
                husks.append(folder.removesuffix(".lance"))
        return husks

    def _husks(self) -> list[str]:
        """The names of the tables that hold no committed version, in a local folder or under the prefix."""
        if self.store is not None:
            return self._remote_husks()
        return [p.name.removesuffix(".lance") for p in self.dir.glob("*.lance") if is_husk(p)]

    def _remove_husk(self, name: str) -> None:
        if self.store is not None:
            self.store.delete([key for key, _ in self.store.list_files(f"{name}.lance")])
        else:
            shutil.rmtree(self.dir / f"{name}.lance")

    def _remove_husks(self) -> list[str]:
        """Delete table folders that hold no committed version (a crash or a full disk stopped their creation;
        LanceDB lists them but cannot open them, so every command would fail). Done under the scan lock, so
        a table another process is creating right now is left alone; skipped when the lock is not free or the
        catalog is read-only (the listings ignore husks anyway)."""
        if not self._husks():
            return []
        lock = ScanLock(self.location)
        try:
            lock.acquire()
        except CatalogError:
            return []
        removed: list[str] = []
        try:
            for name in self._husks():  # again under the lock: a table committed meanwhile is no husk
                try:
                    self._remove_husk(name)
                except OSError as exc:
                    log.warning("could not remove the half-created table %s.lance: %s", name, exc)
                    continue
                log.warning("removed the half-created table %s.lance (it held no committed data)", name)
                removed.append(name)
        finally:
            lock.release()
        return removed

    def _ensure_meta(self) -> None:
        if META_TABLE not in self._table_names():
            self.db.create_table(META_TABLE, schema=META_SCHEMA, exist_ok=True)
        if "schema_version" not in self.meta():
            # A new catalog (or one whose creation was killed before this line): the assets table is only
            # created after the version is recorded, so it is the current version.
            self.set_meta("created_at", datetime.now(UTC).isoformat())
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def _ensure_assets(self) -> Any:
        if ASSETS_TABLE in self._table_names():
            table = self.db.open_table(ASSETS_TABLE)
        else:
            table = self.db.create_table(ASSETS_TABLE, schema=ASSETS_SCHEMA, exist_ok=True)
        have = set(table.schema.names)
        new = [pa.field(name, dtype) for name, dtype in self.extra_columns.items() if name not in have]
        if new:
            # Plugin columns: added as nulls; not a schema migration because the core never reads them.
            try:
                with guarded(ASSETS_TABLE, "add columns to", self.dir):
                    table.add_columns(new)
            except CatalogStorageError as exc:
                if exc.errno not in READ_ONLY:
                    raise
                # A read-only catalog still serves searches; the new plugin's columns arrive with a writable scan.
                log.warning("the catalog is read-only: not adding the columns %s", ", ".join(f.name for f in new))
        return table

    def meta(self) -> dict[str, str]:
        with guarded(META_TABLE, "read", self.dir):
            data = self.db.open_table(META_TABLE).to_arrow().to_pydict()
        return dict(zip(data["key"], data["value"], strict=True))

    def set_meta(self, key: str, value: str) -> None:
        rows = pa.Table.from_pylist([{"key": key, "value": value}], schema=META_SCHEMA)
        with guarded(META_TABLE, "write", self.dir):
            table = self.db.open_table(META_TABLE)
            table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(rows)

    @property
    def schema_version(self) -> int:
        return int(self.meta().get("schema_version", "0"))

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog at {self.dir} has schema version {version}, newer than this Chronicon "
                f"understands ({SCHEMA_VERSION}); upgrade Chronicon"
            )
        if version == SCHEMA_VERSION:
            return
        with ScanLock(self.location):
            for step in range(version + 1, SCHEMA_VERSION + 1):
                migration = MIGRATIONS.get(step)
                if migration is None:
                    raise CatalogError(f"no migration to catalog schema version {step}")
                log.info("migrating the catalog %s to schema version %d", self.dir, step)
                migration(self.db)  # each step is idempotent, so a crash mid-way just re-runs it
                self.set_meta("schema_version", str(step))

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def assets(self) -> Any:
        return self._assets

    @property
    def schema(self) -> pa.Schema:
        return once(("schema", id(self._assets)), lambda: self._assets.schema)  # (once per `pinned()` read)

    @guard("read")
    def table_version(self) -> int:
        """The LanceDB version of the assets table (each committed write makes a new one)."""
        return once(("version", id(self._assets)), lambda: int(self._assets.version))

    @guard("read")
    def indexed_columns(self) -> frozenset[str]:
        """The assets columns that have a scalar, label-list or full-text index (kept per table version)."""
        version = self.table_version()
        if self._indexed is None or self._indexed[0] != version:
            try:
                columns = frozenset(c for i in self._assets.list_indices() for c in i.columns)
            except Exception:  # an index is an accelerator: without the list, read as if there were none
                columns = frozenset()
            self._indexed = (version, columns)
        return self._indexed[1]

    @guard("read")
    def count(self, where: Where | str | None = None) -> int:
        return int(self._assets.count_rows(where_sql(where)))

    @guard("read")
    def _scan(
        self, columns: Sequence[str] | None = None, where: Where | str | None = None, *, row_ids: bool = False
    ) -> pa.Table:
        query = self._assets.search()
        sql = where_sql(where)
        if sql:
            query = query.where(sql)
        if columns is not None:
            query = query.select(list(columns))
        if row_ids:
            query = query.with_row_id(True)
        return query.limit(None).to_arrow()

    def to_arrow_with_row_ids(self, columns: Sequence[str], where: Where | str | None = None) -> pa.Table:
        """As `to_arrow`, plus LanceDB's `_rowid` of each row (valid for this table version: `rows_at`)."""
        return self._scan(columns, where, row_ids=True)

    @guard("read")
    def rows_at(self, row_ids: Sequence[int], columns: Sequence[str]) -> pa.Table:
        """The rows with these `_rowid`s (read by `to_arrow_with_row_ids` of the same table version), no scan."""
        if not row_ids:
            return self._scan(columns, "false")
        return self._assets.take_row_ids(list(row_ids)).select(list(columns)).to_arrow()

    def index(self) -> list[IndexEntry]:
        """The diff columns of every asset, read column-wise (fast even for a million rows)."""
        data = self._scan(INDEX_COLUMNS).to_pydict()
        raws = data["path_raw"]
        paths = [os.fsdecode(r) if r else p for p, r in zip(data["path"], raws, strict=True)]
        return [
            IndexEntry(*fields)
            for fields in zip(
                data["id"],
                paths,
                data["kind"],
                data["size"],
                data["mtime_ns"],
                data["content_hash"],
                data["status"],
                data["error_kind"],
                data["pass_signature"],
                [bool(m) for m in data["missing"]],
                data["missing_since"],
                data["sidecars"],
                strict=True,
            )
        ]

    def rows_by_id(self, ids: Iterable[str], columns: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if columns is not None:
            have = set(self.schema.names)
            columns = [c for c in columns if c in have]
        for chunk in _chunks(list(ids), _IN_CHUNK):
            where = "id IN (" + ", ".join(sql_str(i) for i in chunk) + ")"
            for row in self._scan(columns, where=where).to_pylist():
                out[row["id"]] = row
        return out

    def row_by_path(self, path: str) -> dict[str, Any] | None:
        shown = display_path(path)
        rows = self._scan(where=f"path = {sql_str(shown)}").to_pylist()
        exact = [r for r in rows if fs_path(r) == path]
        return exact[0] if exact else (rows[0] if rows else None)

    def rows(self, where: Where | str | None = None, columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        yield from self._scan(columns, where).to_pylist()

    def to_arrow(self, columns: Sequence[str] | None = None, where: Where | str | None = None) -> pa.Table:
        return self._scan(columns, where)

    # -- writing (always in batches) ---------------------------------------------------------------------
    @guard("write")
    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace whole rows by id, as one LanceDB commit (atomic: all rows or none).

        On an object-store catalog the staged thumbnails are uploaded first, so no committed row names a
        thumbnail that is not there (a kill in between leaves unreferenced ones, which the sweep removes)."""
        if not rows:
            return
        if self.commit_guard is not None:
            self.commit_guard()
        staged = self.upload_staged()
        table = pa.Table.from_pylist(list(rows), schema=self._assets.schema)
        self._assets.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(table)
        for path in staged:  # uploaded and now named by committed rows: the staging copy is no longer needed
            path.unlink(missing_ok=True)

    def upload_staged(self) -> list[Path]:
        """Object-store catalog: upload the thumbnails waiting in the staging folder; the local files uploaded
        (the caller removes them after its commit). A folder catalog: nothing to do."""
        if self.store is None:
            return []
        return self.store.upload_staged(self.dir)

    def read_file(self, relative: str) -> bytes | None:
        """A file beside the tables (`thumbnails/ab/<id>.webp`), or None when there is none."""
        if self.store is not None:
            return self.store.read(relative)
        try:
            return (self.dir / relative).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def remove_files(self, relatives: Sequence[str]) -> None:
        """Delete files beside the tables (thumbnails of purged assets); missing ones are fine."""
        if not relatives:
            return
        if self.store is not None:
            self.store.delete(list(relatives))
        for relative in relatives:
            (self.dir / relative).unlink(missing_ok=True)

    @guard("write")
    def update_columns(self, rows: Sequence[dict[str, Any]]) -> int:
        """Set some columns of existing assets, by id, in one commit; other columns and unknown ids are left alone.

        Every row needs `id` and the same other keys (e.g. `{"id": ..., "aesthetic": 0.7}`). Plugins use this
        for results computed after a scan; hold the scan lock (`chronicon.catalog.lock.ScanLock`) when no scan
        does. Returns the number of rows given."""
        if not rows:
            return 0
        names = list(rows[0])
        if "id" not in names:
            raise ValueError("update_columns needs an `id` in every row")
        wanted = set(names)
        uneven = next((r for r in rows if set(r) != wanted), None)
        if uneven is not None:  # a missing key would be written as null over the stored value
            raise ValueError(f"update_columns: every row needs the same keys {sorted(wanted)}, not {sorted(uneven)}")
        schema = self._assets.schema
        unknown = [name for name in names if name not in schema.names]
        if unknown:
            raise ValueError(f"update_columns: the assets table has no column {', '.join(unknown)}")
        fields = [schema.field(name) for name in names]
        table = pa.Table.from_pylist(list(rows), schema=pa.schema(fields))
        self._assets.merge_insert("id").when_matched_update_all().execute(table)
        return len(rows)

    @guard("write")
    def mark_missing(self, ids: Sequence[str], when: datetime) -> None:
        for chunk in _chunks(list(ids), _IN_CHUNK):
            where = "id IN (" + ", ".join(sql_str(i) for i in chunk) + ")"
            self._assets.update(where=where, values={"missing": True, "missing_since": when})

    @guard("write")
    def delete(self, ids: Sequence[str]) -> None:
        """Remove assets and their vectors in every embedding space."""
        self.delete_vectors(ids)
        for chunk in _chunks(list(ids), _IN_CHUNK):
            self._assets.delete("id IN (" + ", ".join(sql_str(i) for i in chunk) + ")")

    @guard("write")
    def ensure_search_indexes(
        self, *, full_text: Iterable[str] = (), ann_threshold: int = 100_000, fold_new_rows: bool = True
    ) -> dict[str, str]:
        """Id and label-list indexes on the assets table, full-text indexes on the `full_text` columns (those of
        the text lists passes contribute to search), ANN indexes on big vector tables (after a scan).

        `fold_new_rows=False` when `compact` has just run: its optimize already folded new rows into them."""
        done: dict[str, str] = {}
        names = set(self.schema.names)
        from lancedb.index import FTS, BTree, LabelList

        # (taken_at and mtime_ns: browse's newest-first pages read only the newest rows, `search.browse`)
        wanted: dict[str, Any] = {"id": BTree(), "labels": LabelList(), "object_counts": LabelList(),
                                  "taken_at": BTree(), "mtime_ns": BTree()}  # fmt: skip
        wanted.update({column: FTS() for column in full_text})
        try:
            indexed = {c for i in self._assets.list_indices() for c in i.columns}
        except Exception:
            indexed = set()
        if self.count() > 0:
            stale = False
            for column, config in wanted.items():
                if column not in names:
                    continue
                if column in indexed:
                    stale = True
                    continue
                try:
                    self._assets.create_index(column, config=config, replace=True)
                    done[column] = "built"
                except Exception as exc:  # an index is an accelerator: never fail a scan over it
                    log.warning("could not build the index on %s: %s", column, exc)
            if stale and fold_new_rows:
                self._assets.optimize()  # folds new rows into the existing indexes
        for space in self.vector_spaces():
            table = self.open_vector_table(space)
            if table is not None:
                done[space] = table.ensure_index(threshold=ann_threshold)
        return done

    @guard("write")
    def compact(self, keep_versions_for: timedelta = timedelta(hours=1)) -> None:
        """Merge small fragments and drop table versions older than `keep_versions_for` (vector tables too)."""
        self._assets.optimize(cleanup_older_than=keep_versions_for)
        for space in self.vector_spaces():
            table = self.open_vector_table(space)
            if table is not None:
                table.compact(keep_versions_for)

    # -- plugin tables ----------------------------------------------------------------------------------
    def plugin_table(self, name: str, schema: pa.Schema, *, key: Sequence[str] = ()) -> PluginTable:
        """A plugin's own table in this catalog (`faces_people`, `albums_albums`): prefix the name with the plugin's."""
        return PluginTable(self.db, name, schema, key=key, folder=self.dir)

    # -- vectors (one table per embedding space) ---------------------------------------------------------
    def vector_spaces(self) -> list[str]:
        """The embedding spaces that have vectors in this catalog."""
        return list_spaces(self.db)

    def vector_table(self, space: str, dim: int) -> VectorTable:
        """The VectorTable of one embedding space, created on first use."""
        table = self._vector_tables.get(space)
        if table is None or table.dim != dim:
            table = VectorTable(self.db, space, dim)
            self._vector_tables[space] = table
        return table

    def open_vector_table(self, space: str) -> VectorTable | None:
        """The VectorTable of an existing space, or None."""
        table = self._vector_tables.get(space)
        if table is None:
            table = VectorTable.open(self.db, space)
            if table is not None:
                self._vector_tables[space] = table
        return table

    def delete_vectors(self, ids: Sequence[str]) -> None:
        """Drop the vectors of these assets from every space (their files changed or are gone)."""
        if not ids:
            return
        for space in self.vector_spaces():
            table = self.open_vector_table(space)
            if table is not None:
                table.delete_assets(ids)

    # -- summaries ---------------------------------------------------------------------------------------
    @guard("read")
    def stats(self) -> dict[str, Any]:
        table = self._scan(["kind", "status", "size", "missing", "duration"])
        data = table.to_pydict()
        by_kind: dict[str, int] = {}
        by_status: dict[str, int] = {}
        total_bytes = 0
        missing = 0
        video_seconds = 0.0
        for kind, status, size, miss, duration in zip(
            data["kind"], data["status"], data["size"], data["missing"], data["duration"], strict=True
        ):
            if miss:
                missing += 1
                continue
            by_kind[kind] = by_kind.get(kind, 0) + 1
            by_status[status] = by_status.get(status, 0) + 1
            total_bytes += size or 0
            video_seconds += duration or 0.0
        return {
            "catalog": self.location.uri,
            "catalog_schema_version": self.schema_version,
            "assets": sum(by_kind.values()),
            "by_kind": by_kind,
            "by_status": by_status,
            "missing": missing,
            "bytes": total_bytes,
            "video_seconds": round(video_seconds, 3),
            "table_version": int(self._assets.version),
        }


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
