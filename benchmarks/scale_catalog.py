"""A synthetic N-asset catalog for benchmarks/scale_bench.py, written through the real Catalog API and schema."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chronicon.catalog.schema import ASSETS_SCHEMA
from chronicon.catalog.store import Catalog
from chronicon.catalog.vectors import vector_schema

SPACE = "bench-clip"
DIM = 512
ROOT = "/photos"
LABELS_TYPE = pa.list_(pa.string())
EXTRA_COLUMNS = {"labels": LABELS_TYPE}
# The camera that a small prefilter picks: this many assets (or all of them, in a smaller catalog).
RARE_CAMERA = ("Leica", "M10")
RARE_COUNT = 2_000
CAMERAS = [
    ("Apple", "iPhone 15 Pro"), ("Apple", "iPhone 12"), ("Apple", "iPhone 8"), ("Canon", "EOS R5"),
    ("Canon", "EOS 5D Mark III"), ("NIKON CORPORATION", "NIKON D750"), ("SONY", "ILCE-7M3"), ("Google", "Pixel 8"),
    ("samsung", "SM-G991B"), ("FUJIFILM", "X-T3"), ("OLYMPUS", "E-M10"), ("Panasonic", "DMC-GX80"),
]  # fmt: skip
WORDS = ["beach", "dog", "cat", "sunset", "mountain", "city", "food", "car", "snow", "people", "tree", "boat"]
YEARS = (2005, 2025)  # capture times spread over 20 years
LARGE_AFTER = "2019-01-01"  # about 30 % of the assets are taken on or after this day
BATCH = 50_000


@dataclass
class Built:
    """What was built: where, how many, the space, and how long each part took."""

    directory: Path
    assets: int
    seconds: dict[str, float]


def centres(n_clusters: int, seed: int = 7) -> NDArray[np.float32]:
    """The cluster centres the vectors (and the text-like queries) are drawn around, unit length."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((n_clusters, DIM), dtype=np.float32)
    out: NDArray[np.float32] = c / np.linalg.norm(c, axis=1, keepdims=True)
    return out


def cluster_count(n: int) -> int:
    """A few thousand cluster centres at 1M (one per ~300 assets), at least 20."""
    return max(20, min(4_000, n // 250))


def _asset_batch(
    start: int, stop: int, rng: np.random.Generator, signature: dict[str, str], rare_every: int
) -> pa.Table:
    n = stop - start
    idx = np.arange(start, stop)
    ids = [f"{i:08x}{(i * 2654435761) % 2**32:08x}" for i in idx.tolist()]
    is_video = rng.random(n) < 0.07
    span = datetime(YEARS[1], 1, 1, tzinfo=UTC).timestamp() - datetime(YEARS[0], 1, 1, tzinfo=UTC).timestamp()
    taken = datetime(YEARS[0], 1, 1, tzinfo=UTC).timestamp() + span * rng.random(n)  # ~30 % from 2019 on
    taken_text = [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S") for t in taken.tolist()]
    no_date = rng.random(n) < 0.03
    mtime_ns = ((taken + rng.uniform(0, 86_400 * 30, n)) * 1e9).astype(np.int64)
    cam = np.minimum(rng.zipf(1.6, n) - 1, len(CAMERAS) - 1)
    rare = idx % rare_every == 0
    makes = [RARE_CAMERA[0] if r else CAMERAS[c][0] for c, r in zip(cam.tolist(), rare.tolist(), strict=True)]
    models = [RARE_CAMERA[1] if r else CAMERAS[c][1] for c, r in zip(cam.tolist(), rare.tolist(), strict=True)]
    paths = []
    for i, t, v in zip(idx.tolist(), taken_text, is_video.tolist(), strict=True):
        folder = f"{ROOT}/{t[:4]}/{t[:7]}/event-{(i // 97) % 5000:04d}"
        paths.append(f"{folder}/{'VID' if v else 'IMG'}_{i:07d}.{'MOV' if v else 'JPG'}")
    gps = rng.random(n) < 0.35
    lat = np.where(gps, rng.uniform(-60, 70, n), np.nan)
    lon = np.where(gps, rng.uniform(-180, 180, n), np.nan)
    labels = [[WORDS[j] for j in rng.choice(len(WORDS), 2, replace=False).tolist()] for _ in range(n)]
    now = datetime.now(UTC)
    kinds = ["video" if v else "image" for v in is_video.tolist()]
    columns: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.string()),
        "path": pa.array(paths, pa.string()),
        "root": pa.array([ROOT] * n, pa.string()),
        "kind": pa.array(kinds, pa.string()),
        "format": pa.array(["mov" if v else "jpeg" for v in is_video.tolist()], pa.string()),
        "size": pa.array(
            np.where(is_video, rng.integers(5 * 10**6, 5 * 10**8, n), rng.integers(5 * 10**5, 12 * 10**6, n))
        ),
        "mtime_ns": pa.array(mtime_ns, pa.int64()),
        "content_hash": pa.array([f"h{i:015x}" for i in idx.tolist()], pa.string()),
        "status": pa.array(["done"] * n, pa.string()),
        "pass_signature": pa.array([signature[k] for k in kinds], pa.string()),
        "missing": pa.array(np.zeros(n, bool), pa.bool_()),
        "first_seen": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        "updated_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        "width": pa.array(np.where(is_video, 1920, 4032), pa.int64()),
        "height": pa.array(np.where(is_video, 1080, 3024), pa.int64()),
        "taken_at": pa.array([None if d else t for t, d in zip(taken_text, no_date.tolist(), strict=True)]),
        "camera_make": pa.array(makes, pa.string()),
        "camera_model": pa.array(models, pa.string()),
        "gps_lat": pa.array(lat, pa.float64(), from_pandas=True),
        "gps_lon": pa.array(lon, pa.float64(), from_pandas=True),
        "duration": pa.array(np.where(is_video, rng.uniform(2, 120, n), np.nan), pa.float64(), from_pandas=True),
        "thumbnail": pa.array([f"thumbnails/{i[:2]}/{i}.webp" for i in ids], pa.string()),
        "labels": pa.array(labels, LABELS_TYPE),
    }
    schema = ASSETS_SCHEMA.append(pa.field("labels", LABELS_TYPE))
    return pa.table({name: columns.get(name, pa.nulls(n, schema.field(name).type)) for name in schema.names},
                    schema=schema)  # fmt: skip


def _vector_batch(ids: pa.Array, centre: np.ndarray, rng: np.random.Generator, hashes: pa.Array) -> pa.Table:
    n = len(ids)
    assign = rng.integers(0, len(centre), n)
    noise = rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(0.9 / np.sqrt(DIM))
    v = centre[assign] + noise
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    schema = vector_schema(SPACE, DIM)
    return pa.table(
        {
            "asset_id": ids,
            "segment": pa.array(np.zeros(n, np.int32), pa.int32()),
            "t_start": pa.nulls(n, pa.float64()),
            "t_end": pa.nulls(n, pa.float64()),
            "content_hash": hashes,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), DIM),
            "frame_times": pa.nulls(n, pa.list_(pa.float64())),
            "frame_vectors": pa.nulls(n, pa.list_(pa.float32())),
        },
        schema=schema,
    )


def build(directory: Path, n: int, signature: dict[str, str], *, seed: int = 0, log: bool = True) -> Built:
    """Write n assets and their 512-d vectors in batches of BATCH (one LanceDB commit each), then the indexes
    a scan builds (`Catalog.ensure_search_indexes`: id, labels, and the ANN index from 100k vectors)."""
    rare_every = max(1, n // RARE_COUNT)
    rng = np.random.default_rng(seed)
    catalog = Catalog(directory, extra_columns=EXTRA_COLUMNS)
    vectors = catalog.vector_table(SPACE, DIM)
    centre = centres(cluster_count(n))
    seconds = {"assets": 0.0, "vectors": 0.0, "indexes": 0.0}
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        t0 = time.perf_counter()
        table = _asset_batch(start, stop, rng, signature, rare_every)
        catalog.assets.add(table)  # (a scan's upsert is a merge_insert; a fresh catalog is plain appends)
        t1 = time.perf_counter()
        vectors._tbl.add(_vector_batch(table.column("id"), centre, rng, table.column("content_hash")))
        t2 = time.perf_counter()
        seconds["assets"] += t1 - t0
        seconds["vectors"] += t2 - t1
        if log:
            print(f"  built {stop:,}/{n:,} assets", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    catalog.compact()
    catalog.ensure_search_indexes()
    seconds["indexes"] = time.perf_counter() - t0
    return Built(catalog.dir, n, {k: round(v, 1) for k, v in seconds.items()})
