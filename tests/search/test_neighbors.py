"""The IVF neighbour search: exact below its threshold, the same pairs as brute force over k-means lists."""

from __future__ import annotations

import numpy as np
import pytest

from chronicon.search import neighbors
from chronicon.search.neighbors import NeighborIndex, cosine_radius, self_join


def _brute(matrix: np.ndarray, k: int, radius: float) -> set[tuple[int, int]]:
    d = np.sqrt(np.maximum(((matrix[:, None, :] - matrix[None, :, :]) ** 2).sum(-1), 0))
    np.fill_diagonal(d, np.inf)
    out: set[tuple[int, int]] = set()
    for i, row in enumerate(d):
        near = [j for j in np.argsort(row, kind="stable")[:k] if row[j] <= radius]
        out.update((i, int(j)) for j in near)
    return out


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(2, n // 40), dim))
    return (centres[rng.integers(0, len(centres), n)] + rng.normal(scale=0.15, size=(n, dim))).astype(np.float32)


def test_one_list_is_brute_force() -> None:
    matrix = _clustered(600, 16, 1)
    found = self_join(matrix, 5, 0.6)
    assert NeighborIndex(matrix).lists == 1
    assert set(zip(found.left.tolist(), found.right.tolist(), strict=True)) == _brute(matrix, 5, 0.6)
    assert len(found) > 600
    expected = np.linalg.norm(matrix[found.left] - matrix[found.right], axis=1)
    assert np.allclose(found.distance, expected, atol=1e-4)
    assert (np.diff(found.left) >= 0).all()  # sorted by query


def test_lists_find_the_same_pairs_with_enough_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbors, "EXACT_BELOW", 100)
    monkeypatch.setattr(neighbors, "LIST_SIZE", 50)
    matrix = _clustered(1_500, 16, 2)
    exact = _brute(matrix, 4, 0.5)
    index = NeighborIndex(matrix)
    assert index.lists == 30
    every = index.search(matrix, 4, 0.5, probes=index.lists, self_join=True)
    assert set(zip(every.left.tolist(), every.right.tolist(), strict=True)) == exact
    few = index.search(matrix, 4, 0.5, probes=3, self_join=True)
    found = set(zip(few.left.tolist(), few.right.tolist(), strict=True))
    assert found <= exact and len(found) >= 0.99 * len(exact)


def test_queries_against_another_base() -> None:
    base = _clustered(300, 8, 3)
    queries = base[:50] + 0.01
    found = NeighborIndex(base).search(queries, 1, 0.1)
    assert found.left.tolist() == list(range(50)) and found.right.tolist() == list(range(50))


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="2-d"):
        NeighborIndex(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        NeighborIndex(np.full((3, 2), np.nan, np.float32))
    index = NeighborIndex(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.zeros((2, 3), np.float32), 1, 0.5)
    with pytest.raises(ValueError, match="k >= 1"):
        index.search(np.zeros((2, 2), np.float32), 0, 0.5)
    assert cosine_radius(1.0) == 0.0 and cosine_radius(0.5) == pytest.approx(1.0)
