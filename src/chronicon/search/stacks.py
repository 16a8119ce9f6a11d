"""Stacks in results: which stack an asset is in (by the kinds passes register) and who else is in it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.store import Catalog, sql_str

_IN_CHUNK = 500


@dataclass(frozen=True)
class Membership:
    """An asset's place in one stack: its kind and the id of the stack's cover (the asset itself when it is it)."""

    kind: StackKind
    cover: str


def membership(row: Mapping[str, Any], kinds: Sequence[StackKind]) -> Membership | None:
    """The stack a catalog row is in: the first kind (by priority) whose column holds a cover id; None when none."""
    for kind in kinds:
        cover = row.get(kind.column)
        if isinstance(cover, str) and cover:
            return Membership(kind, cover)
    return None


def members(catalog: Catalog, kind: StackKind, covers: Iterable[str]) -> dict[str, list[str]]:
    """The ids of every asset in the stacks of these covers (the cover included), by cover; present files only."""
    out: dict[str, list[str]] = {}
    wanted = sorted(set(covers))
    if kind.column not in catalog.schema.names:
        return out
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        where = f"{kind.column} IN (" + ", ".join(sql_str(c) for c in chunk) + ") AND (missing IS NULL OR NOT missing)"
        table = catalog.to_arrow(["id", kind.column], where=where)
        for asset_id, cover in zip(table.column("id").to_pylist(), table.column(kind.column).to_pylist(), strict=True):
            out.setdefault(cover, []).append(asset_id)
    for ids in out.values():
        ids.sort()
    return out


def describe(kind: StackKind, cover: str, ids: Sequence[str], via: str | None = None) -> dict[str, Any]:
    """The `stack` entry of a result: kind, label, cover id, size and member ids; `via`: the member that matched."""
    return {"kind": kind.name, "label": kind.label, "cover": cover, "size": max(len(ids), 1), "members": list(ids),
            "via": via}  # fmt: skip
