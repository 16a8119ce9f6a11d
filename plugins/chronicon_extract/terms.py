"""Checking an answer against the schema: categorical values normalised, mapped through the terminology map or a
close match, numbers and booleans coerced, and everything that still does not fit flagged."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from chronicon.api.models import terminology_lookup

from .schema import Field, Schema, SchemaError

CLOSE_MATCH_CUTOFF = 0.85
_PUNCT = re.compile(r"[^\w\s]|_")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_TRUE = {"true", "yes", "y", "1", "present", "visible"}
_FALSE = {"false", "no", "n", "0", "none", "absent", "not visible"}


def norm(text: Any) -> str:
    """Lower case, punctuation and underscores as spaces, whitespace collapsed: `Near-Miss` -> `near miss`."""
    return " ".join(_PUNCT.sub(" ", str(text).lower()).split())


def load_terms(path: str | Path | None) -> tuple[dict[str, str], str]:
    """A terminology map {canonical: [synonyms]} as {normalised synonym: canonical}, and a hash of the file."""
    if not path:
        return {}, ""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except OSError as exc:
        raise SchemaError(f"cannot read the terminology map {file}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SchemaError(f"the terminology map {file} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{file}: expected a mapping {{canonical: [synonyms]}}")
    terms = {str(k): [str(s) for s in (v if isinstance(v, list) else [v] if v is not None else [])]
             for k, v in data.items()}  # fmt: skip
    lookup = {norm(k): v for k, v in terminology_lookup(terms).items()}
    return lookup, hashlib.sha256(json.dumps(terms, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def resolve_category(field: Field, value: Any, lookup: Mapping[str, str]) -> tuple[str, str | None]:
    """An allowed value for a categorical answer, or the answer as given with a flag saying it is not allowed."""
    raw = " ".join(str(value).split())
    allowed = {norm(v): v for v in field.values}
    key = norm(raw)
    if key in allowed:
        return allowed[key], None
    mapped = lookup.get(key)
    if mapped is not None and norm(mapped) in allowed:
        return allowed[norm(mapped)], None
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=CLOSE_MATCH_CUTOFF)
    if close:
        return allowed[close[0]], None
    return raw, f"{field.name}: {raw!r} not allowed"


def _number(field: Field, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, f"{field.name}: {value!r} is not a number"
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        found = _NUMBER.search(str(value))
        if not found:
            return str(value), f"{field.name}: {str(value)!r} is not a number"
        number = float(found.group().replace(",", "."))
    return (int(number) if number.is_integer() else number), None


def _boolean(field: Field, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    key = norm(value)
    if key in _TRUE:
        return True, None
    if key in _FALSE:
        return False, None
    return str(value), f"{field.name}: {str(value)!r} is not true or false"


def coerce(field: Field, value: Any, lookup: Mapping[str, str]) -> tuple[Any, str | None]:
    """One answer value in its field's type, and a flag when it does not fit."""
    if field.type == "categorical":
        if isinstance(value, (list, dict)):
            return json.dumps(value), f"{field.name}: {json.dumps(value)!r} not allowed"
        return resolve_category(field, value, lookup)
    if field.type == "number":
        return _number(field, value)
    if field.type == "boolean":
        return _boolean(field, value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split()), None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check(schema: Schema, answer: Mapping[str, Any], lookup: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The schema's fields from an answer object (keys matched loosely), and the flags of what did not fit."""
    by_key = {norm(f.name): f for f in schema.fields}
    given: dict[str, Any] = {}
    flags: list[str] = []
    for key, value in answer.items():
        found = schema.field(str(key)) or by_key.get(norm(key))
        if found is None:
            flags.append(f"ignored unknown field {str(key)!r}")
        elif found.name not in given or _empty(given[found.name]):
            given[found.name] = value
    values: dict[str, Any] = {}
    for f in schema.fields:
        value = given.get(f.name)
        if _empty(value):
            values[f.name] = None
            if f.required:
                flags.append(f"{f.name}: missing (required)")
            continue
        values[f.name], flag = coerce(f, value, lookup)
        if flag:
            flags.append(flag)
    return values, flags


def readable(values: Mapping[str, Any]) -> str:
    """`field: value` lines for people (and full-text search)."""
    return "\n".join(f"{k}: {json.dumps(v) if isinstance(v, bool) or v is None else v}" for k, v in values.items())
