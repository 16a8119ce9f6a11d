"""The extract plugin: a YAML schema's fields filled in per photo or video by a vision-language model."""

from __future__ import annotations

import click

from chronicon.api import Analyzer, SearchFilter, SortKey, hookimpl

from .commands import extract_group
from .extract_pass import ExtractPass
from .results import matching_ids

PLUGIN_NAME = "extract"
__version__ = "0.1.0"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [ExtractPass]


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    cli.add_command(extract_group)


@hookimpl
def chronicon_register_search_filters() -> list[SearchFilter | SortKey]:
    return [SearchFilter("field", "FIELD=VALUE from the extraction (e.g. event_type=crash)",
                         asset_ids=matching_ids, metavar="FIELD=VALUE")]  # fmt: skip
