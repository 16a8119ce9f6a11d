"""Tests of the per-space vector tables: atomic replace, exact and ANN search, prefilters and the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pytest

from chronicon.catalog import vectors as vmod
from chronicon.catalog.vectors import (
    VECTOR_TABLE_PREFIX,
    VectorRow,
    VectorTable,
    list_spaces,
    vector_table_name,
)
from chronicon.errors import CatalogError

DIM = 16


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    vmod.clear_cache()


@pytest.fixture
def db(tmp_path: Path) -> Any:
    return lancedb.connect(str(tmp_path / "db"))


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def rand(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return unit(rng.standard_normal((n, dim)).astype(np.float32))


def axis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    return v


def test_names_are_sanitised_and_never_collide() -> None:
    assert vector_table_name("conse_minilm_l6") == VECTOR_TABLE_PREFIX + "conse_minilm_l6"
    a = vector_table_name("clip-vit-b-32")
    b = vector_table_name("clip_vit_b_32")
    c = vector_table_name("CLIP-vit-b-32")
    assert len({a, b, c}) == 3
    assert a.startswith(VECTOR_TABLE_PREFIX + "clip_vit_b_32_")
    assert all(ch.isalnum() or ch == "_" for ch in a)
    with pytest.raises(ValueError):
        vector_table_name("")


def test_list_spaces_and_open(db: Any) -> None:
    assert list_spaces(db) == []
    assert VectorTable.open(db, "clip-vit-b-32-laion2b_s34b_b79k") is None
    VectorTable(db, "clip-vit-b-32-laion2b_s34b_b79k", 512)
    VectorTable(db, "conse-minilm-l6", 384)
    db.create_table("assets", data=[{"id": "x"}])
    assert list_spaces(db) == ["clip-vit-b-32-laion2b_s34b_b79k", "conse-minilm-l6"]
    opened = VectorTable.open(db, "conse-minilm-l6")
    assert opened is not None and opened.dim == 384 and opened.space == "conse-minilm-l6"


def test_dim_mismatch_is_a_catalog_error(db: Any) -> None:
    VectorTable(db, "clip", 8)
    with pytest.raises(CatalogError, match="8-d"):
        VectorTable(db, "clip", 16)


def test_replace_is_one_commit_and_removes_old_segments(db: Any) -> None:
    rng = np.random.default_rng(0)
    vt = VectorTable(db, "clip", DIM)
    vs = rand(rng, 6)
    vt.replace(
        [
            VectorRow("video", vs[0], 0),
            VectorRow("video", vs[1], 1, 0.0, 2.0),
            VectorRow("video", vs[2], 2, 2.0, 4.0),
            VectorRow("photo", vs[3], content_hash="h1"),
        ]
    )
    assert vt.count() == 4
    version = vt._tbl.version
    vt.replace([VectorRow("video", vs[4], 0), VectorRow("video", vs[5], 1, 0.0, 5.0), VectorRow("new", vs[0])])
    assert vt._tbl.version == version + 1  # one commit
    got = vt.vectors_for(["video", "photo", "new", "absent"])
    assert set(got) == {"video", "photo", "new"}
    assert [(r.segment, r.t_start, r.t_end) for r in got["video"]] == [(0, None, None), (1, 0.0, 5.0)]
    np.testing.assert_allclose(got["video"][1].vector, vs[5])
    assert got["photo"][0].content_hash == "h1"
    assert got["photo"][0].vector.dtype == np.float32
    vt.replace([])  # no-op
    assert vt._tbl.version == version + 1
    with pytest.raises(ValueError):
        vt.replace([VectorRow("x", np.ones(3, np.float32))])


def test_replace_can_also_clear_assets_that_now_have_nothing(db: Any) -> None:
    rng = np.random.default_rng(1)
    vt = VectorTable(db, "faces", DIM)
    vs = rand(rng, 4)
    vt.replace([VectorRow("a", vs[0], 1), VectorRow("a", vs[1], 2), VectorRow("b", vs[2], 1)])
    version = vt._tbl.version
    vt.replace([VectorRow("c", vs[3], 1)], also_clear=["a"])  # "a" now has no faces: gone in the same commit
    assert vt._tbl.version == version + 1
    assert set(vt.vectors_for(["a", "b", "c"])) == {"b", "c"}
    vt.replace([], also_clear=["b"])
    assert set(vt.vectors_for(["a", "b", "c"])) == {"c"}


def test_delete_assets(db: Any) -> None:
    rng = np.random.default_rng(1)
    vt = VectorTable(db, "clip", DIM)
    vs = rand(rng, 4)
    vt.replace([VectorRow("a", vs[0]), VectorRow("b", vs[1]), VectorRow("b", vs[2], 1), VectorRow("c'q", vs[3])])
    vt.delete_assets(["b", "c'q", "nope"])
    assert vt.count() == 1
    assert [h.asset_id for h in vt.search(vs[1], 5)] == ["a"]


def test_exact_ranking_prefilter_per_asset_and_min_score(db: Any) -> None:
    vt = VectorTable(db, "clip", DIM)
    q = axis(0)
    near = [unit(axis(0) + s * axis(1)) for s in (0.1, 0.3, 0.6, 1.0, 2.0)]  # decreasing similarity
    rows = [VectorRow(f"p{i}", v) for i, v in enumerate(near)]
    rows += [
        VectorRow("vid", near[1], 0),
        VectorRow("vid", near[0], 3, 6.0, 8.0),
        VectorRow("vid", near[2], 4, 8.0, 9.0),
    ]
    rows += [VectorRow(f"far{i}", axis(2 + i % 10)) for i in range(20)]
    vt.replace(rows)
    hits = vt.search(q, 3)
    assert [h.asset_id for h in hits][:1] in (["p0"], ["vid"])
    assert {h.asset_id for h in hits} == {"p0", "vid", "p1"}
    vid = next(h for h in hits if h.asset_id == "vid")
    assert (vid.segment, vid.t_start, vid.t_end) == (3, 6.0, 8.0)
    assert hits[0].score == pytest.approx(float(near[0] @ q), abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    all_segments = vt.search(q, 3, per_asset=False)
    assert sorted((h.asset_id, h.segment) for h in all_segments) == [("p0", 0), ("p1", 0), ("vid", 3)] or sorted(
        (h.asset_id, h.segment) for h in all_segments
    ) == [("p0", 0), ("vid", 0), ("vid", 3)]
    # per_asset still returns k distinct assets when one asset's segments crowd the top
    assert len({h.asset_id for h in vt.search(q, 6)}) == 6
    assert [h.asset_id for h in vt.search(q, 2, asset_ids={"p3", "p4", "far1"})] == ["p3", "p4"]
    big = {f"far{i}" for i in range(20)} | {f"x{i}" for i in range(20_000)} | {"p2"}
    assert [h.asset_id for h in vt.search(q, 1, asset_ids=big)] == ["p2"]
    assert vt.search(q, 5, asset_ids=set()) == []
    strong = vt.search(q, 50, min_score=float(near[2] @ q) - 1e-6)
    assert {h.asset_id for h in strong} == {"p0", "p1", "p2", "vid"}
    assert all(h.score >= float(near[2] @ q) - 1e-6 for h in strong)


def test_cache_invalidates_after_a_write(db: Any) -> None:
    vt = VectorTable(db, "clip", DIM)
    vt.replace([VectorRow("a", axis(0)), VectorRow("b", axis(1))])
    assert vt.search(axis(2), 1)[0].score == pytest.approx(0.0)
    other = VectorTable(db, "clip", DIM)  # a second handle sees writes made through the first
    assert other.search(axis(1), 1)[0].asset_id == "b"
    vt.replace([VectorRow("c", axis(2))])
    assert other.search(axis(2), 1)[0].asset_id == "c"
    vt.delete_assets(["c"])
    assert other.search(axis(2), 1)[0].asset_id != "c"


def test_ann_path_matches_exact_and_finds_rows_added_after_the_index(db: Any) -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    centers = rand(rng, 30)
    data = unit(centers[rng.integers(0, 30, n)] + 0.3 * rng.standard_normal((n, DIM)).astype(np.float32))
    vt = VectorTable(db, "clip", DIM)
    vt.replace([VectorRow(f"a{i}", v) for i, v in enumerate(data)])
    assert vt.ensure_index(threshold=5_000) == "none"
    assert vt.ensure_index(threshold=1_000) == "built"
    assert vt.ensure_index(threshold=1_000) == "current"
    assert vt.stats()["index"] is not None
    queries = unit(data[:20] + 0.05 * rng.standard_normal((20, DIM)).astype(np.float32))
    for i, q in enumerate(queries):
        exact = vt.search(q, 5, threshold=10**9)
        ann = vt.search(q, 5, threshold=1_000)
        assert ann[0].asset_id == exact[0].asset_id == f"a{i}"
        assert ann[0].score == pytest.approx(exact[0].score, abs=1e-4)
    fresh = unit(rng.standard_normal(DIM).astype(np.float32))
    vt.replace([VectorRow("late", fresh)])
    assert vt.stats()["unindexed_rows"] == 1
    assert vt.search(fresh, 3, threshold=1_000)[0].asset_id == "late"
    # prefilters in ANN mode: a small set is scored exactly, a large one is post-filtered
    assert [h.asset_id for h in vt.search(data[5], 1, threshold=1_000, asset_ids={"a5", "a6"})] == ["a5"]
    allowed = {f"a{i}" for i in range(0, n, 2)}
    hits = vt.search(data[8], 10, threshold=1_000, asset_ids=allowed)
    assert hits[0].asset_id == "a8" and len(hits) == 10 and all(h.asset_id in allowed for h in hits)
    assert vt.ensure_index(threshold=1_000) == "updated"
    assert vt.stats()["unindexed_rows"] == 0
    assert vt.search(fresh, 1, threshold=1_000)[0].asset_id == "late"


def test_a_segment_seen_through_several_frames_pools_them_and_points_at_the_best(db: Any) -> None:
    from chronicon.catalog.vectors import pooled_row

    table = VectorTable(db, "s", DIM)
    row = pooled_row("v", 1, [(2.0, axis(0)), (9.5, axis(1)), (14.0, axis(2))], t_start=0.0, t_end=20.0)
    assert row.frames is not None and [t for t, _ in row.frames] == [2.0, 9.5, 14.0]
    assert np.allclose(row.vector, unit(axis(0) + axis(1) + axis(2)))  # the mean, re-normalised
    one = pooled_row("v", 2, [(21.0, axis(3))], t_start=20.0, t_end=25.0)
    assert one.frames is not None and len(one.frames) == 1  # one frame: its time is kept (its vector is the row's)
    untimed = pooled_row("v", 3, [(None, axis(5))], t_start=25.0, t_end=30.0)
    assert untimed.frames is None
    table.replace([VectorRow("v", axis(4), 0), row, one, untimed, VectorRow("p", axis(1))])
    moments = table.best_moments(axis(1), ["v", "p"])
    assert list(moments) == ["v"]  # a photo has no segments
    assert (moments["v"].segment, moments["v"].t, moments["v"].t_start) == (1, 9.5, 0.0)
    assert moments["v"].score == pytest.approx(1.0)
    assert table.best_moments(unit(axis(2) + 0.1 * axis(0)), ["v"])["v"].t == 14.0
    # A one-frame segment is its own vector, at its frame's time; one written without a time, at its start.
    assert (table.best_moments(axis(3), ["v"])["v"].segment, table.best_moments(axis(3), ["v"])["v"].t) == (2, 21.0)
    assert table.best_moments(axis(5), ["v"])["v"].t == 25.0
    assert table.best_moments(axis(1), []) == {}
    # Search ranks by the pooled vector: the shot (1/sqrt(3) on axis 1) comes after the photo that is axis 1.
    hits = table.search(axis(1), 2, per_asset=False)
    assert [(h.asset_id, h.segment) for h in hits] == [("p", 0), ("v", 1)]
    assert hits[1].score == pytest.approx(1 / np.sqrt(3), abs=1e-5)
    assert [r.segment for r in table.vectors_for(["v"])["v"]] == [0, 1, 2, 3]


def test_a_table_written_before_frames_were_kept_gains_their_columns_on_its_next_write(db: Any) -> None:
    import pyarrow as pa

    from chronicon.catalog.vectors import FRAME_FIELDS, pooled_row, vector_schema

    schema = vector_schema("old", DIM)
    old = pa.schema([f for f in schema if f.name not in {f.name for f in FRAME_FIELDS}], metadata=schema.metadata)
    db.create_table(vector_table_name("old"), schema=old)
    table = VectorTable.open(db, "old")
    assert table is not None
    assert table.best_moments(axis(0), ["v"]) == {}  # nothing kept yet, and no error
    table.replace([pooled_row("v", 1, [(1.0, axis(0)), (5.0, axis(1))], t_start=0.0, t_end=8.0)])
    assert {f.name for f in FRAME_FIELDS} <= set(db.open_table(table.name).schema.names)
    assert table.best_moments(axis(1), ["v"])["v"].t == 5.0
