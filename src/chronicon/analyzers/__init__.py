"""Analyzers: the passes a scan runs over assets (metadata, content, and the ML passes of plugins)."""

from __future__ import annotations

from chronicon.analyzers.base import Analyzer, AnalyzerContext, AssetItem, PerItemAnalyzer
from chronicon.analyzers.graph import order_analyzers, pass_signature

__all__ = [
    "Analyzer",
    "AnalyzerContext",
    "AssetItem",
    "PerItemAnalyzer",
    "order_analyzers",
    "pass_signature",
]
