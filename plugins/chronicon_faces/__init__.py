"""The faces plugin: finds faces (dlib), clusters them into people, `chronicon people`, `--person NAME`."""

from __future__ import annotations

import logging
from typing import Any

import click

from chronicon.api import Analyzer, Catalog, FilterError, Library, ScanSummary, SearchFilter, SortKey, hookimpl

from .analyzer import FacesPass

PLUGIN_NAME = "faces"
__version__ = "0.1.0"

log = logging.getLogger(__name__)


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [FacesPass]


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    from .commands import people_group

    cli.add_command(people_group)


@hookimpl
def chronicon_scan_finished(summary: ScanSummary, library: Library) -> None:
    """Assign the faces of this scan to people (the scan lock is held by the scan)."""
    from .cluster import update
    from .people import settings
    from .store import PEOPLE_TABLE

    catalog = library.catalog
    if "face_count" not in catalog.schema.names:
        return
    distance, min_faces = settings(library.config)
    report = update(catalog, distance=distance, min_faces=min_faces)
    if report.joined or report.new_people or report.dropped:
        summary.notes.append(
            f"faces: {report.joined} faces joined known people, {report.new_people} new people "
            f"({report.new_faces} faces), {report.dropped} faces dropped"
        )
    log.debug("%s updated: %s", PEOPLE_TABLE, report.to_json())


def _person_ids(catalog: Catalog, value: Any) -> set[str]:
    from .people import asset_ids

    try:
        return asset_ids(catalog, value)
    except LookupError as exc:
        raise FilterError(str(exc.args[0])) from exc


@hookimpl
def chronicon_register_search_filters() -> list[SearchFilter | SortKey]:
    return [
        SearchFilter("person", "has this person (name or id, see `chronicon people list`)", asset_ids=_person_ids,
                     metavar="NAME"),
    ]  # fmt: skip
