"""Nearest neighbours within a radius without comparing every pair: an inverted-file (IVF) index in NumPy.

The base vectors are split into 2√n lists (at most n/250) by k-means (trained on a sample); each base vector sits
in the list of its nearest centroid, each query is compared with the members of its `probes` nearest lists, one
float32 matrix product per list and block of queries (the same search as an IVF_FLAT vector index, batched for many
queries at once: a self-join of a million vectors is about n^1.5 work instead of n^2). Up to `EXACT_BELOW` base
vectors there is a single list, so the search is exact."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

EXACT_BELOW = 20_000  # fewer base vectors than this: one list, every pair compared (exact)
LIST_SIZE = 250  # the fewest members a list has on average (bigger matrix products: less overhead per product)
TRAIN_MOST = 65_536  # the k-means sample at most
BLOCK_SCORES = 1 << 22  # most distances computed at once (16 MB of float32)
TRAIN_PER_LIST = 64  # k-means sample: this many vectors per list
TRAIN_ITERATIONS = 8
QUERY_BLOCK = 4096  # queries per matrix product


@dataclass(frozen=True)
class Pairs:
    """Neighbour pairs: query index `left`, base index `right`, Euclidean `distance`; sorted by left, then
    distance."""

    left: I64
    right: I64
    distance: F32

    def __len__(self) -> int:
        return len(self.left)


def _as_matrix(vectors: NDArray[np.floating], what: str) -> F32:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{what}: expected a 2-d array of vectors, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what}: vectors with NaN or infinite values")
    return matrix


def _squares(matrix: F32) -> F32:
    squares: F32 = np.einsum("ij,ij->i", matrix, matrix)
    return squares


def _nearest_lists(matrix: F32, centroids: F32, count: int) -> I64:
    """Each row's `count` nearest centroids, nearest first (in blocks)."""
    count = min(count, len(centroids))
    out = np.empty((len(matrix), count), np.int64)
    squares = _squares(centroids)
    for start in range(0, len(matrix), QUERY_BLOCK):
        part = matrix[start : start + QUERY_BLOCK]
        d2 = squares[None, :] - 2.0 * (part @ centroids.T)  # |x|² is the same for every centroid of a row
        if count == 1:
            out[start : start + len(part), 0] = np.argmin(d2, axis=1)
            continue
        top = np.argpartition(d2, count - 1, axis=1)[:, :count]
        order = np.argsort(np.take_along_axis(d2, top, axis=1), axis=1)
        out[start : start + len(part)] = np.take_along_axis(top, order, axis=1)
    return out


def train_centroids(matrix: F32, lists: int, seed: int = 0) -> F32:
    """`lists` k-means centroids of a sample of the rows (Lloyd's iterations; an emptied list takes a random row)."""
    rng = np.random.default_rng(seed)
    n = len(matrix)
    size = min(n, max(lists, min(lists * TRAIN_PER_LIST, TRAIN_MOST)))
    sample = matrix[np.sort(rng.choice(n, size=size, replace=False))]
    centroids = sample[rng.choice(len(sample), size=lists, replace=False)].copy()
    for _ in range(TRAIN_ITERATIONS):
        owner = _nearest_lists(sample, centroids, 1)[:, 0]
        counts = np.bincount(owner, minlength=lists)
        order = np.argsort(owner, kind="stable")
        used = counts > 0
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[used]
        sums = np.zeros_like(centroids)
        sums[used] = np.add.reduceat(sample[order], starts, axis=0)
        empty = ~used
        centroids = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        if empty.any():
            centroids[empty] = sample[rng.choice(len(sample), size=int(empty.sum()), replace=False)]
    return centroids.astype(np.float32)


class NeighborIndex:
    """Base vectors in inverted lists (k-means cells) for radius-bounded k-nearest-neighbour searches."""

    def __init__(self, base: NDArray[np.floating], *, lists: int | None = None, seed: int = 0) -> None:
        self.base = _as_matrix(base, "base")
        n = len(self.base)
        if lists is None:
            lists = 1 if n < EXACT_BELOW else max(1, min(int(2 * math.sqrt(n)), n // LIST_SIZE))
        if lists < 1:
            raise ValueError(f"lists must be at least 1, got {lists}")
        lists = min(lists, max(n, 1))
        self.squares = _squares(self.base)
        if lists == 1:
            self.centroids = np.zeros((1, self.base.shape[1]), np.float32)
            owner = np.zeros(n, np.int64)
        else:
            self.centroids = train_centroids(self.base, lists, seed)
            owner = _nearest_lists(self.base, self.centroids, 1)[:, 0]
        self.owner = owner
        self.order = np.argsort(owner, kind="stable").astype(np.int64)  # base rows grouped by list
        self.starts = np.searchsorted(owner[self.order], np.arange(len(self.centroids) + 1)).astype(np.int64)

    @property
    def lists(self) -> int:
        return len(self.centroids)

    def search(
        self,
        queries: NDArray[np.floating],
        k: int,
        radius: float,
        *,
        probes: int = 1,
        self_join: bool = False,
    ) -> Pairs:
        """Up to `k` nearest base vectors within `radius` (Euclidean) of each query, among the members of its
        `probes` nearest lists. With `self_join` the queries are the base rows themselves and a row is not its
        own neighbour."""
        matrix = _as_matrix(queries, "queries")
        if matrix.shape[1] != self.base.shape[1]:
            raise ValueError(f"queries have {matrix.shape[1]} dimensions, the index {self.base.shape[1]}")
        if self_join and len(matrix) != len(self.base):
            raise ValueError("a self-join needs the base vectors as the queries")
        if k < 1 or probes < 1 or radius < 0 or not math.isfinite(radius):
            raise ValueError(f"need k >= 1, probes >= 1 and a finite radius >= 0 (got {k}, {probes}, {radius})")
        empty = Pairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
        if not len(matrix) or not len(self.base):
            return empty
        probed = _nearest_lists(matrix, self.centroids, probes) if self.lists > 1 else np.zeros((len(matrix), 1))
        # Queries grouped by probed list: (list, query) for every probe.
        flat_lists = probed.reshape(-1).astype(np.int64)
        flat_queries = np.repeat(np.arange(len(matrix), dtype=np.int64), probed.shape[1])
        by_list = np.argsort(flat_lists, kind="stable")
        flat_lists, flat_queries = flat_lists[by_list], flat_queries[by_list]
        bounds = np.searchsorted(flat_lists, np.arange(self.lists + 1))
        q_squares = _squares(matrix)
        dim = matrix.shape[1]
        # |q - b|² <= r²  <=>  q·b - |b|²/2 >= (|q|² - r²)/2: one matrix product of [q, 1] and [b, -|b|²/2] and
        # one comparison with a per-query bound; the distance is then |q|² - 2 × that score.
        bound = (q_squares - np.float32(radius * radius)) / 2.0
        lefts: list[I64] = []
        rights: list[I64] = []
        gaps: list[F32] = []
        position = np.empty(len(self.base), np.int64)  # a base row's place within its list
        position[self.order] = np.arange(len(self.base)) - np.repeat(self.starts[:-1], np.diff(self.starts))
        for cell in range(self.lists):
            members = self.order[self.starts[cell] : self.starts[cell + 1]]
            asking = flat_queries[bounds[cell] : bounds[cell + 1]]
            if not len(members) or not len(asking):
                continue
            block_base = np.empty((len(members), dim + 1), np.float32)
            block_base[:, :dim] = self.base[members]
            block_base[:, dim] = -self.squares[members] / 2.0
            step = max(16, min(QUERY_BLOCK, BLOCK_SCORES // len(members)))
            for start in range(0, len(asking), step):
                rows = asking[start : start + step]
                block = np.ones((len(rows), dim + 1), np.float32)
                block[:, :dim] = matrix[rows]
                score = block @ block_base.T
                if self_join:  # a row is not its own neighbour: where it is in this list, it is out of reach
                    own = np.flatnonzero(self.owner[rows] == cell)
                    score[own, position[rows[own]]] = -np.inf
                hit_rows, hit_cols = np.nonzero(score >= bound[rows, None])
                if len(hit_rows) > k * len(rows) and len(members) > k:  # dense: keep each row's k nearest first
                    top = np.argpartition(-score, k - 1, axis=1)[:, :k]
                    near = np.take_along_axis(score, top, axis=1)
                    hit_rows, picked = np.nonzero(near >= bound[rows, None])
                    hit_cols = top[hit_rows, picked]
                lefts.append(rows[hit_rows])
                rights.append(members[hit_cols])
                d2 = q_squares[rows[hit_rows]] - 2.0 * score[hit_rows, hit_cols]
                gaps.append(np.maximum(d2, 0.0).astype(np.float32))
        if not lefts:
            return empty
        left, right, d2s = np.concatenate(lefts), np.concatenate(rights), np.concatenate(gaps)
        order = np.lexsort((right, d2s, left))
        left, right, d2s = left[order], right[order], d2s[order]
        first = np.searchsorted(left, left, side="left")
        keep = np.arange(len(left)) - first < k
        return Pairs(left[keep], right[keep], np.sqrt(d2s[keep]).astype(np.float32))


def self_join(
    vectors: NDArray[np.floating], k: int, radius: float, *, probes: int = 3, lists: int | None = None, seed: int = 0
) -> Pairs:
    """Each row's up to `k` nearest other rows within `radius` (Euclidean): exact below `EXACT_BELOW` rows, else
    over an IVF index searched in the `probes` nearest lists."""
    index = NeighborIndex(vectors, lists=lists, seed=seed)
    return index.search(index.base, k, radius, probes=probes, self_join=True)


def cosine_radius(min_cosine: float) -> float:
    """The Euclidean radius between unit vectors that is the same bound as a cosine of at least `min_cosine`."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * min_cosine))
