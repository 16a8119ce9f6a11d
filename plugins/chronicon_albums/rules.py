"""The album rule: a saved query and filters, validated, JSON round-trippable, with cheap per-row predicates."""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from chronicon.errors import ChroniconError
from chronicon.search.filters import FilterError, parse_day, parse_gps_box

# Plugin search filters a rule can use, and the bundled plugin that registers each (for error messages).
PLUGIN_FILTERS: dict[str, str] = {"person": "faces", "min_aesthetic": "aesthetic"}
KINDS = ("image", "video")
# Accepted spellings in config definitions and API bodies -> the field they mean.
ALIASES: dict[str, str] = {"label": "labels", "person": "people", "limit": "max_items"}


class RuleError(ChroniconError):
    """An album rule that cannot be used: unknown filter, bad date, bad GPS box, bad value."""


class NeedsPluginError(ChroniconError):
    """An album rule needs a search filter or sort key whose plugin is not loaded."""


def album_key(name: str) -> str:
    """What makes two album names the same album: NFC-normalised, case-folded, outer spaces dropped."""
    return unicodedata.normalize("NFC", name).strip().casefold()


def check_name(name: Any) -> str:
    """The album name, stripped; a RuleError when it is empty, not text or has control characters."""
    if not isinstance(name, str) or not name.strip():
        raise RuleError("an album needs a non-empty name")
    clean = unicodedata.normalize("NFC", name).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in clean) or "/" in clean:
        raise RuleError(f"album name {name!r} may not contain '/' or control characters")
    return clean


@dataclass
class AlbumRule:
    """What an album holds: a semantic query and/or filters, an optional sort key and a size limit."""

    query: str | None = None
    labels: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    after: str | None = None
    before: str | None = None
    camera: str | None = None
    kind: str | None = None
    gps: str | None = None  # "south,west,north,east"
    under: str | None = None  # an absolute folder
    min_score: float | None = None
    min_aesthetic: float | None = None
    sort: str | None = None
    max_items: int | None = None  # None: the `albums.max_items` setting

    # -- building ----------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, ignore: tuple[str, ...] = ()) -> AlbumRule:
        """A checked rule from a mapping (config definition, API body, stored JSON); `ignore` keys are skipped.

        Unknown keys, bad dates, a bad GPS box or a wrong type raise RuleError naming the key."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            if raw_key in ignore:
                continue
            key = ALIASES.get(raw_key, raw_key)
            if key not in known:
                names = ", ".join(sorted(known | set(ALIASES)))
                raise RuleError(f"unknown album filter {raw_key!r} (known: {names})")
            if key in values:
                raise RuleError(f"album filter {key!r} is given twice")
            values[key] = value
        rule = cls(**{k: v for k, v in values.items() if v is not None})
        rule.validate()
        return rule

    @classmethod
    def from_json(cls, text: str) -> AlbumRule:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RuleError(f"album rule is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RuleError("album rule JSON must be an object")
        return cls.from_mapping(data)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (empty lists and None left out), JSON-able."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != []}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    # -- checking ----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Coerce and check every field in place; RuleError says which one is wrong and why."""
        self.query = _text(self.query, "query")
        self.labels = _words(self.labels, "labels", lower=True)
        self.people = _words(self.people, "people", lower=False)
        self.camera = _text(self.camera, "camera")
        self.sort = _text(self.sort, "sort")
        for name in ("after", "before"):
            value = _text(getattr(self, name), name)
            if value is not None:
                try:
                    parse_day(value)
                except FilterError as exc:
                    raise RuleError(f"{name}: {exc}") from exc
            setattr(self, name, value)
        if self.after and self.before and parse_day(self.after) >= parse_day(self.before, end=True):
            raise RuleError(f"after {self.after} is not before the end of {self.before}: the album would be empty")
        self.kind = _text(self.kind, "kind")
        if self.kind is not None and self.kind not in KINDS:
            raise RuleError(f"kind must be image or video, not {self.kind!r}")
        if self.gps is not None:
            if isinstance(self.gps, (list, tuple)):
                self.gps = ",".join(str(v) for v in self.gps)
            try:
                box = parse_gps_box(str(self.gps))
            except FilterError as exc:
                raise RuleError(str(exc)) from exc
            self.gps = ",".join(f"{v:g}" for v in box)
        under = _text(self.under, "under")
        self.under = (os.path.abspath(os.path.expanduser(under)).rstrip("/") or "/") if under is not None else None
        self.min_score = _number(self.min_score, "min_score", -1.0, 1.0)
        self.min_aesthetic = _number(self.min_aesthetic, "min_aesthetic", None, None)
        if self.max_items is not None and (
            isinstance(self.max_items, bool) or not isinstance(self.max_items, int) or self.max_items < 1
        ):
            raise RuleError(f"max_items must be a whole number >= 1, not {self.max_items!r}")
        if not (self.query or self.plugin_filters() or any(self.core_filters().values())):
            raise RuleError("an album needs a query or at least one filter (labels, dates, camera, kind, ...)")
        if self.min_score is not None and not self.query:
            raise RuleError("min_score needs a query (it limits how similar results must be)")

    # -- what it needs -----------------------------------------------------------------------------------
    def plugin_filters(self) -> list[str]:
        """Names of the plugin search filters this rule uses."""
        out = []
        if self.people:
            out.append("person")
        if self.min_aesthetic is not None:
            out.append("min_aesthetic")
        return out

    def missing_plugins(self, filters: Mapping[str, Any], sort_keys: Mapping[str, Any]) -> str | None:
        """Why this rule cannot run with these registered filters and sort keys, or None when it can."""
        problems = []
        for name in self.plugin_filters():
            if name not in filters:
                problems.append(f"the {name!r} filter (from the {PLUGIN_FILTERS[name]} plugin)")
        if self.sort is not None and self.sort not in sort_keys:
            known = ", ".join(sorted(sort_keys)) or "none are registered"
            problems.append(f"the sort key {self.sort!r} (known: {known})")
        if not problems:
            return None
        return "needs " + " and ".join(problems) + ", which is not loaded; enable that plugin"

    def core_filters(self) -> dict[str, Any]:
        """The core filter keyword arguments of `Library.filters` for this rule."""
        return {
            "kind": self.kind,
            "after": self.after,
            "before": self.before,
            "camera": self.camera,
            "labels": list(self.labels),
            "under": self.under,
            "gps": self.gps,
        }

    # -- cheap predicates on one catalog row ---------------------------------------------------------------
    def could_match(self, kind: str, row: Mapping[str, Any]) -> bool:
        """Whether an asset with this kind and catalog row can pass the rule's core filters (the ones that
        need no model and no plugin); a query or plugin filter may still leave it out. Columns the row lacks
        count as passing, so the answer errs towards "yes"."""
        if self.kind is not None and kind != self.kind:
            return False
        if self.under is not None and "path" in row and not str(row["path"]).startswith(self.under.rstrip("/") + "/"):
            return False
        if self.camera is not None and ("camera_make" in row or "camera_model" in row):
            text = f"{row.get('camera_make') or ''} {row.get('camera_model') or ''}".lower()
            if self.camera.lower().replace("%", "").replace("_", "") not in text:
                return False
        if self.labels and "labels" in row:
            have = {str(label).lower() for label in row.get("labels") or []}
            if not all(label in have for label in self.labels):
                return False
        if (self.after or self.before) and not _in_dates(self.after, self.before, row):
            return False
        if self.gps is not None and ("gps_lat" in row or "gps_lon" in row):
            lat, lon = row.get("gps_lat"), row.get("gps_lon")
            if lat is None or lon is None:
                return False
            south, west, north, east = parse_gps_box(self.gps)
            inside_lon = west <= lon <= east if west <= east else (lon >= west or lon <= east)
            if not (south <= lat <= north and inside_lon):
                return False
        return True


def _in_dates(after: str | None, before: str | None, row: Mapping[str, Any]) -> bool:
    """The date filters on a row, as the search's SQL does them (capture time, else the file's mtime)."""
    taken = row.get("taken_at")
    mtime = row.get("mtime_ns")
    if taken is None and mtime is None:
        return "taken_at" not in row and "mtime_ns" not in row  # unknown columns: maybe
    for value, end in ((after, False), (before, True)):
        if value is None:
            continue
        moment = parse_day(value, end=end)
        if taken is not None:
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
            ok = str(taken) >= stamp if not end else str(taken) < stamp
        else:
            ns = int(moment.timestamp() * 1_000_000_000)
            ok = int(mtime) >= ns if not end else int(mtime) < ns  # type: ignore[arg-type]
        if not ok:
            return False
    return True


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RuleError(f"{name} must be text, not {value!r}")
    text = str(value).strip()
    return text or None


def _words(values: Any, name: str, *, lower: bool) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise RuleError(f"{name} must be a list of text, not {values!r}")
    out: list[str] = []
    for value in values:
        word = value.strip().lower() if lower else value.strip()
        if not word:
            raise RuleError(f"{name}: empty entry")
        if word not in out:
            out.append(word)
    return out


def _number(value: Any, name: str, low: float | None, high: float | None) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise RuleError(f"{name} must be a number, not {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise RuleError(f"{name} must be between {low} and {high}, not {number:g}")
    return number
