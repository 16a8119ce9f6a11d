"""The small-prefilter rows kept in memory at ANN scale: the same hits as reading them, dropped by a new version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pytest

from chronicon.catalog import vectors as vmod
from chronicon.catalog.vectors import VectorRow, VectorTable

DIM = 16
N = 1_500


def unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return out


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[VectorTable, np.ndarray]:
    """A table with an ANN index (built at a low threshold), so small prefilters take the subset path."""
    vmod.clear_cache()
    rng = np.random.default_rng(11)
    data = unit(rng.standard_normal((N, DIM)).astype(np.float32))
    table = VectorTable(lancedb.connect(str(tmp_path / "db")), "clip", DIM)
    table.replace([VectorRow(f"a{i}", v, segment=0) for i, v in enumerate(data)])
    assert table.ensure_index(threshold=1_000) == "built"
    return table, data


def _ids(hits: list[Any]) -> list[tuple[str, float]]:
    return [(h.asset_id, round(h.score, 5)) for h in hits]


def test_kept_subsets_give_the_hits_of_reading_and_of_brute_force(indexed: tuple[VectorTable, np.ndarray]) -> None:
    table, data = indexed
    rng = np.random.default_rng(2)
    allowed = {f"a{i}" for i in rng.choice(N, 40, replace=False)}
    rows = sorted(int(a[1:]) for a in allowed)
    for q in unit(rng.standard_normal((5, DIM)).astype(np.float32)):
        read = table.search(q, 7, asset_ids=allowed, threshold=1_000)
        kept_first = table.search(q, 7, asset_ids=allowed, threshold=1_000, keep_subsets=4)
        kept_again = table.search(q, 7, asset_ids=allowed, threshold=1_000, keep_subsets=4)
        scores = data[rows] @ q
        brute = [(f"a{rows[i]}", round(float(scores[i]), 5)) for i in np.argsort(-scores)[:7]]
        assert _ids(read) == _ids(kept_first) == _ids(kept_again) == brute
    version, kept = vmod._SUBSETS[table._key]
    assert version == table.table_version() and list(kept) == [frozenset(allowed)]


def test_a_write_drops_the_kept_rows(indexed: tuple[VectorTable, np.ndarray]) -> None:
    table, _ = indexed
    allowed = {f"a{i}" for i in range(0, 60, 3)}
    query = unit(np.ones(DIM, dtype=np.float32))
    before = table.search(query, 3, asset_ids=allowed, threshold=1_000, keep_subsets=2)
    assert before[0].asset_id != "a30"
    table.replace([VectorRow("a30", query)])  # now the best match of the query
    after = table.search(query, 3, asset_ids=allowed, threshold=1_000, keep_subsets=2)
    assert after[0].asset_id == "a30" and after[0].score == pytest.approx(1.0, abs=1e-5)


def test_the_kept_subsets_are_bounded(indexed: tuple[VectorTable, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    table, _ = indexed
    query = unit(np.ones(DIM, dtype=np.float32))
    sets = [{f"a{i}" for i in range(start, start + 30)} for start in range(0, 300, 30)]
    for allowed in sets:
        table.search(query, 3, asset_ids=allowed, threshold=1_000, keep_subsets=3)
    assert list(vmod._SUBSETS[table._key][1]) == [frozenset(s) for s in sets[-3:]]  # the latest three
    monkeypatch.setattr(vmod, "SUBSET_ROWS", 45)  # at most 45 rows: one set of 30 fits
    table.search(query, 3, asset_ids=sets[0], threshold=1_000, keep_subsets=3)
    assert list(vmod._SUBSETS[table._key][1]) == [frozenset(sets[0])]
    assert table.search(query, 3, asset_ids={"nope"}, threshold=1_000, keep_subsets=3) == []
