"""Search filters and sort keys that plugins add (`chronicon_register_search_filters`): `--person`, `--sort`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chronicon.errors import ChroniconError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ExtensionError(ChroniconError):
    """A plugin filter or sort key that is malformed or unknown."""


@dataclass(frozen=True)
class SearchFilter:
    """A filter a plugin adds: `--NAME VALUE` on `search`/`similar`, `NAME=value` in `Library.search` and albums.

    Give `where` (a `Where` on the `assets` table, e.g. `lambda v: col("aesthetic") >= v`, for columns the
    plugin's pass writes) or `asset_ids` (the ids allowed, for data kept in the plugin's own tables), or both.
    `value_type` converts CLI and album values: "str", "float" or "int"."""

    name: str
    help: str
    value_type: str = "str"
    where: Callable[[Any], Any] | None = None  # value -> a `Where` (`col("aesthetic") >= v`) or SQL text
    asset_ids: Callable[[Any, Any], set[str]] | None = None  # (catalog, value) -> allowed asset ids
    metavar: str = "VALUE"

    def convert(self, value: Any) -> Any:
        """The value in this filter's type, or an ExtensionError that names the filter."""
        try:
            if self.value_type == "float":
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError("not finite")
                return number
            if self.value_type == "int":
                return int(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExtensionError(f"--{self.option} {value!r}: expected a finite number") from exc
        return str(value)

    @property
    def option(self) -> str:
        return self.name.replace("_", "-")


@dataclass(frozen=True)
class SortKey:
    """An order a plugin adds: `--sort NAME` orders results by this assets-table column (nulls last)."""

    name: str
    column: str
    help: str
    descending: bool = True


def validate(item: Any) -> str | None:
    """Why a plugin's answer item is not a usable SearchFilter or SortKey, or None when it is."""
    if not isinstance(item, (SearchFilter, SortKey)):
        return f"{item!r} is not a SearchFilter or SortKey"
    if not _NAME.match(item.name):
        return f"{item.name!r} must be lower-case letters, digits and _"
    if isinstance(item, SearchFilter):
        if item.where is None and item.asset_ids is None:
            return f"filter {item.name!r} needs `where` or `asset_ids`"
        if item.value_type not in ("str", "float", "int"):
            return f"filter {item.name!r}: value_type must be str, float or int"
    return None


def sort_rows(rows: list[Any], key: SortKey, value_of: Callable[[Any], Any]) -> list[Any]:
    """Rows ordered by a sort key's column; rows without a value go last, the original order breaks ties."""
    present = [r for r in rows if value_of(r) is not None]
    absent = [r for r in rows if value_of(r) is None]
    present.sort(key=value_of, reverse=key.descending)
    return present + absent
