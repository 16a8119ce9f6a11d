"""Per-embedding-space vector tables: atomic writes, a cached in-memory exact search and a LanceDB ANN index."""

from __future__ import annotations

import os

os.environ.setdefault("LANCE_LOG", "error")

import contextlib
import hashlib
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from chronicon.catalog.faults import guard, guarded, is_husk, translate
from chronicon.catalog.pinned import once
from chronicon.catalog.tables import Where
from chronicon.errors import CatalogError

log = logging.getLogger(__name__)

VECTOR_TABLE_PREFIX = "vectors__"
SPACE_KEY = b"chronicon.space"
DIM_KEY = b"chronicon.dim"

# Exact search is used below this many rows (or while no index exists); see docs/search-index.md.
ANN_THRESHOLD = 100_000
# The index (see docs/search-index.md; figures from benchmarks/search_bench.py): IVF_HNSW_SQ on the dot
# product (vectors are L2-normalised, so dot = cosine): a few IVF partitions of up to ROWS_PER_PARTITION
# rows, each an HNSW graph over 8-bit scalar-quantised vectors. A query visits NPROBES partitions with a
# beam of EF (raised to the candidate count when more are fetched) and re-ranks the best
# k*REFINE_FACTOR candidates on the full float32 vectors.
INDEX_NAME = "vector_idx"
INDEX_TYPE = "IVF_HNSW_SQ"
ROWS_PER_PARTITION = 250_000
HNSW_M = 20
HNSW_EF_CONSTRUCTION = 150
# At 1M (4 partitions), all 200 benchmark queries: nprobes 1 tops out at recall@10 0.90 whatever ef (a query
# near a partition border misses half its neighbours); nprobes 2, ef 80 gives 0.98 at p50 9.3 ms, p99 12 ms.
NPROBES = 2
EF = 80
REFINE_FACTOR = 2
# Prefilters with at most this many allowed assets (or this small a share of the rows) are searched
# exactly over just those rows, even when an ANN index exists.
SMALL_FILTER = 5_000
SMALL_FILTER_SHARE = 0.02

_IN_CHUNK = 2_000  # ids per `IN (...)` clause when reading or deleting
_SANE = re.compile(r"[^a-z0-9_]")

F32 = npt.NDArray[np.float32]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_clause(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(_sql_str(v) for v in values)})"


def vector_table_name(space: str) -> str:
    """The LanceDB table of a space: the prefix, the space in [a-z0-9_], and a hash suffix if that changed it."""
    if not space:
        raise ValueError("an embedding space needs a non-empty name")
    clean = _SANE.sub("_", space.lower())
    if clean != space:
        clean += "_" + hashlib.sha1(space.encode("utf-8")).hexdigest()[:8]
    return VECTOR_TABLE_PREFIX + clean


def _table_names(db: Any) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        result = db.list_tables(page_token=token) if token else db.list_tables()
        page = getattr(result, "tables", result)
        names.extend(n for n in page if not is_husk(_folder(db) / f"{n}.lance"))  # see Catalog._remove_husks
        token = getattr(result, "page_token", None)
        if not token or not page:
            return names


def _folder(db: Any) -> Path:
    return Path(str(getattr(db, "uri", "."))).expanduser()


def _meta(schema: pa.Schema) -> dict[bytes, bytes]:
    return dict(schema.metadata or {})


def list_spaces(db: Any) -> list[str]:
    """The embedding spaces that have a vector table in this database, sorted."""
    spaces: list[str] = []
    for name in _table_names(db):
        if not name.startswith(VECTOR_TABLE_PREFIX):
            continue
        with guarded(name, "open", _folder(db)):
            space = _meta(db.open_table(name).schema).get(SPACE_KEY)
        if space is not None:
            spaces.append(space.decode("utf-8"))
    return sorted(spaces)


# A video segment seen through several frames: their times and vectors (row-major, n × dim), so a search hit can
# point at the frame that matched best. The row's `vector` is their pooled (mean, re-normalised) vector.
FRAME_FIELDS = (pa.field("frame_times", pa.list_(pa.float64())), pa.field("frame_vectors", pa.list_(pa.float32())))


def vector_schema(space: str, dim: int) -> pa.Schema:
    """The schema of a space's table; the space and dimension are kept in its metadata."""
    return pa.schema(
        [
            pa.field("asset_id", pa.string(), nullable=False),
            pa.field("segment", pa.int32()),
            pa.field("t_start", pa.float64()),
            pa.field("t_end", pa.float64()),
            pa.field("content_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            *FRAME_FIELDS,
        ],
        metadata={SPACE_KEY: space.encode("utf-8"), DIM_KEY: str(dim).encode()},
    )


@dataclass
class VectorRow:
    """One embedding: a photo or a whole video (segment 0) or one video shot (segment 1..n)."""

    asset_id: str
    vector: np.ndarray  # float32 (dim,), L2-normalised by the caller
    segment: int = 0
    t_start: float | None = None  # seconds, for video segments
    t_end: float | None = None
    content_hash: str | None = None  # of the file the vector was computed from
    frames: list[tuple[float, np.ndarray]] | None = None  # a video segment's frames: (time, vector)


def pooled_row(
    asset_id: str,
    segment: int,
    frames: Sequence[tuple[float | None, np.ndarray]],
    *,
    t_start: float | None = None,
    t_end: float | None = None,
    content_hash: str | None = None,
) -> VectorRow:
    """One segment's row from the vectors of its frames: their mean, re-normalised, keeping each frame's time
    (and, when there are several, its vector) for `VectorTable.best_moments`."""
    vectors = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for _, v in frames])
    mean = vectors.mean(axis=0)
    pooled = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    timed = [(float(t), vectors[i]) for i, (t, _) in enumerate(frames) if t is not None]
    keep = timed if timed and len(timed) == len(frames) else None
    return VectorRow(asset_id, pooled, segment, t_start, t_end, content_hash, keep)


@dataclass
class VectorHit:
    """A search result; score is the cosine similarity (the dot product of normalised vectors)."""

    asset_id: str
    segment: int
    t_start: float | None
    t_end: float | None
    score: float
    t: float | None = None  # the matched frame's time (best_moments), when known


@dataclass
class _Snapshot:
    """The columns of one table version held in memory for exact search and prefilter look-ups."""

    version: int
    ids: npt.NDArray[np.object_]
    segments: npt.NDArray[np.int32]
    t_start: npt.NDArray[np.float64]  # NaN = null
    t_end: npt.NDArray[np.float64]
    matrix: F32 | None  # (rows, dim); None when only the metadata was loaded (ANN mode)
    rows_of: dict[str, list[int]] = field(default_factory=dict)

    def rows_for(self, asset_ids: Iterable[str]) -> npt.NDArray[np.int64]:
        found: list[int] = []
        for asset_id in asset_ids:
            found.extend(self.rows_of.get(asset_id, ()))
        return np.asarray(found, dtype=np.int64)

    def mask_for(self, asset_ids: Collection[str]) -> npt.NDArray[np.bool_]:
        allowed = asset_ids if isinstance(asset_ids, set | frozenset) else set(asset_ids)
        return np.fromiter((i in allowed for i in self.ids), dtype=np.bool_, count=len(self.ids))


# (table uri, version) -> snapshot; one entry per table, replaced when the table's version changes.
_CACHE: dict[str, _Snapshot] = {}
_CACHE_LOCK = threading.Lock()
# table uri -> (version, {allowed asset ids: the rows of those assets, vectors included}), most recent last: the
# small prefilters searched lately at ANN scale, so repeating one (the next page, an album refresh, the web's
# filter left on) reads no rows from disk. Dropped whole when the table's version changes.
_SUBSETS: dict[str, tuple[int, OrderedDict[frozenset[str], _Snapshot]]] = {}
SUBSET_ROWS = 100_000  # at most this many rows kept over all of a table's subsets (~200 MB of 512-d float32)


def clear_cache() -> None:
    """Forget every in-memory snapshot (tests, or to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _SUBSETS.clear()


def _opt_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


class VectorTable:
    """The vectors of one embedding space: one LanceDB table, rows keyed by (asset_id, segment)."""

    def __init__(self, db: Any, space: str, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"vector dimension must be positive, got {dim}")
        self.db = db
        self.space = space
        self.dim = dim
        self.name = vector_table_name(space)
        try:
            if self.name in _table_names(db):
                self._tbl = db.open_table(self.name)
            else:
                self._tbl = db.create_table(self.name, schema=vector_schema(space, dim), exist_ok=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise translate(exc, self.name, "open", _folder(db)) from exc
        have = self._stored_dim(self._tbl.schema)
        if have != dim:
            raise CatalogError(
                f"the vector table of space {space!r} holds {have}-d vectors, not {dim}-d: "
                "a space name must always mean the same model; use a new space name for another model"
            )
        stored_space = _meta(self._tbl.schema).get(SPACE_KEY)
        if stored_space is not None and stored_space.decode("utf-8") != space:
            raise CatalogError(f"table {self.name!r} belongs to space {stored_space.decode()!r}, not {space!r}")
        self._key = f"{getattr(db, 'uri', id(db))}::{self.name}"
        self._state: tuple[int, int, bool] | None = None  # (version, rows, has an index) of the last search
        names = set(self._tbl.schema.names)
        self._frame_columns = all(f.name in names for f in FRAME_FIELDS)  # (tables written before 2026-12 lack them)

    def fault_place(self) -> tuple[str, Path]:
        """The table and folder that storage errors name (see `faults.guard`)."""
        return self.name, _folder(self.db)

    @staticmethod
    def _stored_dim(schema: pa.Schema) -> int:
        meta = _meta(schema).get(DIM_KEY)
        if meta is not None:
            return int(meta)
        return int(schema.field("vector").type.list_size)

    @classmethod
    def open(cls, db: Any, space: str) -> VectorTable | None:
        """The existing table of a space, or None when the space has no vectors yet."""
        name = vector_table_name(space)
        if name not in _table_names(db):
            return None
        with guarded(name, "open", _folder(db)):
            dim = cls._stored_dim(db.open_table(name).schema)
        return cls(db, space, dim)

    # -- writing -----------------------------------------------------------------------------------------
    def _to_arrow(self, rows: Sequence[VectorRow]) -> pa.Table:
        matrix = np.empty((len(rows), self.dim), dtype=np.float32)
        seen: set[tuple[str, int]] = set()
        for i, row in enumerate(rows):
            vec = np.asarray(row.vector, dtype=np.float32).reshape(-1)
            if vec.shape[0] != self.dim:
                raise ValueError(
                    f"asset {row.asset_id}: vector has {vec.shape[0]} values, space {self.space} is {self.dim}-d"
                )
            if not np.all(np.isfinite(vec)):
                raise ValueError(f"asset {row.asset_id}: vector has NaN or infinite values")
            key = (row.asset_id, int(row.segment))
            if key in seen:
                raise ValueError(f"asset {row.asset_id}: segment {row.segment} given twice")
            seen.add(key)
            matrix[i] = vec
        frame_times: list[list[float] | None] = []
        frame_vectors: list[list[float] | None] = []
        for row in rows:
            frames = row.frames or []
            if not frames or any(np.asarray(v).size != self.dim for _, v in frames):
                frame_times.append(None)
                frame_vectors.append(None)
                continue
            frame_times.append([float(t) for t, _ in frames])
            if len(frames) == 1:  # one frame: its time; its vector is the row's
                frame_vectors.append(None)
                continue
            frame_vectors.append(np.concatenate([np.asarray(v, np.float32).reshape(-1) for _, v in frames]).tolist())
        return pa.table(
            {
                "asset_id": pa.array([r.asset_id for r in rows], pa.string()),
                "segment": pa.array([int(r.segment) for r in rows], pa.int32()),
                "t_start": pa.array([r.t_start for r in rows], pa.float64()),
                "t_end": pa.array([r.t_end for r in rows], pa.float64()),
                "content_hash": pa.array([r.content_hash for r in rows], pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), self.dim),
                "frame_times": pa.array(frame_times, pa.list_(pa.float64())),
                "frame_vectors": pa.array(frame_vectors, pa.list_(pa.float32())),
            },
            schema=vector_schema(self.space, self.dim),
        )

    def _add_frame_columns(self) -> None:
        """Give a table written before frames were kept their (empty) columns: a metadata-only change."""
        if not self._frame_columns:
            self._tbl.add_columns(list(FRAME_FIELDS))
            self._frame_columns = True

    @guard("write")
    def replace(self, rows: Sequence[VectorRow], also_clear: Iterable[str] = ()) -> None:
        """In one commit, make the assets named in rows hold exactly these rows (their other segments go), and
        the assets in `also_clear` hold none."""
        if not rows:
            self.delete_assets(also_clear)
            return
        self._add_frame_columns()
        data = self._to_arrow(rows)
        asset_ids = sorted({r.asset_id for r in rows} | set(also_clear))
        (
            self._tbl.merge_insert(["asset_id", "segment"])
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(_in_clause("asset_id", asset_ids))
            .execute(data)
        )

    @guard("write")
    def delete_assets(self, asset_ids: Iterable[str]) -> None:
        """Remove every row of these assets."""
        ids = sorted(set(asset_ids))
        for start in range(0, len(ids), _IN_CHUNK):
            self._tbl.delete(_in_clause("asset_id", ids[start : start + _IN_CHUNK]))

    # -- reading -----------------------------------------------------------------------------------------
    @guard("read")
    def vectors_for(self, asset_ids: Iterable[str]) -> dict[str, list[VectorRow]]:
        """The rows of these assets, by asset id, segments in order; assets without vectors are left out."""
        ids = sorted(set(asset_ids))
        out: dict[str, list[VectorRow]] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            where = _in_clause("asset_id", ids[start : start + _IN_CHUNK])
            columns = ["asset_id", "segment", "t_start", "t_end", "content_hash", "vector"]
            data = self._tbl.search().where(where).select(columns).limit(None).to_arrow()
            vectors = data.column("vector").combine_chunks()
            flat = vectors.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            matrix = flat.reshape(len(data), self.dim)
            cols = data.select(["asset_id", "segment", "t_start", "t_end", "content_hash"]).to_pydict()
            for i, asset_id in enumerate(cols["asset_id"]):
                out.setdefault(asset_id, []).append(
                    VectorRow(
                        asset_id=asset_id,
                        vector=matrix[i].copy(),
                        segment=int(cols["segment"][i] or 0),
                        t_start=cols["t_start"][i],
                        t_end=cols["t_end"][i],
                        content_hash=cols["content_hash"][i],
                    )
                )
        for segments in out.values():
            segments.sort(key=lambda r: r.segment)
        return out

    @guard("read")
    def best_moments(self, query: np.ndarray, asset_ids: Iterable[str]) -> dict[str, VectorHit]:
        """For each of these videos, the frame of its segments (1..) that matches the query best, as a hit whose
        `t` is that frame's time: a frame kept with its segment (several frames), else the segment's own vector at
        its one frame's time (at its start for rows written without frame times). Assets without segments are
        left out."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        out: dict[str, VectorHit] = {}
        snap = self._snapshot(self._version(), with_vectors=False)  # (cached per table version)
        positions = snap.rows_for(sorted(set(asset_ids)))
        positions = positions[snap.segments[positions] > 0] if len(positions) else positions
        if len(positions) == 0:
            return out
        columns = ["asset_id", "segment", "t_start", "t_end", "vector"]
        columns += [f.name for f in FRAME_FIELDS] if self._frame_columns else []
        for start in range(0, len(positions), _IN_CHUNK):
            chunk = sorted(int(p) for p in positions[start : start + _IN_CHUNK])
            data = self._tbl.take_offsets(chunk).select(columns).to_arrow()
            flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
            scores = np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), self.dim) @ q
            cols = data.select([c for c in columns if c != "vector"]).to_pydict()
            for i, asset_id in enumerate(cols["asset_id"]):
                score, when = float(scores[i]), cols["t_start"][i]
                times = cols.get("frame_times", [None] * len(data))[i]
                frames = cols.get("frame_vectors", [None] * len(data))[i]
                if times and frames and len(frames) == len(times) * self.dim:
                    per_frame = np.asarray(frames, dtype=np.float32).reshape(len(times), self.dim) @ q
                    best = int(np.argmax(per_frame))
                    score, when = float(per_frame[best]), float(times[best])
                elif times and len(times) == 1:  # one frame: the row's vector, at the frame's time
                    when = float(times[0])
                known = out.get(asset_id)
                if known is None or score > known.score:
                    segment = int(cols["segment"][i] or 0)
                    out[asset_id] = VectorHit(asset_id, segment, cols["t_start"][i], cols["t_end"][i], score, when)
        return out

    @guard("read")
    def read(self, columns: Sequence[str] | None = None, where: Where | None = None) -> pa.Table:
        """Rows as Arrow (e.g. `read(["asset_id", "vector"], col("segment") == 0)`: every asset's whole-file vector)."""
        query = self._tbl.search()
        if where is not None:
            query = query.where(where.sql())
        if columns is not None:
            query = query.select(list(columns))
        return query.limit(None).with_row_id(False).to_arrow()

    @guard("read")
    def count(self) -> int:
        return int(self._tbl.count_rows())

    @guard("read")
    def table_version(self) -> int:
        """The LanceDB version of the table (each committed write makes a new one)."""
        return self._version()

    @guard("write")
    def compact(self, keep_versions_for: timedelta) -> None:
        """Merge small fragments, fold new rows into the index, drop versions older than `keep_versions_for`."""
        self._tbl.optimize(cleanup_older_than=keep_versions_for)

    def _version(self) -> int:
        return once(("vectors", self._key), self._latest_version)  # (once per `pinned()` read)

    def _latest_version(self) -> int:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self._tbl.checkout_latest()  # see writes made through other handles and processes
        return int(self._tbl.version)

    def _has_index(self) -> bool:
        return any(INDEX_NAME == getattr(ix, "name", None) for ix in self._tbl.list_indices())

    def _snapshot(self, version: int, with_vectors: bool) -> _Snapshot:
        with _CACHE_LOCK:
            snap = _CACHE.get(self._key)
        if snap is not None and snap.version == version and (snap.matrix is not None or not with_vectors):
            return snap
        with _CACHE_LOCK:
            _CACHE.pop(self._key, None)  # free the old copy before loading the new one
        columns = ["asset_id", "segment", "t_start", "t_end"] + (["vector"] if with_vectors else [])
        data = self._tbl.search().select(columns).limit(None).with_row_id(False).to_arrow()
        matrix: F32 | None = None
        if with_vectors:
            vectors = data.column("vector").combine_chunks()
            flat = vectors.values.to_numpy(zero_copy_only=False)
            matrix = np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), self.dim)
        ids = np.asarray(data.column("asset_id").to_pylist(), dtype=object)
        rows_of: dict[str, list[int]] = {}
        for i, asset_id in enumerate(ids):
            rows_of.setdefault(asset_id, []).append(i)
        snap = _Snapshot(
            version=version,
            ids=ids,
            segments=data.column("segment").fill_null(0).to_numpy().astype(np.int32),
            t_start=data.column("t_start").to_numpy(zero_copy_only=False).astype(np.float64),
            t_end=data.column("t_end").to_numpy(zero_copy_only=False).astype(np.float64),
            matrix=matrix,
            rows_of=rows_of,
        )
        with _CACHE_LOCK:
            _CACHE[self._key] = snap
        return snap

    @guard("read")
    def sample(self, n: int) -> F32:
        """Up to n stored vectors, evenly spaced over the table (the in-memory copy when exact search holds one),
        as a (rows, dim) matrix: what calibrations score against."""
        version = self._version()
        rows = self.count()
        if rows < ANN_THRESHOLD:
            matrix = self._snapshot(version, with_vectors=True).matrix
            assert matrix is not None
            if len(matrix) <= n:
                return matrix
            picks = np.linspace(0, len(matrix) - 1, n).astype(np.int64)
            return np.ascontiguousarray(matrix[picks])
        data = self._tbl.search().select(["vector"]).limit(n).with_row_id(False).to_arrow()
        flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), self.dim)

    @guard("read")
    def load(self) -> None:
        """Warm the in-memory copy that exact search uses (a search does this on first use)."""
        self._snapshot(self._version(), with_vectors=True)

    # -- searching ---------------------------------------------------------------------------------------
    @guard("read")
    def search(
        self,
        query: np.ndarray,
        k: int = 10,
        *,
        asset_ids: Collection[str] | None = None,
        min_score: float | None = None,
        per_asset: bool = True,
        threshold: int = ANN_THRESHOLD,
        keep_subsets: int = 0,
    ) -> list[VectorHit]:
        """The best k hits by cosine similarity, best first.

        asset_ids limits the search to those assets; per_asset keeps only the best segment of each asset
        (k assets are still returned when there are that many); min_score drops weaker hits. Exact below
        `threshold` rows or while no index exists, the ANN index above; there a small prefilter is searched
        exactly over its rows, and `keep_subsets` > 0 keeps the rows of that many recent prefilters in memory
        (until the next write) so that repeating one reads nothing from disk.
        """
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query has {q.shape[0]} values, space {self.space} is {self.dim}-d")
        if k <= 0 or (asset_ids is not None and not asset_ids):
            return []
        version = self._version()
        if self._state is None or self._state[0] != version:
            self._state = (version, self.count(), self._has_index())  # re-read only after a write
        _, rows, indexed = self._state
        if rows == 0:
            return []
        if rows < threshold or not indexed:
            return self._exact(self._snapshot(version, with_vectors=True), q, k, asset_ids, min_score, per_asset)
        return self._ann(version, rows, q, k, asset_ids, min_score, per_asset, keep_subsets)

    @staticmethod
    def _hits(snap: _Snapshot, order: npt.NDArray[np.int64], scores: F32, k: int, per_asset: bool) -> list[VectorHit]:
        hits: list[VectorHit] = []
        seen: set[str] = set()
        for row, score in zip(order.tolist(), scores.tolist(), strict=True):
            asset_id = str(snap.ids[row])
            if per_asset:
                if asset_id in seen:
                    continue
                seen.add(asset_id)
            hits.append(
                VectorHit(
                    asset_id=asset_id,
                    segment=int(snap.segments[row]),
                    t_start=_opt_float(float(snap.t_start[row])),
                    t_end=_opt_float(float(snap.t_end[row])),
                    score=float(score),
                )
            )
            if len(hits) == k:
                break
        return hits

    def _exact(
        self,
        snap: _Snapshot,
        q: F32,
        k: int,
        asset_ids: Collection[str] | None,
        min_score: float | None,
        per_asset: bool,
    ) -> list[VectorHit]:
        """Brute force over the snapshot's matrix: all rows, a few rows of a small prefilter, or a mask."""
        matrix = snap.matrix
        candidates: npt.NDArray[np.int64] | None = None
        if asset_ids is not None and len(asset_ids) <= max(SMALL_FILTER, int(SMALL_FILTER_SHARE * len(snap.ids))):
            assert matrix is not None
            candidates = snap.rows_for(asset_ids)
            scores = matrix[candidates] @ q
        else:
            assert matrix is not None
            scores = matrix @ q
            if asset_ids is not None:
                scores[~snap.mask_for(asset_ids)] = -np.inf
        if min_score is not None:
            scores[scores < min_score] = -np.inf
        n = scores.shape[0]
        # Segments of one asset may crowd the top k: take more, then widen until k assets are found.
        want = k
        while True:
            take = min(n, want)
            if take < n:
                top = np.argpartition(-scores, take - 1)[:take]
            else:
                top = np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            top = top[np.isfinite(scores[top])]
            rows = candidates[top] if candidates is not None else top
            hits = self._hits(snap, rows, scores[top], k, per_asset)
            if len(hits) >= k or take >= n or len(top) < take:
                return hits
            want *= 4

    def _exact_subset(
        self,
        version: int,
        q: F32,
        k: int,
        asset_ids: Collection[str],
        min_score: float | None,
        per_asset: bool,
        keep_subsets: int = 0,
    ) -> list[VectorHit]:
        """Exact search over the rows of a few assets: held in memory (the full matrix, or this prefilter's rows
        kept from an earlier search of this version), else read by position."""
        snap = self._snapshot(version, with_vectors=False)
        if snap.matrix is not None:
            return self._exact(snap, q, k, asset_ids, min_score, per_asset)
        key = frozenset(asset_ids)
        sub = self._kept_subset(version, key) if keep_subsets > 0 else None
        if sub is None:
            sub = self._read_subset(snap, version, key)
            if keep_subsets > 0:
                self._keep_subset(version, key, sub, keep_subsets)
        if len(sub.ids) == 0:
            return []
        return self._exact(sub, q, k, None, min_score, per_asset)

    def _kept_subset(self, version: int, key: frozenset[str]) -> _Snapshot | None:
        with _CACHE_LOCK:
            kept = _SUBSETS.get(self._key)
            if kept is None or kept[0] != version:
                return None
            sub = kept[1].get(key)
            if sub is not None:
                kept[1].move_to_end(key)
            return sub

    def _keep_subset(self, version: int, key: frozenset[str], sub: _Snapshot, most: int) -> None:
        with _CACHE_LOCK:
            kept = _SUBSETS.get(self._key)
            if kept is None or kept[0] != version:
                kept = (version, OrderedDict())
                _SUBSETS[self._key] = kept
            subsets = kept[1]
            subsets[key] = sub
            subsets.move_to_end(key)
            while len(subsets) > 1 and (len(subsets) > most or sum(len(s.ids) for s in subsets.values()) > SUBSET_ROWS):
                subsets.popitem(last=False)

    def _read_subset(self, snap: _Snapshot, version: int, asset_ids: frozenset[str]) -> _Snapshot:
        """The rows of these assets read from disk by position, as a snapshot of their own."""
        positions = np.sort(snap.rows_for(asset_ids))
        if len(positions) == 0:
            return _Snapshot(version, np.asarray([], dtype=object), np.zeros(0, np.int32), np.zeros(0),
                             np.zeros(0), np.zeros((0, self.dim), np.float32))  # fmt: skip
        columns = ["asset_id", "segment", "t_start", "t_end", "vector"]
        data = self._tbl.take_offsets(positions.tolist()).select(columns).to_arrow()
        flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        vectors = np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), self.dim)
        ids = np.asarray(data.column("asset_id").to_pylist(), dtype=object)
        keep = np.fromiter((i in asset_ids for i in ids), dtype=np.bool_, count=len(ids))
        return _Snapshot(
            version=version,
            ids=ids[keep],
            segments=data.column("segment").fill_null(0).to_numpy().astype(np.int32)[keep],
            t_start=data.column("t_start").to_numpy(zero_copy_only=False).astype(np.float64)[keep],
            t_end=data.column("t_end").to_numpy(zero_copy_only=False).astype(np.float64)[keep],
            matrix=np.ascontiguousarray(vectors[keep]),
        )

    def _ann(
        self,
        version: int,
        rows: int,
        q: F32,
        k: int,
        asset_ids: Collection[str] | None,
        min_score: float | None,
        per_asset: bool,
        keep_subsets: int = 0,
    ) -> list[VectorHit]:
        if asset_ids is not None and len(asset_ids) <= max(SMALL_FILTER, int(SMALL_FILTER_SHARE * rows)):
            return self._exact_subset(version, q, k, asset_ids, min_score, per_asset, keep_subsets)
        allowed = None
        if asset_ids is not None:
            allowed = asset_ids if isinstance(asset_ids, set | frozenset) else set(asset_ids)
        share = len(allowed) / rows if allowed is not None else 1.0
        fetch = max(k, min(rows, math.ceil(k / max(share, 1e-6) * (2.0 if allowed is not None else 1.0))))
        if per_asset:
            fetch = max(fetch, 2 * k)
        while True:
            data = (
                self._tbl.search(q, vector_column_name="vector")
                .distance_type("dot")
                .nprobes(NPROBES)
                .ef(max(EF, fetch * REFINE_FACTOR))  # HNSW needs ef >= the candidates it returns
                .refine_factor(REFINE_FACTOR)
                .select(["asset_id", "segment", "t_start", "t_end", "_distance"])
                .limit(fetch)
                .to_arrow()
            )
            cols = data.to_pydict()
            hits: list[VectorHit] = []
            seen: set[str] = set()
            for i, asset_id in enumerate(cols["asset_id"]):
                score = 1.0 - float(cols["_distance"][i])
                if min_score is not None and score < min_score:
                    break
                if allowed is not None and asset_id not in allowed:
                    continue
                if per_asset:
                    if asset_id in seen:
                        continue
                    seen.add(asset_id)
                hits.append(
                    VectorHit(asset_id, int(cols["segment"][i] or 0), cols["t_start"][i], cols["t_end"][i], score)
                )
                if len(hits) == k:
                    return hits
            if len(data) < fetch or fetch >= rows:
                return hits
            fetch = min(rows, fetch * 4)

    # -- the index ---------------------------------------------------------------------------------------
    @guard("write")
    def ensure_index(self, *, threshold: int = ANN_THRESHOLD, force: bool = False) -> str:
        """Build or refresh the ANN index: 'none' (below threshold), 'built', 'updated' or 'current'."""
        rows = self.count()
        has = self._has_index()
        if not force and rows < threshold:
            return "none"
        if has and not force:
            stats = self._tbl.index_stats(INDEX_NAME)
            unindexed = int(getattr(stats, "num_unindexed_rows", 0) or 0)
            if unindexed == 0:
                return "current"
            if unindexed > 0.2 * rows:
                has = False  # the partitions were trained on too little of the data: retrain
            else:
                self._tbl.optimize()
                return "updated"
        self._tbl.create_index("vector", config=self._index_config(rows), replace=True, name=INDEX_NAME)
        return "built"

    def _index_config(self, rows: int) -> Any:
        from lancedb.index import HnswSq, IvfPq

        if INDEX_TYPE == "IVF_PQ":
            partitions = max(1, min(1024, rows // 1_000))
            sub_vectors = next(self.dim // s for s in (8, 4, 2, 1) if self.dim % s == 0 and self.dim // s <= 256)
            return IvfPq(distance_type="dot", num_partitions=partitions, num_sub_vectors=sub_vectors)
        partitions = max(1, math.ceil(rows / ROWS_PER_PARTITION))
        return HnswSq(distance_type="dot", num_partitions=partitions, m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION)

    @guard("read")
    def stats(self) -> dict[str, Any]:
        """Rows, dimension, the index type and how many rows it does not cover yet."""
        rows = self.count()
        out: dict[str, Any] = {"space": self.space, "table": self.name, "rows": rows, "dim": self.dim}
        out["index"] = None
        out["unindexed_rows"] = rows
        if self._has_index():
            stats = self._tbl.index_stats(INDEX_NAME)
            out["index"] = str(getattr(stats, "index_type", "vector"))
            out["unindexed_rows"] = int(getattr(stats, "num_unindexed_rows", 0) or 0)
            out["index_partitions"] = getattr(stats, "num_indices", None)
        out["version"] = int(self._tbl.version)
        return out


def is_pixel_space(space: str) -> bool:
    """Whether a space's vectors embed pixels (CLIP-like: similar pictures are close), rather than text derived
    from them (`…:conse` label mixtures, `…:caption`, `…:speech`) or faces (`…:face`): those names have a suffix."""
    return ":" not in space
