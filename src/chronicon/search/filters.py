"""Search filters (kind, dates, camera, labels, paths, XMP rating and keywords) as a SQL predicate on the assets."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from chronicon.catalog.store import sql_str
from chronicon.catalog.tables import Where
from chronicon.errors import ChroniconError
from chronicon.search.extensions import SearchFilter


class FilterError(ChroniconError):
    """A filter value that cannot be used (bad date, bad kind)."""


def parse_day(text: str, *, end: bool = False) -> datetime:
    """'2024', '2024-06' or '2024-06-30' (or a full ISO time) -> the first (or, with end, last) moment of it."""
    value = text.strip()
    try:
        if len(value) == 4 and value.isdigit():
            start = date(int(value), 1, 1)
            stop = date(int(value) + 1, 1, 1)
        elif len(value) == 7 and value[4] == "-":
            y, m = int(value[:4]), int(value[5:])
            start = date(y, m, 1)
            stop = date(y + (m == 12), m % 12 + 1, 1)
        elif len(value) == 10:
            start = date.fromisoformat(value)
            stop = date.fromordinal(start.toordinal() + 1)
        else:
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise FilterError(f"not a date: {text!r} (use YYYY, YYYY-MM or YYYY-MM-DD)") from exc
    chosen = stop if end else start
    return datetime.combine(chosen, time(0), tzinfo=UTC)


@dataclass
class Filters:
    """What results must satisfy besides matching the query. Empty = everything that is not missing."""

    kind: str | None = None  # "image" or "video"
    after: str | None = None  # taken on or after this day (capture time; file time when unknown)
    before: str | None = None  # taken before the end of this day
    camera: str | None = None  # substring of "make model", any case
    labels: list[str] = field(default_factory=list)  # every one of these labels
    under: str | None = None  # path prefix
    has_speech: bool = False  # videos whose transcript has words
    min_counts: dict[str, int] = field(default_factory=dict)  # at least this many of an object in one picture
    gps: str | tuple[float, float, float, float] | None = None  # box "south,west,north,east" in degrees
    text: str | None = None  # the text read in the picture (ocr pass) contains this, any case
    rating: int | None = None  # XMP rating at least this (xmp pass; -1 = rejected .. 5)
    keywords: list[str] = field(default_factory=list)  # every one of these XMP keywords (or hierarchy levels), any case
    # Also list Live Photo motion parts (the MOVs of `live` stacks) as videos of their own (`--with-motion`).
    motion_parts: bool = False
    # Plugin filters (`--person Alice`, `--min-aesthetic 0.6`) with their converted values.
    extra: list[tuple[SearchFilter, Any]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.gps
            or self.extra
            or self.kind
            or self.after
            or self.before
            or self.camera
            or self.labels
            or self.under
            or self.has_speech
            or self.min_counts
            or self.text
            or self.rating is not None
            or self.keywords
        )

    def where(self) -> str:
        """SQL for LanceDB's `where` (always excludes missing files)."""
        parts = ["(missing IS NULL OR missing = false)"]
        if self.kind:
            if self.kind not in ("image", "video"):
                raise FilterError(f"kind must be image or video, not {self.kind!r}")
            parts.append(f"kind = {sql_str(self.kind)}")
        if self.after:
            moment = parse_day(self.after)
            parts.append(_time_clause(">=", moment))
        if self.before:
            moment = parse_day(self.before, end=True)
            parts.append(_time_clause("<", moment))
        if self.camera:
            needle = sql_str("%" + self.camera.lower().replace("%", "").replace("_", "") + "%")
            parts.append(f"lower(coalesce(camera_make, '') || ' ' || coalesce(camera_model, '')) LIKE {needle}")
        for label in self.labels:
            parts.append(f"array_has(labels, {sql_str(label.strip().lower())})")
        for label, count in self.min_counts.items():
            if count < 1:
                raise FilterError(f"--min-count {label}={count}: the count must be at least 1")
            parts.append(f"array_has(object_counts, {sql_str(label.strip().lower() + '#' + str(int(count)))})")
        if self.has_speech:
            parts.append("transcript_text IS NOT NULL")
        if self.text:
            needle = self.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(f"lower(ocr_text) LIKE {sql_str('%' + needle + '%')} ESCAPE '\\'")
        if self.rating is not None:
            rating = _rating(self.rating)
            parts.append(f"(xmp_rating IS NOT NULL AND xmp_rating >= {rating})")
        for keyword in self.keywords:
            term = "|".join(level.strip() for level in keyword.split("|") if level.strip()).lower()
            if not term:
                raise FilterError("--keyword needs a keyword, e.g. --keyword Paris or --keyword 'Places|France'")
            parts.append(f"array_has(xmp_terms, {sql_str(term)})")
        if self.under:
            prefix = self.under.rstrip("/") + "/"
            parts.append(f"starts_with(path, {sql_str(prefix)})")
        if self.gps:
            south, west, north, east = parse_gps_box(self.gps)
            lon = (
                f"gps_lon BETWEEN {west} AND {east}"
                if west <= east  # a box across the antimeridian wraps around
                else f"(gps_lon >= {west} OR gps_lon <= {east})"
            )
            parts.append(f"(gps_lat BETWEEN {south} AND {north} AND {lon})")
        for extension, value in self.extra:
            if extension.where is not None:
                clause = extension.where(value)
                parts.append(f"({clause.sql() if isinstance(clause, Where) else clause})")
        return " AND ".join(parts)

    def allowed_ids(self, catalog: Any) -> set[str] | None:
        """Asset ids the plugin filters that keep their own tables allow (None: they do not restrict)."""
        allowed: set[str] | None = None
        for extension, value in self.extra:
            if extension.asset_ids is not None:
                ids = set(extension.asset_ids(catalog, value))
                allowed = ids if allowed is None else allowed & ids
        return allowed

    def to_json(self) -> dict[str, Any]:
        """The filters that are set, as JSON-able values (for `--json` output and saved album rules)."""
        out: dict[str, Any] = {}
        for name in ("kind", "after", "before", "camera", "labels", "under", "has_speech", "min_counts", "text",
                     "keywords", "motion_parts"):  # fmt: skip
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.rating is not None:
            out["rating"] = self.rating
        if self.gps:
            out["gps"] = ",".join(f"{v:g}" for v in parse_gps_box(self.gps))
        for extension, value in self.extra:
            out[extension.name] = value
        return out


def _rating(value: Any) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        rating = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FilterError(f"--rating {value!r}: give a whole number from -1 (rejected) to 5") from exc
    if not -1 <= rating <= 5:
        raise FilterError(f"--rating {value!r}: give a whole number from -1 (rejected) to 5")
    return rating


_COUNT = re.compile(r"(.+)=([0-9]{1,6})", re.ASCII)


def parse_min_counts(values: Sequence[str]) -> dict[str, int]:
    """["person=3", "dog=1"] -> {"person": 3, "dog": 1}; anything else is a FilterError saying how to write it."""
    out: dict[str, int] = {}
    for value in values:
        match = _COUNT.fullmatch(value.strip())
        if match is None or not match.group(1).strip():
            raise FilterError(f"--min-count {value!r}: use LABEL=N, e.g. person=3")
        out[match.group(1).strip()] = int(match.group(2))
    return out


def parse_gps_box(box: str | tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """ "south,west,north,east" (degrees; west > east crosses the antimeridian) -> four checked floats."""
    try:
        values = [float(v) for v in (box.split(",") if isinstance(box, str) else box)]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("not finite")
    except (TypeError, ValueError) as exc:
        raise FilterError(f"GPS box {box!r}: use SOUTH,WEST,NORTH,EAST in degrees, e.g. 48.8,2.2,48.9,2.4") from exc
    if len(values) != 4:
        raise FilterError(f"GPS box {box!r}: give four numbers SOUTH,WEST,NORTH,EAST")
    south, west, north, east = values
    if not (-90 <= south <= north <= 90) or not (-180 <= west <= 180 and -180 <= east <= 180):
        raise FilterError(f"GPS box {box!r}: latitudes -90..90 with south <= north, longitudes -180..180")
    return south, west, north, east


def _time_clause(op: str, moment: datetime) -> str:
    """Compare the capture time (ISO text, local time as recorded) or, when it is unknown, the file's mtime."""
    day = moment.strftime("%Y-%m-%dT%H:%M:%S")
    ns = int(moment.timestamp() * 1_000_000_000)
    return f"((taken_at IS NOT NULL AND taken_at {op} {sql_str(day)}) OR (taken_at IS NULL AND mtime_ns {op} {ns}))"
