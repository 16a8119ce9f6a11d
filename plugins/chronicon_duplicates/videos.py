"""Video near-duplicates from frame signatures: durations that allow a trim, then the best time offset between the
two hash sequences, and the share of the shorter video's frames that find a close frame in the other there.

A shared opening alone is not enough: coverage is counted over the whole shorter video, so two clips that start
alike and then differ reach only the opening's share. Candidates come from multi-index hashing over the distinct
frames of every video (a true copy has many frames close to the other's, so at least one pair is found); each
candidate pair is then aligned exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .frames import from_hex
from .mih import near_pairs

COLUMNS = {"hashes": "video_frame_hashes", "times": "video_frame_times", "step": "video_frame_step"}
MIN_FRAMES = 2  # informative frames a video needs for its signature to decide (else its poster pHash does)
_OFFSET_BINS = 6  # most-voted offsets tried per pair (each also half a step either way)
_JITTER = 0.75  # a frame is compared with the other's frames within this many of its steps of the aligned time


@dataclass(frozen=True)
class FrameSequence:
    """A video's informative samples (flat frames left out): times in seconds and 64-bit hashes."""

    times: NDArray[np.float64]
    hashes: NDArray[np.uint64]
    step: float
    duration: float

    @property
    def usable(self) -> bool:
        return len(self.hashes) >= MIN_FRAMES


def sequence_of(row: dict[str, Any]) -> FrameSequence | None:
    """The frame sequence stored in a catalog row by the `duplicates` pass; None when it has none."""
    texts = row.get(COLUMNS["hashes"])
    times = row.get(COLUMNS["times"])
    step = row.get(COLUMNS["step"])
    if not texts or not times or not step or len(texts) != len(times):
        return None
    keep = [(float(t), value) for t, text in zip(times, texts, strict=True) if (value := from_hex(text)) is not None]
    duration = row.get("duration")
    if not duration or duration <= 0:
        duration = float(times[-1]) + float(step)
    return FrameSequence(
        np.asarray([t for t, _ in keep], dtype=np.float64),
        np.asarray([h for _, h in keep], dtype=np.uint64),
        float(step),
        float(duration),
    )


def durations_compatible(a: float, b: float, max_trim: float, max_trim_ratio: float) -> bool:
    """Whether one video could be the other with a trim: they differ by at most `max_trim` seconds or
    `max_trim_ratio` of the longer one, whichever allows more."""
    longer, shorter = max(a, b), min(a, b)
    return longer - shorter <= max(max_trim, max_trim_ratio * longer) + 1e-6


@dataclass(frozen=True)
class Alignment:
    """How the shorter video `a` maps onto `b`: b's time = a's time + offset; coverage = matched / frames."""

    coverage: float
    offset: float
    matched: int
    frames: int


def align(a: FrameSequence, b: FrameSequence, distance: int) -> Alignment:
    """The best offset of `a` (the shorter) in `b`, and the share of a's frames that have a frame of b within
    `distance` bits near the aligned time (within `_JITTER` steps of b: a frame between two samples of b is compared
    with both)."""
    n = len(a.hashes)
    if n == 0 or len(b.hashes) == 0:
        return Alignment(0.0, 0.0, 0, n)
    bits = np.bitwise_count(a.hashes[:, None] ^ b.hashes[None, :]).astype(np.int16)
    close = bits <= distance
    rows, cols = np.nonzero(close)
    if len(rows) == 0:
        return Alignment(0.0, 0.0, 0, n)
    offsets = b.times[cols] - a.times[rows]
    resolution = 0.25 * min(a.step, b.step)
    _, inverse, votes = np.unique(np.round(offsets / resolution), return_inverse=True, return_counts=True)
    tried: list[float] = []
    for index in np.argsort(-votes, kind="stable")[:_OFFSET_BINS]:
        centre = float(np.median(offsets[inverse.ravel() == index]))
        tried.extend((centre, centre - b.step / 2, centre + b.step / 2))
    window = _JITTER * b.step
    best: tuple[int, float, NDArray[np.bool_]] | None = None
    for offset in tried:
        hits = close & (np.abs(b.times[None, :] - (a.times[:, None] + offset)) <= window + 1e-6)
        matched = int(hits.any(axis=1).sum())
        if best is None or matched > best[0]:
            best = (matched, offset, hits)
    assert best is not None
    matched, _, hits = best
    # The offset reported: the median over a's matched frames of the time to their closest frame of b there.
    masked = np.where(hits, bits, np.int16(99))
    found = np.nonzero(hits.any(axis=1))[0]
    nearest = masked[found].argmin(axis=1)
    offset = float(np.median(b.times[nearest] - a.times[found])) if len(found) else 0.0
    return Alignment(round(matched / n, 4), round(offset, 3), matched, n)


@dataclass(frozen=True)
class VideoLink:
    """Two videos (row indices, i < j) whose frames align."""

    i: int
    j: int
    alignment: Alignment


CANDIDATE_BITS = 8  # candidate pairs need two frames at most this far apart (or the frame distance, if lower)


def representatives(hashes: NDArray[np.uint64], radius: int) -> NDArray[np.uint64]:
    """A video's distinct frames for the candidate search: in time order, each frame more than `radius` bits from
    the last one kept (a still shot gives one hash, not one per second)."""
    kept: list[int] = []
    for value in hashes.tolist():
        if not kept or (value ^ kept[-1]).bit_count() > radius:
            kept.append(value)
    return np.unique(np.asarray(kept, dtype=np.uint64))


def candidate_pairs(sequences: Sequence[FrameSequence | None], distance: int) -> list[tuple[int, int]]:
    """Pairs of videos (i < j) with a pair of representative frames within min(`distance`, CANDIDATE_BITS) bits,
    by multi-index hashing over the representatives of every video. A copy has most of its frames within the
    frame distance of the other's, so some within 8 bits; searching with the lower radius costs far less (fewer
    probes per band, fewer pairs of frames within one video)."""
    radius = min(distance, CANDIDATE_BITS)
    owners: list[NDArray[np.int64]] = []
    values: list[NDArray[np.uint64]] = []
    for index, seq in enumerate(sequences):
        if seq is None or not seq.usable:
            continue
        kept = representatives(seq.hashes, radius // 2)
        owners.append(np.full(len(kept), index, dtype=np.int64))
        values.append(kept)
    if len(values) < 2:
        return []
    owner = np.concatenate(owners)
    left, right, _ = near_pairs(np.concatenate(values), radius)
    a, b = owner[left], owner[right]
    keep = a != b
    a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    if len(a) == 0:
        return []
    keys = np.unique(a * len(sequences) + b)
    return [(int(k // len(sequences)), int(k % len(sequences))) for k in keys]


def compare(
    a: FrameSequence, b: FrameSequence, *, distance: int, max_trim: float, max_trim_ratio: float
) -> Alignment | None:
    """How `a` and `b` align when their durations allow a trim (else None): the coverage of the shorter one's frames
    (of both, the lower, when their durations are within a step: neither is the trimmed one) and the offset from
    `a` to `b` (b's time = a's time + offset)."""
    if not durations_compatible(a.duration, b.duration, max_trim, max_trim_ratio):
        return None
    if abs(a.duration - b.duration) < max(a.step, b.step):
        there, back = align(a, b, distance), _reversed(align(b, a, distance))
        return there if there.coverage <= back.coverage else back
    if a.duration < b.duration:
        return align(a, b, distance)
    return _reversed(align(b, a, distance))


def _reversed(found: Alignment) -> Alignment:
    """The same alignment seen from the other video (the offset negated)."""
    return Alignment(found.coverage, -found.offset if found.offset else 0.0, found.matched, found.frames)


def video_links(
    sequences: Sequence[FrameSequence | None],
    *,
    distance: int,
    min_coverage: float,
    max_trim: float,
    max_trim_ratio: float,
) -> list[VideoLink]:
    """Every pair of videos whose frames align with at least `min_coverage` of the shorter one's frames."""
    links: list[VideoLink] = []
    for i, j in candidate_pairs(sequences, distance):
        a, b = sequences[i], sequences[j]
        assert a is not None and b is not None
        found = compare(a, b, distance=distance, max_trim=max_trim, max_trim_ratio=max_trim_ratio)
        if found is not None and found.coverage >= min_coverage and found.matched >= MIN_FRAMES:
            links.append(VideoLink(i, j, found))
    return links
