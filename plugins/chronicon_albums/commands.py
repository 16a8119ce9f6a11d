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

from chronicon.api import AppState, CannotRun, CatalogLockedError, ChroniconError, UsageError, clock, print_json

from . import service
from .export import FORMATS, ExportError, export
from .rules import CORE_FIELDS, AlbumRule, NeedsPluginError, RuleError, filter_name
from .store import Album


def _console() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=160)


@contextmanager
def _errors() -> Iterator[None]:
    """Album errors -> exit codes: 2 for usage (bad rule, unknown album, missing plugin), 3 for a locked catalog."""
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
    start = member.get("t", member.get("t_start"))
    return f"{member['path']} @ {clock(start)}" if start is not None else str(member["path"])


def _state_of(album: Album) -> Text:
    if album.error:
        return Text(f"error: {album.error}", style="red")
    if album.dirty:
        return Text("dirty (refresh pending)", style="yellow")
    return Text("ok", style="green")


# The documented shortcut options of `album create` -> the plugin filter each one stands for: `--person NAME` is
# `--filter person=NAME`, `--min-aesthetic X` is `--filter min_aesthetic=X`. Like any --filter they are checked
# against the library's registered filters (`AlbumRule.from_mapping(known=library.search_filters)`).
SHORTCUTS: dict[str, str] = {"people": "person", "min_aesthetic": "min_aesthetic"}


def _rule_data(query: str | None, opts: dict[str, Any]) -> dict[str, Any]:
    """The rule mapping of `album create`'s options: core fields as given, plugin filters (from --filter NAME=VALUE
    and the SHORTCUTS options) by name, each with its values."""
    plugin: dict[str, list[Any]] = {}
    for spec in opts.pop("plugin_filters", ()) or ():
        name, sep, value = spec.partition("=")
        name = filter_name(name.strip())
        if not sep or not name or not value.strip():
            raise RuleError(f"--filter {spec!r}: expected NAME=VALUE, e.g. --filter person=Alice")
        if name in CORE_FIELDS:
            raise RuleError(f"--filter {spec!r}: {name} is not a plugin filter; use --{name.replace('_', '-')}")
        plugin.setdefault(name, []).append(value.strip())
    for option, name in SHORTCUTS.items():
        given = opts.pop(option, None)
        values = list(given) if isinstance(given, (list, tuple)) else [] if given is None else [given]
        plugin.setdefault(name, []).extend(values)
    core = {k: v for k, v in opts.items() if v not in ((), None)}
    return {"query": query, **core, "filters": {k: v for k, v in plugin.items() if v}}


@click.group("album")
def album_group() -> None:
    """Smart albums: saved searches that stay up to date as you scan.

    \b
    An album is a rule (a query and/or filters, any plugin's search filter included); `chronicon scan`
    rebuilds the albums its changes can affect. Albums can also be defined in the config file under
    `albums.define`. Reading (list, show, export) never waits for or holds up a scan: a dirty album is
    evaluated in memory and stored only when the catalog is free at that moment.

    \b
    Examples:
      chronicon album create "Lake dogs" "dog in a lake" --label dog --after 2023
      chronicon album create "Berlin 2021" --gps 52.3,13.0,52.7,13.8 --after 2021 --before 2021
      chronicon album list
      chronicon album show "Lake dogs"
      chronicon album export "Lake dogs" ~/Albums/lake-dogs --format links
    """


@album_group.command("create")
@click.argument("name")
@click.argument("query", required=False)
@click.option("--label", "labels", multiple=True, metavar="LABEL", help="Has this label (repeatable: all).")
@click.option("--person", "people", multiple=True, metavar="NAME",
              help="Shows this person (repeatable: all of them); short for --filter person=NAME.")  # fmt: skip
@click.option("--after", metavar="DATE", help="Taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--before", metavar="DATE", help="Taken before the end of DATE.")
@click.option("--camera", metavar="TEXT", help="Camera make or model contains TEXT (any case).")
@click.option("--kind", type=click.Choice(["image", "video"]), help="Only photos or only videos.")
@click.option("--gps", metavar="S,W,N,E", help="Taken inside this GPS box (degrees: south,west,north,east).")
@click.option("--under", metavar="DIR", type=click.Path(file_okay=False), help="Only files under DIR.")
@click.option("--min-score", type=float, help="With a QUERY: leave out results less similar than this (-1..1).")
@click.option("--min-aesthetic", type=float, help="Short for --filter min_aesthetic=X (the aesthetic plugin).")
@click.option("--filter", "plugin_filters", multiple=True, metavar="NAME=VALUE",
              help="A plugin search filter, as in `chronicon search --NAME VALUE` (repeatable; the same NAME "
                   "twice: both must match).")  # fmt: skip
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
      chronicon album create "Best of 2024" --after 2024 --before 2024 --filter min_aesthetic=0.7
    """
    with _errors():
        library = state.library()
        data = _rule_data(query, opts)
        rule = AlbumRule.from_mapping(data, known=library.search_filters)
        made = service.create(library, service.store_of(library), name, rule, replace=replace)
    if as_json:
        print_json(service.detail_view(made))
        return
    if made.error:
        click.echo(f"saved album {made.name!r}, but it could not be filled: {made.error}", err=True)
        return
    click.echo(f"album {made.name!r}: {len(made.members)} item" + ("" if len(made.members) == 1 else "s"))


@album_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the albums as JSON.")
@click.pass_obj
def list_(state: AppState, as_json: bool) -> None:
    """List the albums: name, where it is defined, item count, last change and state."""
    with _errors():
        library = state.library()
        view = service.current(library, service.store_of(library))
        albums, problems = view.albums, view.problems
    if as_json:
        print_json({"albums": [service.summary_view(a) for a in albums], "problems": problems})
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


@album_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the album and its items as JSON.")
@click.option("-f", "--files", "paths_only", is_flag=True, help="Print only the paths, one per line, each file once.")
@click.pass_obj
def show(state: AppState, name: str, as_json: bool, paths_only: bool) -> None:
    """Show an album's items, best first (a dirty album is evaluated first; see `chronicon album --help`)."""
    with _errors():
        library = state.library()
        store = service.store_of(library)
        found = service.fresh(library, store, service.current(library, store).find(name))
    if as_json:
        print_json(service.detail_view(found))
        return
    if paths_only:  # the same contract as `search -f`: existing paths, a video once (docs/output.md)
        for path in dict.fromkeys(str(member["path"]) for member in found.members):
            click.echo(path)
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


@album_group.command("delete")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
@click.pass_obj
def delete(state: AppState, name: str, as_json: bool) -> None:
    """Delete a command-line album (its photos are untouched; config albums are edited in the config)."""
    with _errors():
        library = state.library()
        gone = service.delete(library, service.store_of(library), name)
    if as_json:
        print_json({"deleted": gone.name})
        return
    click.echo(f"deleted album {gone.name!r}")


@album_group.command("refresh")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the refreshed albums as JSON.")
@click.pass_obj
def refresh(state: AppState, names: Sequence[str], as_json: bool) -> None:
    """Re-evaluate albums NAMES (default: all of them) now."""
    with _errors():
        library = state.library()
        done = service.refresh(library, service.store_of(library), names)
    if as_json:
        print_json({"albums": [service.summary_view(a) for a in done]})
        return
    for a in done:
        click.echo(f"{a.name}: " + (f"error: {a.error}" if a.error else f"{len(a.members)} items"))


@album_group.command("export")
@click.argument("name")
@click.argument("dest", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="links", show_default=True,
              help="links: a folder of symlinks; m3u: a playlist of the videos; json: rule and items.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def export_(state: AppState, name: str, dest: str, fmt: str, as_json: bool) -> None:
    """Export album NAME to DEST (a folder for links; a file or folder for m3u and json).

    \b
    links: DEST gets symlinks "001 - IMG_0001.jpg" to the originals, in album order, and a list of them
           in DEST/.chronicon-album.json; exporting again removes only the links on that list (if they
           are still symlinks) and never touches other files.
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
        found = service.fresh(library, store, service.current(library, store).find(name))
        result = export(library.catalog, found, os.fspath(dest), fmt)
    if as_json:
        print_json(result.to_dict())
        return
    for note in result.skipped:
        click.echo(f"note: {note}", err=True)
    extra = f" (replaced {result.removed} old links)" if result.removed else ""
    click.echo(f"wrote {result.written} items of {found.name!r} to {result.dest}{extra}")
