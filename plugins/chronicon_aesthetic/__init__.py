"""The aesthetic plugin: a heuristic 0..1 score per asset, an optional head learned from ratings, a sort key."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from chronicon.api import SearchFilter, SortKey, col, hookimpl

from .analyzer import AestheticPass, weights_from

if TYPE_CHECKING:
    from chronicon.api import Analyzer, Library, ScanSummary

PLUGIN_NAME = "aesthetic"
__version__ = "0.2.0"

log = logging.getLogger(__name__)


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [AestheticPass]


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    from .commands import aesthetic_group

    cli.add_command(aesthetic_group)


@hookimpl
def chronicon_register_search_filters() -> list[SearchFilter | SortKey]:
    return [
        SearchFilter(
            "min_aesthetic",
            "only assets whose aesthetic score is at least X (0..1)",
            value_type="float",
            where=lambda v: col("aesthetic") >= float(v),
            metavar="X",
        ),
        SortKey("aesthetic", "aesthetic", "most pleasing first"),
    ]


@hookimpl
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    """Re-score with the learned head, if this catalog has one, the assets whose score is not the head's: those
    the scan indexed (the pass wrote the heuristic) and those that had no vector in its space before. Found by
    a query on this catalog, so nothing is shared between libraries of one process (the scan lock is held)."""
    from .head import load_head
    from .rescore import has_columns, rescore, unscored_ids

    head = load_head(library.catalog_dir)
    if head is None or not has_columns(library.catalog):
        return
    ids = unscored_ids(library.catalog, head)
    if not ids:
        return
    counts = rescore(library.catalog, head, weights_from(library.config.section("aesthetic")), ids)
    log.info(
        "aesthetic: re-scored %d assets with %s (%d kept the heuristic)",
        counts["head"],
        head.source,
        counts["heuristic"],
    )


__all__ = ["PLUGIN_NAME", "AestheticPass", "__version__"]
