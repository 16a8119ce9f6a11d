"""The album rule: a saved query and filters, validated, JSON round-trippable, with cheap per-row predicates."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from chronicon.api import ChroniconError, FilterError, parse_day, parse_gps_box

KINDS = ("image", "video")
# Accepted spellings in config definitions and API bodies -> the field (or plugin filter) they mean. `people`
# is the plural of the `person` filter, kept from the first rule format.
ALIASES: dict[str, str] = {"label": "labels", "people": "person", "limit": "max_items"}
# The plugin filters the albums documentation offers shortcuts for (`--person`, `--min-aesthetic`, `people`), and
# the bundled plugin to enable for each. Whether a rule may use one is the registry's answer (`known`, the
# library's `search_filters`), as for any filter; this only words the error when the registry lacks it (a plugin
# that is off registers nothing that could say where its filter comes from).
SHORTCUT_PLUGINS: dict[str, str] = {"person": "faces", "min_aesthetic": "aesthetic"}
_FILTER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Bounds on what an album stores (names and texts come from the command line, the config and the REST API).
MAX_NAME = 200  # characters of an album name
MAX_TEXT = 1000  # characters of a query, camera, date, sort key or filter value
MAX_PATH = 4096  # characters of the `under` folder
MAX_VALUES = 100  # labels, or values of one plugin filter
# The core rule fields; every other key of a rule is a plugin search filter.
CORE_FIELDS = ("query", "labels", "after", "before", "camera", "kind", "gps", "under", "min_score", "sort",
               "max_items")  # fmt: skip


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
    if len(clean) > MAX_NAME:
        raise RuleError(f"album name: at most {MAX_NAME} characters, not {len(clean)} ({clean[:40]!r}...)")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in clean) or "/" in clean:
        raise RuleError(f"album name {name!r} may not contain '/' or control characters")
    return clean


def filter_name(raw: str) -> str:
    """A plugin filter's name as registered: `min-aesthetic` (the CLI spelling) is `min_aesthetic`."""
    return ALIASES.get(raw, raw).strip().replace("-", "_")


@dataclass
class AlbumRule:
    """What an album holds: a semantic query and/or filters, an optional sort key and a size limit.

    `filters` holds the plugin search filters (any `SearchFilter` a loaded plugin registers) by name, each with
    one or more values; an asset must pass every value (two `person` values: both people are in it)."""

    query: str | None = None
    labels: list[str] = field(default_factory=list)
    after: str | None = None
    before: str | None = None
    camera: str | None = None
    kind: str | None = None
    gps: str | None = None  # "south,west,north,east"
    under: str | None = None  # an absolute folder
    min_score: float | None = None
    sort: str | None = None
    max_items: int | None = None  # None: the `albums.max_items` setting
    filters: dict[str, list[Any]] = field(default_factory=dict)

    # -- building ----------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, ignore: tuple[str, ...] = (), known: Mapping[str, Any] | None = None
    ) -> AlbumRule:
        """A checked rule from a mapping (config definition, API body, stored JSON); `ignore` keys are skipped.

        Keys that are not core fields are plugin filters. With `known` (the library's `search_filters`) each must
        be registered (NeedsPluginError for a bundled plugin's filter that is off, RuleError listing the known
        names otherwise) and its values are converted by the filter; without it (stored rules read where no
        library is at hand) they are kept as they are. Bad dates, a bad GPS box or a wrong type raise RuleError
        naming the key."""
        values: dict[str, Any] = {}
        plugin: dict[str, list[Any]] = {}
        for raw_key, value in data.items():
            if raw_key in ignore:
                continue
            if not isinstance(raw_key, str):
                raise RuleError(f"album filter names are text, not {raw_key!r}")
            key = ALIASES.get(raw_key, raw_key)
            if key in CORE_FIELDS:
                if key in values:
                    raise RuleError(f"album filter {key!r} is given twice")
                values[key] = value
                continue
            given = dict(value) if key == "filters" and isinstance(value, Mapping) else {key: value}
            for raw_name, one in given.items():  # a nested `filters` mapping is accepted too
                if one is None:  # left out, like a core field given as null
                    continue
                name = filter_name(str(raw_name))
                if not _FILTER_NAME.match(name):
                    raise RuleError(f"unknown album filter {_shown(raw_name)} ({_known_names(known)})")
                if name in plugin:
                    raise RuleError(f"album filter {name!r} is given twice")
                plugin[name] = _filter_values(one, name)
        rule = cls(**{k: v for k, v in values.items() if v is not None}, filters=plugin)
        rule.validate(known)
        return rule

    @classmethod
    def from_json(cls, text: str, *, known: Mapping[str, Any] | None = None) -> AlbumRule:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RuleError(f"album rule is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RuleError("album rule JSON must be an object")
        return cls.from_mapping(data, known=known)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (empty lists and None left out), JSON-able. Plugin filters are top-level keys
        like the core ones (one value as itself, several as a list), so a rule reads like its definition."""
        out = {k: v for k, v in asdict(self).items() if k != "filters" and v is not None and v != []}
        for name, given in sorted(self.filters.items()):
            out[name] = given[0] if len(given) == 1 else list(given)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @property
    def people(self) -> list[str]:
        """The people of the `person` filter (all of them must be in a picture)."""
        return [str(v) for v in self.filters.get("person", [])]

    # -- checking ----------------------------------------------------------------------------------------
    def validate(self, known: Mapping[str, Any] | None = None) -> None:
        """Coerce and check every field in place; RuleError says which one is wrong and why. With `known`, the
        plugin filters must be registered there and their values are converted (see `from_mapping`)."""
        self.query = _text(self.query, "query")
        self.labels = _words(self.labels, "labels", lower=True)
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
        under = _text(self.under, "under", MAX_PATH)
        self.under = (os.path.abspath(os.path.expanduser(under)).rstrip("/") or "/") if under is not None else None
        self.min_score = _number(self.min_score, "min_score", -1.0, 1.0)
        if self.max_items is not None and (
            isinstance(self.max_items, bool) or not isinstance(self.max_items, int) or self.max_items < 1
        ):
            raise RuleError(f"max_items must be a whole number >= 1, not {self.max_items!r}")
        self.filters = {name: _filter_values(given, name) for name, given in self.filters.items()}
        if known is not None:
            self._convert(known)
        if not (self.query or self.filters or any(self.core_filters().values())):
            raise RuleError("an album needs a query or at least one filter (labels, dates, camera, kind, ...)")
        if self.min_score is not None and not self.query:
            raise RuleError("min_score needs a query (it limits how similar results must be)")

    def _convert(self, known: Mapping[str, Any]) -> None:
        unknown = [name for name in self.filters if name not in known and name not in SHORTCUT_PLUGINS]
        if unknown:
            raise RuleError(f"unknown album filter {unknown[0]!r} ({_known_names(known)})")
        problem = self.missing_plugins(known, None)
        if problem is not None:
            raise NeedsPluginError(problem)
        for name, given in self.filters.items():
            try:
                self.filters[name] = [known[name].convert(v) for v in given]
            except ChroniconError as exc:
                raise RuleError(f"{name}: {exc}") from exc

    # -- what it needs -----------------------------------------------------------------------------------
    def plugin_filters(self) -> list[str]:
        """Names of the plugin search filters this rule uses."""
        return list(self.filters)

    def missing_plugins(self, filters: Mapping[str, Any], sort_keys: Mapping[str, Any] | None) -> str | None:
        """Why this rule cannot run with these registered filters and sort keys (None: not checked), or None
        when it can."""
        problems = []
        for name in self.filters:
            if name not in filters:
                origin = f"from the {SHORTCUT_PLUGINS[name]} plugin" if name in SHORTCUT_PLUGINS else "unknown"
                problems.append(f"the {name!r} filter ({origin})")
        if sort_keys is not None and self.sort is not None and self.sort not in sort_keys:
            known = ", ".join(sorted(sort_keys)) or "none are registered"
            problems.append(f"the sort key {self.sort!r} (known: {known})")
        if not problems:
            return None
        loaded = f" (plugin filters loaded: {_plugin_names(filters)})" if set(self.filters) - set(filters) else ""
        return f"needs {' and '.join(problems)}, which is not loaded; enable the plugin that provides it{loaded}"

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
    def matcher(self) -> CheapMatch:
        """The rule's cheap predicates with dates, GPS box and texts parsed once (for many rows)."""
        return CheapMatch(self)

    def could_match(self, kind: str, row: Mapping[str, Any]) -> bool:
        """`matcher().could_match(kind, row)` for one row."""
        return self.matcher().could_match(kind, row)


class CheapMatch:
    """Whether an asset can pass a rule's core filters (the ones that need no model and no plugin), with the
    rule's values parsed once. A query or plugin filter may still leave an asset out. Columns a row lacks count
    as passing, so the answer errs towards "yes"."""

    def __init__(self, rule: AlbumRule) -> None:
        self.kind = rule.kind
        self.under = rule.under.rstrip("/") + "/" if rule.under is not None else None
        self.camera = rule.camera.lower().replace("%", "").replace("_", "") if rule.camera is not None else None
        self.labels = list(rule.labels)
        self.dates: list[tuple[datetime, str, int, bool]] = []  # (moment, ISO stamp, mtime ns, is_end)
        for value, end in ((rule.after, False), (rule.before, True)):
            if value is not None:
                moment = parse_day(value, end=end)
                stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
                self.dates.append((moment, stamp, int(moment.timestamp() * 1_000_000_000), end))
        self.box = parse_gps_box(rule.gps) if rule.gps is not None else None

    def could_match(self, kind: str, row: Mapping[str, Any]) -> bool:
        if self.kind is not None and kind != self.kind:
            return False
        if self.under is not None and "path" in row and not str(row["path"]).startswith(self.under):
            return False
        if self.camera is not None and ("camera_make" in row or "camera_model" in row):
            text = f"{row.get('camera_make') or ''} {row.get('camera_model') or ''}".lower()
            if self.camera not in text:
                return False
        if self.labels and "labels" in row:
            have = {str(label).lower() for label in row.get("labels") or []}
            if not all(label in have for label in self.labels):
                return False
        if self.dates and not self._in_dates(row):
            return False
        if self.box is not None and ("gps_lat" in row or "gps_lon" in row):
            lat, lon = row.get("gps_lat"), row.get("gps_lon")
            if lat is None or lon is None:
                return False
            south, west, north, east = self.box
            inside_lon = west <= lon <= east if west <= east else (lon >= west or lon <= east)
            if not (south <= lat <= north and inside_lon):
                return False
        return True

    def _in_dates(self, row: Mapping[str, Any]) -> bool:
        """The date filters on a row, as the search's SQL does them (capture time, else the file's mtime)."""
        taken = row.get("taken_at")
        mtime = row.get("mtime_ns")
        if taken is None and mtime is None:
            return "taken_at" not in row and "mtime_ns" not in row  # unknown columns: maybe
        for _moment, stamp, ns, end in self.dates:
            if taken is not None:
                ok = str(taken) >= stamp if not end else str(taken) < stamp
            else:
                ok = int(mtime) >= ns if not end else int(mtime) < ns  # type: ignore[arg-type]
            if not ok:
                return False
        return True


def _plugin_names(known: Mapping[str, Any] | None) -> str:
    return ", ".join(sorted(known)) if known else "none are loaded"


def _known_names(known: Mapping[str, Any] | None) -> str:
    """The names a rule accepts, for an error message."""
    return f"known: {', '.join(sorted((*CORE_FIELDS, *ALIASES)))}; plugin filters: {_plugin_names(known)}"


def _filter_values(value: Any, name: str) -> list[Any]:
    """A plugin filter's value(s) as a non-empty list of text or numbers."""
    given = list(value) if isinstance(value, (list, tuple)) else [value]
    if not given:
        raise RuleError(f"{name}: give at least one value")
    if len(given) > MAX_VALUES:
        raise RuleError(f"{name}: at most {MAX_VALUES} values, not {len(given)}")
    for v in given:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or (isinstance(v, str) and not v.strip()):
            raise RuleError(f"{name} must be text or a number (or a list of them), not {_shown(v)}")
        if isinstance(v, str) and len(v.strip()) > MAX_TEXT:
            raise RuleError(f"{name}: at most {MAX_TEXT} characters, not {len(v.strip())}")
    return [v.strip() if isinstance(v, str) else v for v in given]


def _shown(value: Any) -> str:
    """A value for an error message, cut short (a rule may hold anything a client sent)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any, name: str, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RuleError(f"{name} must be text, not {_shown(value)}")
    text = str(value).strip()
    if len(text) > limit:
        raise RuleError(f"{name}: at most {limit} characters, not {len(text)}")
    return text or None


def _words(values: Any, name: str, *, lower: bool) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise RuleError(f"{name} must be a list of text, not {_shown(values)}")
    if len(values) > MAX_VALUES:
        raise RuleError(f"{name}: at most {MAX_VALUES} entries, not {len(values)}")
    out: list[str] = []
    for value in values:
        word = value.strip().lower() if lower else value.strip()
        if not word:
            raise RuleError(f"{name}: empty entry")
        if len(word) > MAX_TEXT:
            raise RuleError(f"{name}: at most {MAX_TEXT} characters an entry, not {len(word)}")
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
        raise RuleError(f"{name} must be a number, not {_shown(value)}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise RuleError(f"{name} must be between {low} and {high}, not {number:g}")
    return number
