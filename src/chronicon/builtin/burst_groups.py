"""Bursts among the photos of one folder: a shared recorded burst id, else one camera, sub-second gaps, close pHash."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The columns grouping reads from the catalog (plus the cover score column, when it exists).
ROW_COLUMNS = ("id", "path", "kind", "missing", "camera_make", "camera_model", "width", "height", "phash", "sharpness",
               "burst_id", "burst_time", "burst_subsec", "burst_cover", "burst_checked")  # fmt: skip


_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<ext>\.[^.]*)?$")


@dataclass(frozen=True)
class Rules:
    """How frames without a recorded burst id are linked: the same pixel size, more than 0 and less than `max_gap`
    seconds apart (both with sub-seconds; the very same moment is a copy, not another frame), or in the same whole
    second when either lacks them, and a pHash at most `phash_distance` bits apart. In the same-second case, where
    the order of the frames is unknown, the pHash must be within `strict_distance` and the file names numbered one
    after the other, as a camera names the frames it writes."""

    max_gap: float = 1.0
    phash_distance: int = 16
    strict_distance: int = 8
    cover: str = "sharpness"  # or "aesthetic" (falls back on sharpness where a frame has no score)


class _Sets:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def _hash(row: dict[str, Any]) -> int | None:
    text = row.get("phash")
    if not isinstance(text, str) or len(text) != 16:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _camera(row: dict[str, Any]) -> tuple[str, str] | None:
    make = (row.get("camera_make") or "").strip().lower()
    model = (row.get("camera_model") or "").strip().lower()
    return (make, model) if make or model else None


def _linked(a: dict[str, Any], b: dict[str, Any], rules: Rules) -> bool:
    """Two frames (a taken no later than b) of one camera are consecutive frames of a burst."""
    ha, hb = _hash(a), _hash(b)
    if ha is None or hb is None or (a.get("width"), a.get("height")) != (b.get("width"), b.get("height")):
        return False  # a resized copy is a duplicate, not a frame: a camera's burst frames share one size
    distance = (ha ^ hb).bit_count()
    if a.get("burst_subsec") and b.get("burst_subsec"):
        gap = float(b["burst_time"]) - float(a["burst_time"])
        return 0 < gap < rules.max_gap and distance <= rules.phash_distance
    same_second = math.floor(float(a["burst_time"])) == math.floor(float(b["burst_time"]))
    return same_second and distance <= rules.strict_distance and _numbered_in_a_row(a["path"], b["path"])


def _numbered_in_a_row(a: str, b: str) -> bool:
    """Two file names a camera numbered one after the other ("DSC_0002.JPG", "DSC_0003.JPG")."""
    ma, mb = _NUMBERED.match(os.path.basename(a)), _NUMBERED.match(os.path.basename(b))
    if (
        ma is None
        or mb is None
        or ma["prefix"] != mb["prefix"]
        or (ma["ext"] or "").lower() != (mb["ext"] or "").lower()
    ):
        return False
    return abs(int(ma["number"]) - int(mb["number"])) == 1


def _score(row: dict[str, Any], rules: Rules) -> tuple[float, float]:
    def number(value: Any) -> float:
        return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else -math.inf

    sharp = number(row.get("sharpness"))
    return (number(row.get("aesthetic")), sharp) if rules.cover == "aesthetic" else (sharp, 0.0)


def bursts(rows: Sequence[dict[str, Any]], rules: Rules) -> list[list[dict[str, Any]]]:
    """The bursts (two frames or more) among present photos of one folder, each with its cover first."""
    present = [r for r in rows if r.get("kind") == "image" and not r.get("missing")]
    groups: list[list[dict[str, Any]]] = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    timed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in present:
        if row.get("burst_id"):
            by_id.setdefault(str(row["burst_id"]), []).append(row)
        elif row.get("burst_time") is not None and (camera := _camera(row)) is not None:
            timed.setdefault(camera, []).append(row)
    groups.extend(members for members in by_id.values() if len(members) > 1)
    for frames in timed.values():
        frames.sort(key=lambda r: (float(r["burst_time"]), r["path"]))
        sets = _Sets(len(frames))
        for i, a in enumerate(frames):
            for j in range(i + 1, len(frames)):
                b = frames[j]
                if float(b["burst_time"]) - float(a["burst_time"]) >= max(rules.max_gap, 1.0):
                    break
                if _linked(a, b, rules):
                    sets.union(i, j)
        members: dict[int, list[dict[str, Any]]] = {}
        for i, row in enumerate(frames):
            members.setdefault(sets.find(i), []).append(row)
        groups.extend(m for m in members.values() if len(m) > 1)
    return [sorted(g, key=lambda r: (tuple(-v for v in _score(r, rules)), r["path"])) for g in groups]


def covers(rows: Sequence[dict[str, Any]], rules: Rules) -> dict[str, str | None]:
    """Every row's `burst_cover`: its burst's cover id, or None when it is in no burst (or missing)."""
    out: dict[str, str | None] = {str(r["id"]): None for r in rows}
    for group in bursts(rows, rules):
        for row in group:
            out[str(row["id"])] = str(group[0]["id"])
    return out
