"""The relevance cutoff: calibrated from chance similarity per space, weak matches hidden and counted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chronicon.search.cutoff import Calibration, calibrate, probe_texts, weak_flags
from chronicon.search.engine import DATE_SORT


def test_probe_texts_are_a_fixed_even_sample_of_class_names() -> None:
    probes = probe_texts()
    assert probes == probe_texts()  # deterministic
    assert len(probes) == len(set(probes)) and 30 <= len(probes) <= 128
    assert probe_texts(5) == probe_texts(5) and len(probe_texts(5)) == 5


def test_calibration_measures_mean_and_spread_of_chance_scores() -> None:
    rng = np.random.default_rng(0)
    sample = rng.normal(size=(50, 16)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)

    def encode(texts: list[str]) -> Any:
        out = rng.normal(size=(len(texts), 16)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    found = calibrate("space", 3, encode, sample, probes=[f"p{i}" for i in range(40)])
    assert found is not None and found.version == 3 and found.probes == 40 and found.sample == 50
    # random unit vectors in 16-d: mean ~0, spread ~1/sqrt(16)
    assert abs(found.mean) < 0.05 and 0.18 < found.spread < 0.32
    assert found.floor(3.0) == pytest.approx(found.mean + 3 * found.spread)
    assert calibrate("space", 3, encode, np.zeros((0, 16), dtype=np.float32)) is None


def test_weak_flags_floor_gap_and_strong_evidence() -> None:
    cal = Calibration("s", 1, mean=0.2, spread=0.05, probes=10, sample=10)  # floor(z=3) = 0.35
    scores: list[float | None] = [0.8, 0.7, 0.5, 0.3, None]
    strong = [False, False, False, True, False]
    # the gap: within 3 spreads (0.15) of the best (0.8) -> 0.65; 0.5 is hidden, the strong 0.3 kept
    assert weak_flags(scores, strong, cal, z=3.0, gap=3.0) == [False, False, True, False, True]
    # without the gap only the floor counts
    assert weak_flags(scores, strong, cal, z=3.0, gap=None) == [False, False, False, False, True]
    # no calibration: nothing is hidden
    assert weak_flags(scores, strong, None, z=3.0, gap=3.0) == [False] * 5


def test_engine_hides_weak_matches_and_counts_them(cutoff_engine: Any) -> None:
    hits = cutoff_engine.search("cat", limit=10)
    # a-catdog (0.71) is more than 3 spreads below the best, but its labels say "cat": kept
    assert [h.asset_id for h in hits] == ["a-cat", "a-catdog"]
    assert hits.hidden == 3 and hits.cutoff is not None and hits.cutoff["floor"] > 0
    everything = cutoff_engine.search("cat", limit=10, show_all=True)
    assert [h.asset_id for h in everything][:2] == ["a-cat", "a-catdog"]
    assert [h.weak for h in everything] == [False, False, True, True, True]
    assert everything.hidden == 3
    assert all(h.rank == n for n, h in enumerate(everything, 1))
    assert everything[0].to_json()["weak"] is False


def test_a_query_nothing_matches_returns_nothing(cutoff_engine: Any) -> None:
    hits = cutoff_engine.search("snow", limit=10)
    assert list(hits) == [] and hits.hidden == 5


def test_every_query_word_in_a_full_text_column_keeps_a_hit(cutoff_engine: Any) -> None:
    # "sofa" is no concept axis (its vector is no closer to a-cat than to anything), but a-cat's labels say it
    hits = cutoff_engine.search("sofa", limit=10)
    assert [h.asset_id for h in hits] == ["a-cat"]


def test_sort_by_date_orders_the_shown_hits_newest_first(engine: Any) -> None:
    hits = engine.search("cat + dog + beach", limit=10, sort=DATE_SORT)
    dates = [h.row.get("taken_at") for h in hits]
    assert dates == sorted(dates, reverse=True) and len(dates) >= 3
    assert hits[0].why[0].startswith("sorted by date: ")
