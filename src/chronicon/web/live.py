"""Serving while a scan writes: the server's catalog handle follows new commits, so readers see the last one."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from chronicon.library import Library


class LiveCatalog:
    """Moves the library's (long-lived) assets table handle to the newest committed version, at most once per
    `interval` seconds. A LanceDB table opened once keeps reading the version it opened unless its connection
    checks for new commits (`read_consistency_interval`); this keeps the server current either way. Vector
    tables check out the latest version on every search (`VectorTable._version`)."""

    def __init__(self, library: Library, interval: float = 1.0) -> None:
        self.library = library
        self.interval = interval
        self._checked = 0.0
        self._lock = threading.Lock()
        self.version: int | None = None

    def refresh(self, *, force: bool = False) -> None:
        """Check for a newer commit (cheap: reads the table's latest manifest) and switch to it."""
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return
        with self._lock:
            if not force and now - self._checked < self.interval:
                return
            self._checked = now
            assets: Any = self.library.catalog.assets
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                assets.checkout_latest()
            self.version = int(assets.version)
