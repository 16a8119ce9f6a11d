"""Stacks: assets shown as one (a RAW + JPEG pair, a burst, a Live Photo's still and motion), as passes declare them.

A pass that groups assets registers a `StackKind` (`chronicon_register_stacks`) and writes its `column` on every
member of a stack, the cover included: the id of the stack's cover (the one asset shown in search, browse and the
web app); null when the asset is not in a stack of that kind. Search credits a member's match to its cover and
shows each stack once; the other members stay reachable (`info`, the web viewer, `collapse=False`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class StackKind:
    """One kind of stack: `name` ("raw-pair", "burst", "live"), the assets `column` that holds the cover's id on
    every member (the cover included), the `label` people read ("RAW + JPEG", "burst", "Live Photo"), and the
    pass that writes the column (`owner`; the kind applies only while that pass is enabled and its column
    exists). `priority` orders kinds when one asset is in several (lowest first: that kind's cover is shown).
    `parts`: the members are parts of the cover, not pictures of their own (a Live Photo's motion): they are never
    listed alone, even when the filters leave the cover out, unless asked (`Filters.motion_parts`)."""

    name: str
    column: str
    label: str
    owner: str | None = None
    priority: int = 100
    parts: bool = False


def validate_stack(item: Any) -> str | None:
    """Why a plugin's `chronicon_register_stacks` answer item is unusable, or None."""
    if not isinstance(item, StackKind):
        return f"{item!r} is not a StackKind"
    if not _NAME.match(item.name):
        return f"stack kind name {item.name!r} must be lower-case letters, digits, - and _"
    if not _NAME.match(item.column):
        return f"stack kind {item.name!r}: column {item.column!r} is not a column name"
    return None
