"""The pictures passes look at: a long shot's frames thinned evenly for passes that cost seconds a frame."""

from __future__ import annotations

from chronicon.analyzers.inputs import spread


def test_spread_keeps_evenly_spaced_middles() -> None:
    assert spread(5, 1) == [2]
    assert spread(6, 2) == [1, 4]
    assert spread(6, 3) == [1, 3, 5]
    assert spread(2, 6) == [0, 1]  # never more than there are
    assert spread(0, 2) == []
