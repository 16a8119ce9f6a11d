"""Multi-index hashing: all pairs of 64-bit hashes within Hamming distance d, without comparing every pair.

Split the 64 bits into k bands. If two hashes differ in at most d bits, at least one band differs in at most
⌊d/k⌋ bits (pigeonhole). With k = d + 1 that is an exact band match; for large collections fewer, wider bands
searched within radius ⌊d/k⌋ cost less. Each band is indexed (sorted values, or a direct-address table for
narrow bands); every hash looks up its band value and its neighbours within the radius, and each candidate
pair is verified with the popcount of the XOR."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

BITS = 64
DIRECT_TABLE_BITS = 22  # bands this narrow get a direct-address table (2^22 offsets); wider ones binary search
MAX_PROBES = 20_000  # neighbour values probed per band at most (a bound on the radius for wide bands)

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]


def parse_hashes(hexes: Sequence[str]) -> U64:
    """16-hex-digit hashes as uint64 (ValueError names a malformed one)."""
    out = np.empty(len(hexes), dtype=np.uint64)
    for i, text in enumerate(hexes):
        if len(text) != 16:
            raise ValueError(f"not a 64-bit hex hash: {text!r}")
        out[i] = np.uint64(int(text, 16))
    return out


def popcount(x: U64) -> I64:
    """Set bits of each uint64."""
    return np.bitwise_count(x).astype(np.int64)


@dataclass(frozen=True)
class Plan:
    """How a search is split: band widths (bits, from the lowest bit up) and the per-band search radius."""

    widths: tuple[int, ...]
    radius: int

    @property
    def probes(self) -> int:
        return sum(ball(w, self.radius) for w in self.widths)


@cache
def ball(width: int, radius: int) -> int:
    """How many values lie within `radius` bits of a `width`-bit value."""
    return sum(math.comb(width, i) for i in range(min(radius, width) + 1))


def band_widths(bands: int) -> tuple[int, ...]:
    base, extra = divmod(BITS, bands)
    return tuple(base + 1 if i < extra else base for i in range(bands))


def plan_for(n: int, distance: int) -> Plan:
    """The band count with the least expected work: probes (n × values per band) plus candidate pairs
    (n² × probes / 2^width, as if hashes were uniform); k = distance + 1 exact bands is one of the options."""
    best: tuple[float, Plan] | None = None
    for bands in range(1, min(distance + 1, BITS) + 1):
        plan = Plan(band_widths(bands), distance // bands)
        if any(ball(w, plan.radius) > MAX_PROBES for w in plan.widths):
            continue
        cost = sum(ball(w, plan.radius) * (n + n * n / 2.0**w) for w in plan.widths)
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:  # only for distances so large that no split keeps the probes bounded
        bands = min(distance + 1, BITS)
        return Plan(band_widths(bands), distance // bands)
    return best[1]


@cache
def flip_masks(width: int, radius: int) -> tuple[int, ...]:
    """Every XOR mask of at most `radius` set bits within `width` bits (0 first)."""
    masks = [0]
    for r in range(1, min(radius, width) + 1):
        for bits in combinations(range(width), r):
            masks.append(sum(1 << b for b in bits))
    return tuple(masks)


def _expand(queries: I64, lo: I64, hi: I64, order: I64) -> tuple[I64, I64]:
    """(query index, matched index) for every match in the sorted ranges [lo, hi)."""
    counts = hi - lo
    hit = counts > 0
    if not hit.any():
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    queries, lo, counts = queries[hit], lo[hit], counts[hit]
    left = np.repeat(queries, counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    positions = starts + np.arange(int(counts.sum()), dtype=np.int64)
    return left, order[positions]


def _band_pairs(values: I64, width: int, radius: int, hashes: U64, distance: int) -> I64:
    """Pairs (i < j, as i * n + j) whose values in this band are within `radius` bits and whose whole hashes
    are within `distance` bits (verified here, so only true pairs are kept)."""
    n = len(values)
    order = np.argsort(values, kind="stable").astype(np.int64)
    sorted_values = values[order]
    keys: list[I64] = []
    starts: NDArray[np.int32] | None = None
    if width <= DIRECT_TABLE_BITS:
        table = np.bincount(values, minlength=1 << width)
        starts = np.concatenate([[0], np.cumsum(table)]).astype(np.int32)
    for mask in flip_masks(width, radius):
        # Queries in sorted order: XOR with a fixed mask keeps neighbouring probes close in the table (cache).
        probe = sorted_values ^ mask
        if starts is not None:
            lo = starts[probe].astype(np.int64)
            hi = starts[probe + 1].astype(np.int64)
        else:
            lo = np.searchsorted(sorted_values, probe, side="left").astype(np.int64)
            hi = np.searchsorted(sorted_values, probe, side="right").astype(np.int64)
        left, right = _expand(order, lo, hi, order)
        keep = left < right
        left, right = left[keep], right[keep]
        close = popcount(hashes[left] ^ hashes[right]) <= distance
        keys.append(left[close] * n + right[close])
    return np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)


def near_pairs(hashes: U64, distance: int, plan: Plan | None = None) -> tuple[I64, I64, I64]:
    """(i, j, Hamming distance) for every pair i < j with distance ≤ `distance`, sorted by (i, j)."""
    n = len(hashes)
    empty = np.empty(0, dtype=np.int64)
    if n < 2 or distance < 0:
        return empty, empty, empty
    plan = plan or plan_for(n, distance)
    candidates: list[I64] = []
    shift = 0
    for width in plan.widths:
        values = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        candidates.append(_band_pairs(values, width, plan.radius, hashes, distance))
        shift += width
    keys = np.unique(np.concatenate(candidates))  # a pair close in several bands is found more than once
    left, right = keys // n, keys % n
    return left, right, popcount(hashes[left] ^ hashes[right])


def brute_force_pairs(hashes: U64, distance: int, chunk: int = 2048) -> tuple[I64, I64, I64]:
    """The same answer by comparing every pair (for tests and the benchmark)."""
    n = len(hashes)
    parts: list[tuple[I64, I64, I64]] = []
    for start in range(0, n, chunk):
        block = hashes[start : start + chunk]
        dist = np.bitwise_count(block[:, None] ^ hashes[None, :]).astype(np.int64)
        rows, cols = np.nonzero(dist <= distance)
        rows = rows + start
        keep = rows < cols
        parts.append((rows[keep].astype(np.int64), cols[keep].astype(np.int64), dist[rows[keep] - start, cols[keep]]))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    left = np.concatenate([p[0] for p in parts])
    right = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    order = np.lexsort((right, left))
    return left[order], right[order], dist[order]


def pair_set(pairs: Iterable[I64]) -> set[tuple[int, int]]:
    left, right, *_ = pairs
    return set(zip(left.tolist(), right.tolist(), strict=True))
