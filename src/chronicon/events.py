"""Typed events that the scanner sends to plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chronicon.types import Change


@dataclass(frozen=True)
class AssetEvent:
    """An asset was indexed or removed: its id, path, what happened, its catalog row at that moment, and the
    catalog folder it belongs to (a process may scan several catalogs)."""

    id: str
    path: str
    kind: str
    change: Change
    row: dict[str, Any] = field(default_factory=dict)
    catalog_dir: Path | None = None
