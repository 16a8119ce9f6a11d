"""Typed events that the scanner sends to plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chronicon.types import Change


@dataclass(frozen=True)
class AssetEvent:
    """An asset was indexed or removed: its id, path, what happened, and its catalog row at that moment."""

    id: str
    path: str
    kind: str
    change: Change
    row: dict[str, Any] = field(default_factory=dict)
