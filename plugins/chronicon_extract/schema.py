"""The extraction schema: a YAML file naming the fields to extract, their types and allowed values."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chronicon.api import ChroniconError

FIELD_TYPES = ("categorical", "text", "number", "boolean")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaError(ChroniconError):
    """A schema file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Field:
    """One field to extract."""

    name: str
    type: str
    description: str = ""
    values: tuple[str, ...] = ()  # categorical fields only
    required: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "description": self.description}
        if self.values:
            out["values"] = list(self.values)
        return out | {"required": self.required}


@dataclass(frozen=True)
class Schema:
    """A named list of fields plus the instructions given to the model."""

    name: str
    prompt: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "prompt": self.prompt, "fields": [f.to_json() for f in self.fields]}

    @property
    def digest(self) -> str:
        """A short hash of everything that changes results (a changed schema re-runs the pass)."""
        text = json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    @property
    def signature(self) -> str:
        """`name@hash`, stored with every result."""
        return f"{self.name}@{self.digest}"

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _text(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise SchemaError(f"{where}: expected a non-empty text")
    return str(value).strip()


def _field(raw: Any, index: int, source: str) -> Field:
    where = f"{source}: fields[{index}]"
    if not isinstance(raw, dict):
        raise SchemaError(f"{where}: expected a mapping with name, type and description")
    name = _text(raw.get("name"), f"{where}: name")
    where = f"{source}: field {name!r}"
    if not _FIELD_NAME.match(name):
        raise SchemaError(f"{where}: a field name is letters, digits and _ (it becomes a column of the export)")
    unknown = sorted(set(raw) - {"name", "type", "description", "values", "required"})
    if unknown:
        raise SchemaError(f"{where}: unknown keys {', '.join(unknown)}")
    kind = raw.get("type")
    if kind not in FIELD_TYPES:
        raise SchemaError(f"{where}: type {kind!r} is not one of {', '.join(FIELD_TYPES)}")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise SchemaError(f"{where}: required must be true or false, not {required!r}")
    values: tuple[str, ...] = ()
    if kind == "categorical":
        raw_values = raw.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise SchemaError(f"{where}: a categorical field needs a non-empty list of values")
        values = tuple(_text(v, f"{where}: values[{i}]") for i, v in enumerate(raw_values))
        seen = {v.lower() for v in values}
        if len(seen) != len(values):
            raise SchemaError(f"{where}: values repeat (case-insensitively)")
    elif raw.get("values") is not None:
        raise SchemaError(f"{where}: only categorical fields take values (this one is {kind})")
    description = _text(raw.get("description"), f"{where}: description", required=False)
    return Field(name, str(kind), description, values, required)


def parse_schema(data: Any, source: str = "schema") -> Schema:
    """A Schema from parsed YAML, or a SchemaError naming what is wrong and where."""
    if not isinstance(data, dict):
        raise SchemaError(f"{source}: expected a mapping with name, prompt and fields")
    unknown = sorted(set(data) - {"name", "prompt", "fields"})
    if unknown:
        raise SchemaError(f"{source}: unknown keys {', '.join(unknown)}")
    name = _text(data.get("name"), f"{source}: name")
    prompt = _text(data.get("prompt"), f"{source}: prompt", required=False)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError(f"{source}: fields must be a non-empty list")
    fields = tuple(_field(raw, i, source) for i, raw in enumerate(raw_fields))
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaError(f"{source}: field {duplicates[0]!r} is defined more than once")
    if "id" in names:
        raise SchemaError(f"{source}: field 'id' is reserved for the item id of exports")
    return Schema(name, prompt, fields)


def load_schema(path: str | Path) -> Schema:
    """Read and validate a schema YAML file."""
    file = Path(path).expanduser()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(f"cannot read the schema {file}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SchemaError(f"{file} is not valid YAML: {' '.join(str(exc).split())}") from exc
    return parse_schema(data, str(file))


def example_schema_path() -> Path:
    """The example schema shipped with the plugin (dashcam incidents)."""
    return Path(__file__).with_name("incident.yaml")
