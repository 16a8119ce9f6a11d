"""JSON Schemas of the CLI's `--json` outputs (`scan`, `search`/`similar`, `info`, `stats`, `export`, `catalog
check`): each output carries `schema_version`, bumped only when a field is removed or changes meaning."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1
NAMES = ("scan", "search", "info", "stats", "export", "catalog-check")


@cache
def load(name: str) -> dict[str, Any]:
    """The JSON Schema of one output, by name (see NAMES)."""
    if name not in NAMES:
        raise KeyError(f"no schema {name!r}; there are: {', '.join(NAMES)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def stamp(data: dict[str, Any]) -> dict[str, Any]:
    """The output with `schema_version` first."""
    return {"schema_version": SCHEMA_VERSION, **data}
