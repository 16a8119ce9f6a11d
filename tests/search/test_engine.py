"""Ranking, filters, combined queries and hybrid fusion on a catalog of hand-made vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chronicon.search.engine import NoVectorsError, SearchEngine
from chronicon.search.filters import FilterError, Filters


def ids(hits: list[Any]) -> list[str]:
    return [h.asset_id for h in hits]


def test_plain_query_ranks_by_cosine_and_skips_missing_files(engine: SearchEngine) -> None:
    hits = engine.search("cat", limit=3, hybrid=False)
    assert ids(hits) == ["a-cat", "a-catdog", "a-dog"] or ids(hits)[:2] == ["a-cat", "a-catdog"]
    assert "a-gone" not in ids(engine.search("cat", limit=10))
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[1].score == pytest.approx(np.sqrt(0.5), abs=1e-4)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert any("similarity" in why for why in hits[0].why)


def test_combined_query_adds_and_subtracts_concepts(engine: SearchEngine) -> None:
    assert ids(engine.search("beach + sunset", limit=1, hybrid=False)) == ["a-sunset"]
    # "beach - people" prefers the beach without people over the one with them.
    ranked = ids(engine.search("beach - people", limit=2, hybrid=False))
    assert ranked[0] == "a-sunset"
    assert ids(engine.search("beach + people", limit=1, hybrid=False)) == ["a-beach"]


def test_filters_kind_dates_camera_labels(engine: SearchEngine) -> None:
    assert ids(engine.search("cat", filters=Filters(kind="video"))) == ["a-catdog"]
    assert set(ids(engine.search("cat", filters=Filters(after="2023")))) == {"a-beach", "a-sunset", "a-catdog"}
    assert set(ids(engine.search("cat", filters=Filters(before="2021-12")))) == {"a-cat"}
    assert set(ids(engine.search("beach", filters=Filters(camera="eos")))) == {"a-cat", "a-beach"}
    assert set(ids(engine.search("beach", filters=Filters(camera="PIXEL")))) == {"a-sunset"}
    assert set(ids(engine.search("dog", filters=Filters(labels=["cat", "dog"])))) == {"a-catdog"}
    assert ids(engine.search("dog", filters=Filters(labels=["nothing-has-this"]))) == []


def test_min_count_filter(engine: SearchEngine) -> None:
    assert ids(engine.search("beach", filters=Filters(min_counts={"person": 3}))) == ["a-beach"]
    assert ids(engine.search("beach", filters=Filters(min_counts={"Person": 2}))) == ["a-beach"]
    assert ids(engine.search("beach", filters=Filters(min_counts={"person": 4}))) == []
    with pytest.raises(FilterError, match="at least 1"):
        engine.search("beach", filters=Filters(min_counts={"person": 0}))


def test_bad_filter_values_are_clear_errors(engine: SearchEngine) -> None:
    with pytest.raises(FilterError, match="not a date"):
        engine.search("cat", filters=Filters(after="last tuesday"))
    with pytest.raises(FilterError, match="image or video"):
        engine.search("cat", filters=Filters(kind="audio"))


def test_min_score_drops_weak_matches(engine: SearchEngine) -> None:
    hits = engine.search("cat", min_score=0.5, limit=10, hybrid=False)
    assert ids(hits) == ["a-cat", "a-catdog"]


def test_hybrid_fuses_label_matches_by_reciprocal_rank(engine: SearchEngine) -> None:
    # Vector-wise "sofa" matches nothing in particular (it is no axis); the label "sofa" on a-cat does.
    hits = engine.search("sofa", limit=3)
    assert hits[0].asset_id == "a-cat"
    assert any("labels match: sofa" in why for why in hits[0].why)
    assert hits[0].fused > hits[1].fused
    vector_only = engine.search("sofa", limit=3, hybrid=False)
    assert all(not any("labels match" in w for w in h.why) for h in vector_only)


def test_image_query_by_stored_vector_excludes_the_file_itself(engine: SearchEngine, filled_catalog: Any) -> None:
    # similar() of a catalogued path uses its stored vector; here the path is not on disk, so look it up.
    vector = filled_catalog.open_vector_table("test-space").vectors_for(["a-cat"])["a-cat"][0].vector
    hits, _ = engine._retrieve(
        engine.encoder(), vector, terms_text="", filters=Filters(), limit=2, min_score=None, exclude={"a-cat"}
    )
    assert ids(hits)[0] == "a-catdog"


def test_no_vectors_is_a_clear_error(tmp_path: Any) -> None:
    from chronicon.catalog.store import Catalog
    from vectorfactory import AxisEncoder

    engine = SearchEngine(Catalog(tmp_path / "empty"), [], {}, encoders=[AxisEncoder()])
    with pytest.raises(NoVectorsError, match="chronicon scan"):
        engine.search("cat")
