"""Every plugin hook of Chronicon, declared once with its types; plugins implement them with `@hookimpl`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from chronicon.analyzers.base import Analyzer
    from chronicon.analyzers.spaces import TextList, VectorSpace
    from chronicon.analyzers.stacks import StackKind
    from chronicon.config import Setting
    from chronicon.events import AssetEvent
    from chronicon.library import Library
    from chronicon.scan.summary import ScanSummary
    from chronicon.search.extensions import SearchFilter, SortKey

PROJECT = "chronicon"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
# A folder plugin that is not importable by its own name is imported under this prefix (`chronicon_plugins_x`).
FOLDER_MODULE_PREFIX = "chronicon_plugins_"


@hookspec
def chronicon_register_analyzers() -> list[type[Analyzer]]:  # type: ignore[empty-body]
    """Return the analyzer classes (passes) this plugin adds; the core builds and schedules them."""


@hookspec
def chronicon_register_settings() -> dict[str, Setting]:  # type: ignore[empty-body]
    """Return config settings this plugin adds, as dotted keys in its own section (e.g. "albums.folder")."""


@hookspec
def chronicon_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the `chronicon` command line."""


@hookspec
def chronicon_asset_indexed(event: AssetEvent) -> None:
    """Called after an asset's row is committed to the catalog (new, changed, moved or re-analysed)."""


@hookspec
def chronicon_asset_removed(event: AssetEvent) -> None:
    """Called after an asset is marked missing or purged from the catalog."""


@hookspec
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    """Called once when a scan has committed everything (still under the scan lock); smart albums rebuild here."""


@hookspec
def chronicon_register_search_filters() -> list[SearchFilter | SortKey]:  # type: ignore[empty-body]
    """Return search filters (`--person NAME`) and sort keys (`--sort aesthetic`) for search, albums and the API."""


@hookspec
def chronicon_register_spaces() -> list[VectorSpace | TextList]:  # type: ignore[empty-body]
    """Return the vector spaces a plugin's passes fill (`VectorSpace`: `--space KIND`, with its query encoder) and
    the ranked lists fused into searches with words (`TextList`: vectors of what was said or written, or a
    full-text column). Search knows spaces only through this hook; the built-in clip, conse and caption spaces
    are registered here too."""


@hookspec
def chronicon_register_stacks() -> list[StackKind]:  # type: ignore[empty-body]
    """Return the kinds of stack a plugin's passes form (`StackKind`: RAW + JPEG pairs, bursts, Live Photos): each
    names the assets column its pass writes with the cover's id on every member. Search, browse and the web app
    show a stack once, by its cover (`chronicon.analyzers.stacks`)."""


@hookspec
def chronicon_register_routes(app: Any, library: Library) -> None:
    """Add routes to the web app of `chronicon serve` (`app` is its FastAPI application)."""
