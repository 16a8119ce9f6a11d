"""Near-duplicates and faces clustering at 1M assets: the former all-pairs ways against the IVF self-join ones.

Near-duplicates: 512-d unit vectors in topic clusters (CLIP-like: most pairs far apart, a topic's members at a cosine
around 0.5) with planted near-copies (a cosine of about 0.986-0.999 to their original, a vector up to 500 rows before),
or the segment-0 vectors of a catalog's first pixel space when `catalog_dir` is given. The old way
(`exact_cosine_pairs`, every pair by blocks) runs on the first `old_n` vectors and is extrapolated as n² to n; the new
(`cosine_pairs`, the self-join) runs on all n. Recall: of the exact method's pairs on the `old_n` subset, with the index
forced there (as many lists as a catalog of old_n vectors gets, old_n / 250); and of the planted copies at n.

Faces: 128-d dlib-like descriptors in identity clusters (log-normal sizes, about 20 faces per identity; per
identity a spread of 0.29-0.45 between two of its faces, some lookalike identities close to another, a few
blurred faces farther out). The old way (`all_pairs_clusters`: dlib's Chinese whispers over every pair) runs on
`old_n` faces, extrapolated as n²; the new on n: a full recluster (`sparse_clusters`), and an incremental
update (the people the full clustering found, less their last 2 % of faces; those then arrive, join a person by
`nearest_people` or are clustered among themselves). The OpenBLAS threads are best limited to one on a machine
shared with other jobs (OPENBLAS_NUM_THREADS=1: small matrix products with idle-spinning threads are several
times slower under load). Quality against the true identities: pairwise precision and recall, and the adjusted
Rand index.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src:plugins .venv/bin/python benchmarks/scale_plugins.py [--n 1000000]
        [--old-n 20000] [--json] [--only duplicates|faces] [--catalog DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "plugins"))

from chronicon.search import neighbors  # noqa: E402
from chronicon.search.neighbors import cosine_radius, self_join  # noqa: E402
from chronicon_duplicates.grouping import Vectors, cosine_pairs, exact_cosine_pairs, load_vectors  # noqa: E402
from chronicon_faces.cluster import all_pairs_clusters, nearest_people  # noqa: E402
from chronicon_faces.graph import sparse_clusters  # noqa: E402

F32 = NDArray[np.float32]
COSINE_ALONE, NEIGHBORS, PROBES = 0.97, 10, 3  # the duplicates plugin's defaults
FACE_DISTANCE = 0.5  # faces.cluster_distance's default
OLD_DUPLICATES_N, OLD_FACES_N = 20_000, 10_000


def clip_like(n: int, dim: int = 512, seed: int = 0, copies: float = 0.02) -> tuple[F32, set[tuple[int, int]]]:
    """Unit vectors in n/200 topic clusters, and (original, copy) index pairs of the planted near-copies."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(max(1, n // 200), dim)).astype(np.float32)
    matrix = np.empty((n, dim), np.float32)
    for start in range(0, n, 65_536):  # in chunks: no n x dim float64 temporaries
        part = min(65_536, n - start)
        matrix[start : start + part] = topics[rng.integers(0, len(topics), part)]
        matrix[start : start + part] += rng.normal(size=(part, dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    # Each copy is of a vector up to 500 rows before it, so that any prefix (the old way's subset) holds its share.
    copied = np.sort(rng.choice(np.arange(500, n) if n > 1_000 else np.arange(1, n), size=int(n * copies),
                                replace=False))  # fmt: skip
    originals = copied - rng.integers(1, min(500, max(2, n // 2)), size=len(copied))
    noise = rng.uniform(0.002, 0.0075, size=(len(copied), 1)).astype(np.float32)  # cosine about 0.999..0.986
    matrix[copied] = matrix[originals] + rng.normal(size=(len(copied), dim)).astype(np.float32) * noise
    matrix[copied] /= np.linalg.norm(matrix[copied], axis=1, keepdims=True)
    return matrix, {(int(min(a, b)), int(max(a, b))) for a, b in zip(originals, copied, strict=True)}


def _catalog_vectors(catalog_dir: str) -> Vectors:
    from chronicon.api import Catalog, is_pixel_space

    catalog = Catalog(catalog_dir)
    space = next((s for s in catalog.vector_spaces() if is_pixel_space(s)), None)
    if space is None:
        raise SystemExit(f"{catalog_dir}: no pixel (CLIP-like) vector space to find near-duplicates in")
    ids = catalog.to_arrow(["id"]).column("id").to_pylist()
    return load_vectors(catalog, space, ids)


def _undirected(pairs: list[tuple[str, str, float]], row: dict[str, int]) -> set[tuple[int, int]]:
    return {(min(row[a], row[b]), max(row[a], row[b])) for a, b, _ in pairs}


def bench_near_duplicates(catalog_dir: str | None, n: int, old_n: int = OLD_DUPLICATES_N) -> dict[str, Any]:
    """Cosine-only near-duplicate pairs over n vectors: old (exact, on old_n, extrapolated n²) against new."""
    planted: set[tuple[int, int]] = set()
    if catalog_dir is not None:
        vectors = _catalog_vectors(catalog_dir)
        n = len(vectors.ids)
    else:
        matrix, planted = clip_like(n)
        vectors = Vectors([f"a{i:07d}" for i in range(n)], matrix)
    old_n = min(old_n, n)
    sub = Vectors(vectors.ids[:old_n], vectors.matrix[:old_n])
    start = time.perf_counter()
    exact = _undirected(exact_cosine_pairs(sub, NEIGHBORS, COSINE_ALONE), sub.row)
    old_s = time.perf_counter() - start
    lists = max(2, old_n // neighbors.LIST_SIZE)  # the index as it would be for that many vectors (forced)
    forced = self_join(sub.matrix, NEIGHBORS, cosine_radius(COSINE_ALONE), probes=PROBES, lists=lists)
    found_sub = {(min(a, b), max(a, b)) for a, b in zip(forced.left.tolist(), forced.right.tolist(), strict=True)}
    start = time.perf_counter()
    pairs = cosine_pairs(vectors, NEIGHBORS, COSINE_ALONE, PROBES)
    new_s = time.perf_counter() - start
    found = _undirected(pairs, vectors.row)
    return {
        "n": n,
        "dim": int(vectors.matrix.shape[1]),
        "old_n": old_n,
        "old_s": round(old_s, 2),
        "old_extrapolated_s": round(old_s * (n / old_n) ** 2, 1),
        "new_s": round(new_s, 2),
        "speedup": round(old_s * (n / old_n) ** 2 / new_s, 1),
        "pairs": len(found),
        "recall_vs_exact": round(len(found_sub & exact) / len(exact), 4) if exact else None,
        "exact_pairs_subset": len(exact),
        "subset_lists": lists,
        "planted": len(planted),
        "recall_planted": round(len(found & planted) / len(planted), 4) if planted else None,
        "source": catalog_dir or "synthetic",
    }


def face_like(n: int, dim: int = 128, seed: int = 1) -> tuple[F32, NDArray[np.int64]]:
    """Faces and their true identity: about 20 faces per identity (log-normal sizes), dlib-like distances."""
    rng = np.random.default_rng(seed)
    sizes = np.ceil(rng.lognormal(2.3, 1.0, size=n // 8)).astype(np.int64)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    sizes[-1] -= int(sizes.sum()) - n
    sizes = sizes[sizes > 0]
    people = len(sizes)
    centres = rng.normal(scale=0.9 / np.sqrt(2 * dim), size=(people, dim)).astype(np.float32)
    lookalikes = rng.random(people) < 0.05  # a sibling: centre about 0.55-0.6 from another identity's
    other = rng.integers(0, people, people)
    centres[lookalikes] = centres[other[lookalikes]] + rng.normal(
        scale=0.58 / np.sqrt(2 * dim), size=(int(lookalikes.sum()), dim)
    ).astype(np.float32)
    truth = np.repeat(np.arange(people, dtype=np.int64), sizes)
    spread = rng.uniform(0.29, 0.45, size=people).astype(np.float32) / np.sqrt(2 * dim).astype(np.float32)
    faces = centres[truth] + rng.normal(size=(n, dim)).astype(np.float32) * spread[truth, None]
    blurred = rng.random(n) < 0.03  # a blurred or turned face: farther from its identity
    faces[blurred] += rng.normal(scale=0.3 / np.sqrt(dim), size=(int(blurred.sum()), dim)).astype(np.float32)
    order = rng.permutation(n)  # faces arrive in no particular order
    return faces[order], truth[order]


def quality(labels: NDArray[np.int64], truth: NDArray[np.int64]) -> dict[str, float]:
    """Pairwise precision and recall of 'same person' and the adjusted Rand index against the true identities."""

    def pairs(counts: NDArray[np.int64]) -> float:
        return float((counts * (counts - 1) // 2).sum())

    _, cells = np.unique(labels.astype(np.int64) * (int(truth.max()) + 1) + truth, return_counts=True)
    together = pairs(cells)
    predicted = pairs(np.unique(labels, return_counts=True)[1])
    actual = pairs(np.unique(truth, return_counts=True)[1])
    total = len(labels) * (len(labels) - 1) / 2
    expected = predicted * actual / total
    ari = (together - expected) / ((predicted + actual) / 2 - expected)
    return {
        "precision": round(together / predicted, 4) if predicted else 1.0,
        "recall": round(together / actual, 4) if actual else 1.0,
        "ari": round(ari, 4),
    }


def _labels(groups: list[list[int]], n: int) -> NDArray[np.int64]:
    labels = np.empty(n, np.int64)
    for number, group in enumerate(groups):
        labels[group] = number
    return labels


def incremental(faces: F32, known: NDArray[np.int64], distance: float) -> NDArray[np.int64]:
    """Labels when the first len(known) faces are already people (labelled `known`) and the rest arrive: each new
    face joins the person of the nearest centroid within `distance`, the others are clustered among themselves
    (what `cluster.update` does, without the catalog)."""
    labels = np.unique(known, return_inverse=True)[1].astype(np.int64)
    known_n = len(known)
    count = int(labels.max()) + 1
    sums = np.zeros((count, faces.shape[1]), np.float64)
    np.add.at(sums, labels, faces[:known_n])
    centroids = (sums / np.bincount(labels, minlength=count)[:, None]).astype(np.float32)
    nearest = nearest_people(faces[known_n:], centroids, distance)
    out = np.concatenate([labels, nearest])
    rest = np.flatnonzero(nearest < 0)
    if len(rest):
        new = _labels(sparse_clusters(faces[known_n:][rest], distance), len(rest))
        out[known_n + rest] = count + new
    return out


def bench_faces(n: int, old_n: int = OLD_FACES_N) -> dict[str, Any]:
    """Faces clustering of n faces: old (all pairs, on old_n, extrapolated n²) against new, with quality."""
    faces, truth = face_like(n)
    old_n = min(old_n, n)
    start = time.perf_counter()
    old_labels = _labels(all_pairs_clusters(list(faces[:old_n]), FACE_DISTANCE), old_n)
    old_s = time.perf_counter() - start
    new_sub = _labels(sparse_clusters(faces[:old_n], FACE_DISTANCE), old_n)
    start = time.perf_counter()
    full = _labels(sparse_clusters(faces, FACE_DISTANCE), n)
    new_s = time.perf_counter() - start
    known = n - max(1, n // 50)  # the people a full clustering found, less their last 2 % of faces, which arrive
    start = time.perf_counter()
    grown = incremental(faces, full[:known], FACE_DISTANCE)
    incremental_s = time.perf_counter() - start
    return {
        "n": n,
        "identities": len(np.unique(truth)),
        "old_n": old_n,
        "old_s": round(old_s, 2),
        "old_extrapolated_s": round(old_s * (n / old_n) ** 2, 1),
        "new_s": round(new_s, 2),
        "speedup": round(old_s * (n / old_n) ** 2 / new_s, 1),
        "incremental_s": round(incremental_s, 2),
        "incremental_new_faces": n - known,
        "quality_old_subset": quality(old_labels, truth[:old_n]),
        "quality_new_subset": quality(new_sub, truth[:old_n]),
        "quality_new": quality(full, truth),
        "quality_incremental": quality(grown, truth),
        "people_new": len(np.unique(full)),
    }


def _table(name: str, result: dict[str, Any]) -> str:
    lines = [name]
    for key, value in result.items():
        lines.append(f"  {key:<24} {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="assets (vectors) and faces")
    parser.add_argument("--old-n", type=int, default=None, help="size the old ways run at (extrapolated as n²)")
    parser.add_argument("--catalog", default=None, help="near-duplicates over this catalog's vectors instead")
    parser.add_argument("--only", choices=("duplicates", "faces"), default=None)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be at least 2, got {args.n}")
    results: dict[str, Any] = {}
    if args.only in (None, "duplicates"):
        results["near_duplicates"] = bench_near_duplicates(args.catalog, args.n, args.old_n or OLD_DUPLICATES_N)
    if args.only in (None, "faces"):
        results["faces"] = bench_faces(args.n, args.old_n or OLD_FACES_N)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("\n".join(_table(name, result) for name, result in results.items()))


if __name__ == "__main__":
    main()
