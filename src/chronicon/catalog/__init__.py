"""The catalog: an embedded LanceDB folder with versioned tables, a scan lock and thumbnails."""

from __future__ import annotations

from chronicon.catalog.lock import ScanLock
from chronicon.catalog.schema import SCHEMA_VERSION
from chronicon.catalog.store import Catalog

__all__ = ["SCHEMA_VERSION", "Catalog", "ScanLock"]
