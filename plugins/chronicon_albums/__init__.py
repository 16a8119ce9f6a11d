"""Smart albums: saved searches kept up to date by scans, with CLI commands, exports and REST routes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chronicon.api import AssetEvent, Library, ScanSummary, Setting, hookimpl

from .tracking import Tracker, emitting_catalog

if TYPE_CHECKING:
    import click

PLUGIN_NAME = "albums"
__version__ = "0.1.0"

log = logging.getLogger(__name__)

# Asset changes this process saw, per catalog, since that catalog's last scan finished (the event hooks get no
# Library to write to; the scan hook persists what they mean, and catches up from the catalog on anything
# missed: an event whose catalog cannot be told is left to that catch-up).
TRACKER = Tracker()


@hookimpl
def chronicon_register_settings() -> dict[str, Setting]:
    return {
        "albums.define": Setting(
            "records", [], help="albums defined here: a list of {name, query, labels, after, ...} mappings"
        ),
        "albums.max_items": Setting("int", 500, minimum=1, maximum=100_000, help="items per album at most"),
        "albums.refresh_on_scan": Setting("bool", True, help="rebuild the albums a scan changed when it ends"),
    }


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    from .commands import album_group  # imported when the command line is built (rich is not needed otherwise)

    cli.add_command(album_group)


@hookimpl
def chronicon_asset_indexed(event: AssetEvent) -> None:
    catalog = emitting_catalog(event)
    if catalog is not None:
        TRACKER.indexed(catalog, event.id, event.kind, event.row)


@hookimpl
def chronicon_asset_removed(event: AssetEvent) -> None:
    catalog = emitting_catalog(event)
    if catalog is not None:
        TRACKER.removed(catalog, event.id)


@hookimpl
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    from .service import after_scan

    try:
        notes = after_scan(library, summary, TRACKER)
    except Exception as exc:  # albums must never break a scan; they are rebuilt by the next one or a refresh
        log.exception("smart albums were not updated")
        notes = [f"smart albums were not updated: {type(exc).__name__}: {exc}"]
    summary.notes.extend(notes)


@hookimpl
def chronicon_register_routes(app: Any, library: Library) -> None:
    from .routes import add_routes

    add_routes(app, library)
