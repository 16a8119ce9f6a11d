"""The `search` and `similar` commands, their shared filter options and the options plugin filters add."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chronicon.api.cli import AppState, SpaceKind, UsageError, fail, print_json
from chronicon.errors import ChroniconError
from chronicon.library import Library
from chronicon.media.timecode import clock
from chronicon.schemas import stamp
from chronicon.search.engine import NoVectorsError, SearchResults
from chronicon.search.filters import FilterError, parse_min_counts
from chronicon.search.query import QueryError


def where(hit: Any) -> str:
    """'path' or 'path @ 00:01:23' for a hit inside a video (the moment that matched best)."""
    when = hit.t if getattr(hit, "t", None) is not None else hit.t_start
    return f"{hit.path} @ {clock(when)}" if when is not None else hit.path


def _print_paths(hits: Sequence[Any], *, moments: bool, end: bytes) -> None:
    """The exact filesystem path of each hit (bytes as on disk, also for names that are not UTF-8): each file
    once for `-f`; `path<TAB>start<TAB>end<TAB>moment` per hit for `--moments` (the shot's span and its
    best-matching frame). Nothing else goes to stdout."""
    from chronicon.catalog.store import fs_path

    out = sys.stdout.buffer
    seen: set[str] = set()
    for hit in hits:
        path = os.fsencode(fs_path(hit.row) if hit.row.get("path") else hit.path)
        if moments:
            moment = hit.t if hit.t is not None else hit.t_start
            times = [b"" if t is None else f"{t:.3f}".encode() for t in (hit.t_start, hit.t_end, moment)]
            out.write(b"\t".join([path, *times]) + end)
        elif hit.asset_id not in seen:
            seen.add(hit.asset_id)
            out.write(path + end)
    out.flush()


def filter_options(func: Any) -> Any:
    """The filter and output options `search` and `similar` share."""
    options = [
        click.option("-n", "--limit", type=click.IntRange(1, 10_000), help="Number of results (default 20)."),
        click.option("--kind", type=click.Choice(["image", "video"]), help="Only photos or only videos."),
        click.option("--after", metavar="DATE", help="Taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
        click.option("--before", metavar="DATE", help="Taken before the end of DATE."),
        click.option("--camera", metavar="TEXT", help="Camera make or model contains TEXT (any case)."),
        click.option("--label", "labels", multiple=True, metavar="LABEL", help="Has this label (repeatable: all)."),
        click.option("--under", metavar="FOLDER", type=click.Path(), help="Only files under FOLDER."),
        click.option("--has-speech", is_flag=True, help="Only videos in which something is said."),
        click.option(
            "--with-motion",
            "motion_parts",
            is_flag=True,
            help="Also list Live Photos' motion parts (their MOVs) as videos of their own, e.g. with --kind video.",
        ),
        click.option("--text", metavar="TEXT", help="Only pictures whose text (signs, pages, screens) contains TEXT."),
        click.option(
            "--rating",
            type=click.IntRange(-1, 5),
            metavar="N",
            help="XMP rating at least N (sidecar or embedded; -1 = rejected .. 5).",
        ),
        click.option(
            "--keyword",
            "keywords",
            multiple=True,
            metavar="K",
            help="Has this XMP keyword, any case, or any level of a hierarchical one (repeatable: all).",
        ),
        click.option(
            "--min-count",
            "min_counts",
            multiple=True,
            metavar="LABEL=N",
            help="At least N of this object in one picture, e.g. person=3 (repeatable).",
        ),
        click.option("--gps", metavar="S,W,N,E", help="Taken inside this GPS box (degrees: south,west,north,east)."),
        click.option(
            "--sort",
            metavar="KEY",
            help="Order the results: relevance (default), date (newest first) or a plugin's sort key.",
        ),
        click.option(
            "--all",
            "show_all",
            is_flag=True,
            help="Also show weak matches, which the relevance cutoff hides (marked weak).",
        ),
        click.option(
            "--min-score",
            type=click.FloatRange(-1.0, 1.0),
            callback=_finite,
            help="Hide results whose similarity is below this (-1..1).",
        ),
        click.option(
            "--expand-stacks",
            is_flag=True,
            help="List every member of a stack (RAW + JPEG pair, burst, Live Photo) on its own, not just its cover.",
        ),
        click.option("--space", type=SpaceKind(), help="Vector space to search."),
        click.option("--no-hybrid", is_flag=True, help="Vectors only: no full-text match on labels."),
        click.option("--json", "as_json", is_flag=True, help="Print results as JSON."),
        click.option(
            "-f",
            "--files",
            "paths_only",
            is_flag=True,
            help="Print only the paths of the matching files, each once, one per line (for xargs).",
        ),
        click.option(
            "--moments",
            is_flag=True,
            help="Print PATH<TAB>START<TAB>END per hit (seconds; empty for photos), for players that seek.",
        ),
        click.option("-0", "--null", "null", is_flag=True, help="With -f or --moments: end each entry with NUL."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and math.isnan(value):
        raise click.BadParameter("must be a number from -1 to 1, not nan")
    return value


def query_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A query argument that is valid text: bytes that are not UTF-8 are a usage error, not a traceback."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter("is not valid text (it holds bytes that are not UTF-8)") from None
    return value


PLUGIN_PREFIX = "plugin__"


def add_plugin_filter_options(cli: click.Group, filters: dict[str, Any], sorts: dict[str, Any]) -> None:
    """Give `search` and `similar` a `--NAME` option per plugin search filter and list the sort keys."""
    for command_name in ("search", "similar"):
        command = cli.commands.get(command_name)
        if command is None:
            continue
        taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for extension in filters.values():
            flag = f"--{extension.option}"
            if flag in taken:
                continue
            kind = {"float": float, "int": int}.get(extension.value_type, str)
            command.params.append(
                click.Option(
                    [flag, PLUGIN_PREFIX + extension.name],
                    type=kind,
                    metavar=extension.metavar,
                    help=f"{extension.help} (plugin filter)",
                )
            )
        if sorts:
            for param in command.params:
                if getattr(param, "name", None) == "sort" and isinstance(param, click.Option):
                    param.help = "Order results by: relevance (default), date (newest first), " + ", ".join(
                        f"{k} ({v.help})" for k, v in sorts.items()
                    )


def _filters(opts: dict[str, Any]) -> dict[str, Any]:
    """The filters the options set (core and plugin ones), unset ones left out."""
    filters = {
        "kind": opts["kind"],
        "after": opts["after"],
        "before": opts["before"],
        "camera": opts["camera"],
        "labels": list(opts["labels"]),
        "under": _abs(opts["under"]),
        "has_speech": opts["has_speech"],
        "motion_parts": opts["motion_parts"],
        "text": opts["text"],
        "rating": opts["rating"],
        "keywords": list(opts["keywords"]),
        "min_counts": _counts(opts["min_counts"]),
        "gps": opts["gps"],
        **{key[len(PLUGIN_PREFIX) :]: value for key, value in opts.items() if key.startswith(PLUGIN_PREFIX)},
    }
    return {k: v for k, v in filters.items() if not (v is None or v is False or v == [] or v == {})}


def _search(library: Library, query: str | None, image: str | None, filters: dict[str, Any],
            opts: dict[str, Any]) -> SearchResults:  # fmt: skip
    """The hits; a bad query or filter exits 2, nothing to search yet 3."""
    try:
        return library.search(
            query,
            image=image,
            limit=opts["limit"],
            min_score=opts["min_score"],
            space=opts["space"],
            hybrid=False if opts["no_hybrid"] else None,
            sort=opts["sort"],
            show_all=opts["show_all"],
            expand_stacks=opts["expand_stacks"],
            **filters,
        )
    except (QueryError, FilterError) as exc:
        raise UsageError(str(exc)) from exc
    except NoVectorsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except ChroniconError as exc:
        fail(exc)


def _run(state: AppState, query: str | None, image: str | None, opts: dict[str, Any]) -> None:
    """What `search` and `similar` share: search, then print the hits as JSON, paths or a table."""
    if opts["as_json"] or opts["paths_only"] or opts["moments"]:
        state.quiet()
    library = state.library()
    started = time.perf_counter()
    filters = _filters(opts)
    hits = _search(library, query, image, filters, opts)
    seconds = time.perf_counter() - started
    if opts["as_json"]:
        print_json(
            stamp(
                {
                    "query": query,
                    "image": image,
                    "space": hits.space,
                    "filters": filters,
                    "seconds": round(seconds, 4),
                    "hidden": hits.hidden,
                    "cutoff": hits.cutoff,
                    "results": [h.to_json() for h in hits],
                }
            )
        )
        return
    if opts["paths_only"] or opts["moments"]:
        _print_paths(hits, moments=opts["moments"], end=b"\0" if opts["null"] else b"\n")
        return
    if not hits:
        more = f"; {hits.hidden} weak match{'es' * (hits.hidden != 1)} hidden (--all shows them)" if hits.hidden else ""
        click.echo(f"no matches{more}", err=True)
        return
    _print_table(hits, seconds)


def _print_table(hits: SearchResults, seconds: float) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("file", overflow="fold")
    table.add_column("why", style="dim", overflow="fold")
    for hit in hits:
        score = "" if hit.score is None else f"{hit.score:.3f}"
        stack = [f"{hit.stack['label']}, {hit.stack['size']} files"] if hit.stack else []
        why = "; ".join(stack + hit.why) + ("; weak match" if hit.weak else "")
        table.add_row(str(hit.rank), score, Text(where(hit)), Text(why))
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(table)
    hidden = f"; {hits.hidden} weak match{'es' * (hits.hidden != 1)} hidden (--all shows them)" if hits.hidden else ""
    console.print(Text(f"{len(hits)} results in {seconds:.2f}s from {hits.space}{hidden}", style="dim"))


@click.command()
@click.argument("query", required=False, callback=query_text)
@click.option("--image", type=click.Path(dir_okay=False), help="Also (or only) search by this photo's look.")
@filter_options
@click.pass_obj
def search(state: AppState, /, query: str | None, image: str | None, **opts: Any) -> None:
    """Find photos and videos by what they show.

    \b
    QUERY is plain language: "dog jumping into a lake". Combine concepts with + and -
    (spaces around them): "beach + sunset - people"; a query that starts with "-" goes after "--".
    Results show the score (cosine similarity in the search space) and why they matched; hybrid
    search also matches the words against labels. Exit codes: 0 ok (even with no matches), 2 bad
    query or filter, 3 nothing to search yet or the image cannot be read.

    \b
    Examples:
      chronicon search "birthday cake" --after 2023 --kind image
      chronicon search "cat" --label sofa -f | xargs -d '\\n' feh
      chronicon search --image query.jpg --camera pixel --json
    """
    if not query and not image:
        raise UsageError("give a QUERY, --image PATH, or both")
    _run(state, query, image, opts)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@filter_options
@click.pass_obj
def similar(state: AppState, /, path: str, **opts: Any) -> None:
    """Photos and videos that look like PATH (which need not be in the catalog)."""
    _run(state, None, path, opts)


def _counts(values: Sequence[str]) -> dict[str, int]:
    try:
        return parse_min_counts(values)
    except FilterError as exc:
        raise UsageError(str(exc)) from exc


def _abs(path: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(path)) if path else None


__all__: Sequence[str] = ["add_plugin_filter_options", "search", "similar"]
