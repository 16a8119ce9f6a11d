"""Clustering faces without comparing every pair: a k-nearest-neighbour graph under the distance (an IVF
self-join) and Chinese whispers on that sparse graph, in NumPy."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from chronicon.api import self_join

NEIGHBORS = 16  # edges kept per face: its nearest faces within the distance
PROBES = 3  # k-means lists searched per face (above 20k faces)
ITERATIONS = 30  # Chinese whispers rounds at most (it stops when no label changes)


def knn_edges(
    matrix: NDArray[np.float32], distance: float, neighbors: int = NEIGHBORS, probes: int = PROBES
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Undirected edges (i < j) between each face and its `neighbors` nearest others within `distance`."""
    if len(matrix) < 2 or distance <= 0:
        empty = np.empty(0, np.int64)
        return empty, empty
    found = self_join(matrix, min(neighbors, len(matrix) - 1), distance, probes=probes)
    low, high = np.minimum(found.left, found.right), np.maximum(found.left, found.right)
    keys = np.unique(low * len(matrix) + high)
    return keys // len(matrix), keys % len(matrix)


def chinese_whispers(
    n: int, left: NDArray[np.int64], right: NDArray[np.int64], iterations: int = ITERATIONS, seed: int = 0
) -> NDArray[np.int64]:
    """A label per node: every node starts alone, and in each round a random half of the nodes take the label
    most common among their neighbours and themselves (ties: the lowest label), until at most one node in
    2,000 would change (or `iterations` rounds)."""
    labels = np.arange(n, dtype=np.int64)
    if not len(left):
        return labels
    rng = np.random.default_rng(seed)
    nodes = np.arange(n, dtype=np.int64)
    source = np.concatenate([left, right, nodes])  # a node's own label votes once (dlib's graph has self-edges)
    target = np.concatenate([right, left, nodes])
    linked = np.zeros(n, bool)
    linked[left] = linked[right] = True
    for _ in range(iterations):
        keys, votes = np.unique(source * n + labels[target], return_counts=True)
        owner, label = keys // n, keys % n
        order = np.lexsort((label, -votes, owner))  # ties to the lowest label, as dlib's
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        best = labels.copy()
        best[owner[first]] = label[first]
        differ = linked & (best != labels)
        if int(differ.sum()) <= n // 2_000:  # settled (a few ties may flip for ever)
            break
        moving = differ & (rng.random(n) < 0.5)
        labels[moving] = best[moving]
    return labels


def sparse_clusters(matrix: NDArray[np.float32], distance: float) -> list[list[int]]:
    """Groups of row indices of faces within `distance` of each other (Chinese whispers on the k-NN graph),
    ordered by their first index."""
    if not len(matrix):
        return []
    left, right = knn_edges(matrix, distance)
    labels = chinese_whispers(len(matrix), left, right)
    order = np.lexsort((np.arange(len(labels)), labels))
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    groups = [order[a:b].tolist() for a, b in itertools.pairwise(bounds.tolist())]
    return sorted(groups, key=lambda g: g[0])
