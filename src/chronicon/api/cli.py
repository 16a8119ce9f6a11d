"""Command-line helpers for the core's and plugins' commands: the app state, JSON output, errors and exit codes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

import click

from chronicon import logs
from chronicon.errors import CatalogError, ChroniconError, ConfigError
from chronicon.library import Library
from chronicon.plugins import PluginHost

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE, EXIT_CANNOT_RUN, EXIT_INTERNAL = 0, 1, 2, 3, 4


class UsageError(click.ClickException):
    """A usage or config error: exit code 2."""

    exit_code = EXIT_USAGE


class CannotRun(click.ClickException):
    """The catalog is locked by another scan or cannot be opened: exit code 3."""

    exit_code = EXIT_CANNOT_RUN


@dataclass
class AppState:
    """What the group options set up for every command (`@click.pass_obj` hands it to a command)."""

    config_file: str | None
    overrides: dict[str, Any]
    host: PluginHost | None
    log_level: str = "info"

    def quiet(self) -> None:
        """Only warnings and errors on stderr from here on (`-q`, `--json`, `-f`): results stay parseable."""
        logs.configure(self.log_level, quiet=True)

    def library(self) -> Library:
        """The library the options name; config and catalog errors become exit codes 2 and 3."""
        try:
            return Library(config_file=self.config_file, overrides=self.overrides, plugin_host=self.host)
        except ConfigError as exc:
            raise UsageError(str(exc)) from exc
        except CatalogError as exc:
            raise CannotRun(str(exc)) from exc


def json_default(value: Any) -> Any:
    """JSON for the values catalog rows hold besides the JSON types: dates and raw path bytes."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return os.fsdecode(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Print a `--json` result on stdout (indented, UTF-8 as is)."""
    click.echo(json.dumps(data, indent=2, default=json_default, ensure_ascii=False))


def fail(exc: ChroniconError) -> NoReturn:
    """End the command with the error's line: a config error exits 2, anything else the core raises exits 3."""
    if isinstance(exc, ConfigError):
        raise UsageError(str(exc)) from exc
    raise CannotRun(str(exc)) from exc


class SpaceKind(click.ParamType[str]):
    """`--space`: auto or a space a plugin contributes (`chronicon_register_spaces`), known once plugins load."""

    name = "space"

    @staticmethod
    def _kinds(ctx: click.Context | None) -> list[str] | None:
        """The choices, or None when the plugins are not loaded yet (the library checks the name then)."""
        state = ctx.find_object(AppState) if ctx is not None else None
        host = state.host if state is not None else None
        return ["auto", *host.space_kinds()] if host is not None else None

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        kinds = self._kinds(ctx)
        return "[" + "|".join(kinds) + "]" if kinds else "KIND"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        kinds = self._kinds(ctx)
        text = str(value)
        if kinds is not None and text not in kinds:
            self.fail(f"{text!r} is not a search space here; choose from {', '.join(kinds)}", param, ctx)
        return text
