"""The relevance cutoff: which hits are strong enough to show, calibrated per space from chance similarity.

Every asset has some similarity to every query, so a ranked list alone never says "nothing here". A space's
chance level is measured, not guessed: probe phrases (a fixed, evenly spaced sample of the ImageNet class names,
which know nothing of this library or its queries) are embedded by the space's own query encoder and scored
against a sample of the space's stored vectors. Their mean and spread are what an unrelated query scores against
an unrelated asset. A hit is shown when its similarity stands `z` spreads above that mean (`search.cutoff_z`) and
is within `gap` spreads of the query's best hit (`search.cutoff_gap`); hits a full-text list matched with every
query word, or a vector list (speech, captions, text in the picture) matched above its own floor, are shown too.
The figures are computed once per space and table version (a scan that writes vectors makes a new version).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

PROBES = 128  # probe phrases per calibration
SAMPLE = 4000  # stored vectors scored against them, at most
MIN_SPREAD = 0.02  # below this the sample is too uniform to say anything (e.g. one asset): use it as the spread

# A small fallback vocabulary for spaces calibrated where the packaged class names are not installed.
_FALLBACK = (
    "animal", "building", "car", "child", "city street", "cloud", "computer", "dog", "flower", "food", "forest",
    "furniture", "glass", "kitchen", "machine", "mountain", "musical instrument", "ocean", "person", "plant",
    "road", "shoe", "sport", "table", "tool", "toy", "tree", "vehicle", "water", "window",
)  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """What chance similarity looks like in one space: mean and spread of probe × stored-vector scores."""

    space: str
    version: int
    mean: float
    spread: float
    probes: int
    sample: int

    def floor(self, z: float) -> float:
        """The similarity a hit needs to stand out from chance by `z` spreads."""
        return self.mean + z * self.spread

    def as_dict(self) -> dict[str, float | int | str]:
        return {"space": self.space, "mean": round(self.mean, 4), "spread": round(self.spread, 4),
                "probes": self.probes, "sample": self.sample}  # fmt: skip


def probe_texts(count: int = PROBES) -> list[str]:
    """Evenly spaced ImageNet class names (their first synonym), or a small generic list without the package."""
    try:
        from chronicon.embed.packaged import tagger_files
        from chronicon.embed.tagger import clean_label

        lines = [s for s in tagger_files()[1].read_text(encoding="utf-8").splitlines() if s.strip()]
        names = list(dict.fromkeys(clean_label(s) for s in lines))
    except Exception:  # (not installed: the fallback still calibrates)
        names = list(_FALLBACK)
    if len(names) <= count:
        return names
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def calibrate(
    space: str,
    version: int,
    encode: Callable[[list[str]], NDArray[np.float32]],
    sample: NDArray[np.float32],
    probes: list[str] | None = None,
) -> Calibration | None:
    """The chance level of a space from its query encoder and a sample of its stored vectors (None: too few)."""
    if sample.ndim != 2 or sample.shape[0] == 0:
        return None
    texts = probes if probes is not None else probe_texts()
    vectors = np.asarray(encode(texts), dtype=np.float32)
    scores = vectors @ sample.T  # (probes, sample)
    mean = float(scores.mean())
    spread = max(float(scores.std()), MIN_SPREAD)
    return Calibration(space, version, mean, spread, len(texts), int(sample.shape[0]))


class CalibrationCache:
    """Calibrations by (space, table version), computed on first use; one per search engine."""

    def __init__(self) -> None:
        self._by_space: dict[str, Calibration] = {}
        self._lock = threading.Lock()

    def get(
        self,
        space: str,
        version: int,
        encode: Callable[[list[str]], NDArray[np.float32]],
        sample: Callable[[], NDArray[np.float32]],
    ) -> Calibration | None:
        with self._lock:
            known = self._by_space.get(space)
            if known is not None and known.version == version:
                return known
        try:
            found = calibrate(space, version, encode, sample())
        except Exception as exc:  # the cutoff is a filter on top: a failure shows everything, with a log line
            log.warning("relevance cutoff off for %s: calibration failed (%s)", space, exc)
            return None
        if found is not None:
            with self._lock:
                self._by_space[space] = found
        return found


def weak_flags(
    scores: list[float | None], strong: list[bool], calibration: Calibration | None, *, z: float, gap: float | None
) -> list[bool]:
    """Per hit: whether the cutoff hides it. `strong` marks hits another list matched outright (kept); a hit's
    vector score must clear the space's floor and lie within `gap` spreads of the best score (None: no gap)."""
    if calibration is None:
        return [False] * len(scores)
    floor = calibration.floor(z)
    known = [s for s in scores if s is not None]
    best = max(known, default=floor)
    if gap is not None:
        floor = max(floor, best - gap * calibration.spread)
    return [not keep and (score is None or score < floor) for score, keep in zip(scores, strong, strict=True)]
