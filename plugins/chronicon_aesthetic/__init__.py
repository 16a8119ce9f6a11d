"""The aesthetic plugin (placeholder while it is written)."""

from __future__ import annotations

PLUGIN_NAME = "aesthetic"
__version__ = "0.1.0"
