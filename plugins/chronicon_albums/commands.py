"""The `chronicon album` command group: create, list, show, delete, refresh and export smart albums."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chronicon.errors import CatalogLockedError, ChroniconError
from chronicon.media.timecode import clock

from . import service
from .configured import sync_config
from .export import FORMATS, ExportError, export
from .rules import AlbumRule, NeedsPluginError, RuleError
from .store import Album


def _console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=160)


@contextmanager
def _errors() -> Iterator[None]:
    """Album errors -> exit codes: 2 for usage (bad rule, unknown album, missing plugin), 3 for a locked catalog."""
    from chronicon.cli import CannotRun, UsageError

    try:
        yield
    except CatalogLockedError as exc:
        raise CannotRun(f"{exc}; try again when the scan is done") from exc
    except (RuleError, NeedsPluginError, ExportError, service.NoSuchAlbumError, service.AlbumExistsError,
            service.ConfigAlbumError) as exc:  # fmt: skip
        raise UsageError(str(exc)) from exc
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc


def _where(member: dict[str, Any]) -> str:
    start = member.get("t_start")
    return f"{member['path']} @ {clock(start)}" if start is not None else str(member["path"])


def _state_of(album: Album) -> Text:
    if album.error:
        return Text(f"error: {album.error}", style="red")
    if album.dirty:
        return Text("dirty (refresh pending)", style="yellow")
    return Text("ok", style="green")


def register(cli: click.Group) -> None:
    """Add the `album` group to the `chronicon` command line."""
    from chronicon.cli import AppState, _print_json

    @cli.group("album")
    def album() -> None:
        """Smart albums: saved searches that stay up to date as you scan.

        \b
        An album is a rule (a query and/or filters); `chronicon scan` rebuilds the albums its changes can
        affect. Albums can also be defined in the config file under `albums.define`.

        \b
        Examples:
          chronicon album create "Lake dogs" "dog in a lake" --label dog --after 2023
          chronicon album create "Berlin 2021" --gps 52.3,13.0,52.7,13.8 --after 2021 --before 2021
          chronicon album list
          chronicon album show "Lake dogs"
          chronicon album export "Lake dogs" ~/Albums/lake-dogs --format links
        """

    @album.command("create")
    @click.argument("name")
    @click.argument("query", required=False)
    @click.option("--label", "labels", multiple=True, metavar="LABEL", help="Has this label (repeatable: all).")
    @click.option("--person", "people", multiple=True, metavar="NAME",
                  help="Shows this person (repeatable: all of them; needs the faces plugin).")  # fmt: skip
    @click.option("--after", metavar="DATE", help="Taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD).")
    @click.option("--before", metavar="DATE", help="Taken before the end of DATE.")
    @click.option("--camera", metavar="TEXT", help="Camera make or model contains TEXT (any case).")
    @click.option("--kind", type=click.Choice(["image", "video"]), help="Only photos or only videos.")
    @click.option("--gps", metavar="S,W,N,E", help="Taken inside this GPS box (degrees: south,west,north,east).")
    @click.option("--under", metavar="DIR", type=click.Path(file_okay=False), help="Only files under DIR.")
    @click.option("--min-score", type=float, help="With a QUERY: leave out results less similar than this (-1..1).")
    @click.option("--min-aesthetic", type=float, help="Aesthetic score at least this (needs the aesthetic plugin).")
    @click.option("--sort", metavar="KEY", help="Order by a plugin's sort key (e.g. aesthetic) instead of relevance.")
    @click.option("-n", "--limit", "max_items", type=click.IntRange(1, 100_000),
                  help="At most N items (default: the albums.max_items setting).")  # fmt: skip
    @click.option("--replace", is_flag=True, help="Replace a command-line album of the same name.")
    @click.option("--json", "as_json", is_flag=True, help="Print the album as JSON.")
    @click.pass_obj
    def create(state: AppState, /, name: str, query: str | None, replace: bool, as_json: bool, **opts: Any) -> None:
        """Save an album called NAME and fill it now; QUERY is plain language, as in `chronicon search`.

        \b
        Examples:
          chronicon album create Cats "a cat"
          chronicon album create "Summer videos" --kind video --after 2024-06 --before 2024-08
          chronicon album create "Us" --person Alice --person Bob --sort aesthetic -n 50
        """
        with _errors():
            rule = AlbumRule.from_mapping({"query": query, **{k: v for k, v in opts.items() if v not in ((), None)}})
            library = state.library()
            store = service.store_of(library)
            with service.write_lock(library):
                sync_config(library.config, store)
                made = service.create(library, store, name, rule, replace=replace)
        if as_json:
            _print_json(service.detail_view(made))
            return
        if made.error:
            click.echo(f"saved album {made.name!r}, but it could not be filled: {made.error}", err=True)
            return
        click.echo(f"album {made.name!r}: {len(made.members)} item" + ("" if len(made.members) == 1 else "s"))

    @album.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print the albums as JSON.")
    @click.pass_obj
    def list_(state: AppState, as_json: bool) -> None:
        """List the albums: name, where it is defined, item count, last change and state."""
        with _errors():
            library = state.library()
            store = service.store_of(library)
            problems = service.synced(library, store)
            albums = store.all()
        if as_json:
            _print_json({"albums": [service.summary_view(a) for a in albums], "problems": problems})
            return
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)
        if not albums:
            click.echo("no albums yet: `chronicon album create NAME QUERY` makes one", err=True)
            return
        table = Table(box=None, pad_edge=False)
        for column in ("album", "source", "items", "updated", "state"):
            table.add_column(column, justify="right" if column == "items" else "left", overflow="fold")
        for a in albums:
            when = (a.updated_at or "")[:19].replace("T", " ")
            table.add_row(Text(a.name), a.source, str(len(a.members)), when, _state_of(a))
        _console().print(table)

    @album.command("show")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print the album and its items as JSON.")
    @click.option("-f", "--files", "paths_only", is_flag=True, help="Print only the paths, one per line.")
    @click.pass_obj
    def show(state: AppState, name: str, as_json: bool, paths_only: bool) -> None:
        """Show an album's items, best first (a dirty album is rebuilt first when no scan is running)."""
        with _errors():
            library = state.library()
            store = service.store_of(library)
            service.synced(library, store)
            found = service.fresh(library, store, service.find(store, name))
        if as_json:
            _print_json(service.detail_view(found))
            return
        if paths_only:
            for member in found.members:
                click.echo(_where(member))
            return
        if found.error:
            click.echo(f"error: {found.error}", err=True)
        if not found.members:
            click.echo(f"album {found.name!r} is empty", err=True)
            return
        table = Table(box=None, pad_edge=False)
        table.add_column("#", justify="right", style="dim")
        table.add_column("score", justify="right")
        table.add_column("file", overflow="fold")
        for rank, member in enumerate(found.members, 1):
            score = "" if member.get("score") is None else f"{member['score']:.3f}"
            table.add_row(str(rank), score, Text(_where(member)))
        console = _console()
        console.print(table)
        console.print(Text(f"{len(found.members)} items in {found.name!r} ({found.source})", style="dim"))

    @album.command("delete")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
    @click.pass_obj
    def delete(state: AppState, name: str, as_json: bool) -> None:
        """Delete a command-line album (its photos are untouched; config albums are edited in the config)."""
        with _errors():
            library = state.library()
            store = service.store_of(library)
            with service.write_lock(library):
                sync_config(library.config, store)
                gone = service.delete(store, name)
        if as_json:
            _print_json({"deleted": gone.name})
            return
        click.echo(f"deleted album {gone.name!r}")

    @album.command("refresh")
    @click.argument("names", nargs=-1)
    @click.option("--json", "as_json", is_flag=True, help="Print the refreshed albums as JSON.")
    @click.pass_obj
    def refresh(state: AppState, names: Sequence[str], as_json: bool) -> None:
        """Re-evaluate albums NAMES (default: all of them) now."""
        with _errors():
            library = state.library()
            store = service.store_of(library)
            with service.write_lock(library):
                sync_config(library.config, store)
                done = service.refresh(library, store, names)
        if as_json:
            _print_json({"albums": [service.summary_view(a) for a in done]})
            return
        for a in done:
            click.echo(f"{a.name}: " + (f"error: {a.error}" if a.error else f"{len(a.members)} items"))

    @album.command("export")
    @click.argument("name")
    @click.argument("dest", type=click.Path())
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="links", show_default=True,
                  help="links: a folder of symlinks; m3u: a playlist of the videos; json: rule and items.")  # fmt: skip
    @click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
    @click.pass_obj
    def export_(state: AppState, name: str, dest: str, fmt: str, as_json: bool) -> None:
        """Export album NAME to DEST (a folder for links; a file or folder for m3u and json).

        \b
        links: DEST gets symlinks "001 - IMG_0001.jpg" to the originals, in album order; exporting again
               replaces the links it made and never touches other files.
        m3u:   an extended M3U of the album's videos, starting each at the moment that matched (VLC).
        json:  the album's rule and items.

        \b
        Examples:
          chronicon album export Cats ~/Albums/cats
          chronicon album export "Summer videos" summer.m3u --format m3u
        """
        with _errors():
            library = state.library()
            store = service.store_of(library)
            service.synced(library, store)
            found = service.fresh(library, store, service.find(store, name))
            result = export(library.catalog, found, os.fspath(dest), fmt)
        if as_json:
            _print_json(result.to_dict())
            return
        for note in result.skipped:
            click.echo(f"note: {note}", err=True)
        extra = f" (replaced {result.removed} old links)" if result.removed else ""
        click.echo(f"wrote {result.written} items of {found.name!r} to {result.dest}{extra}")
