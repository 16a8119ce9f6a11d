"""The `chronicon people` commands: list, show, name, merge and recluster the people found in faces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from chronicon.api import AppState, CannotRun, CatalogLockedError, Library, ScanLock, UsageError, print_json

from . import cluster, people
from .models import missing
from .store import Person


def _library(state: AppState) -> Library:
    problem = missing()
    if problem:
        raise CannotRun(problem)
    return state.library()


@contextmanager
def _locked(library: Library) -> Iterator[None]:
    """Hold the catalog's scan lock for a write, waiting up to 2 s (exit 3 while a scan holds it)."""
    lock = ScanLock(library.catalog_dir)
    try:
        lock.acquire(wait=2.0)
    except CatalogLockedError as exc:
        raise CannotRun(str(exc)) from exc
    with lock:
        yield


def _person(library: Library, value: str) -> Person:
    try:
        return people.find(library.catalog, value)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from exc


def _time(seconds: Any) -> str:
    if seconds is None:
        return ""
    whole = float(seconds)
    return f"{int(whole // 60)}:{whole % 60:04.1f}"


@click.group("people")
def people_group() -> None:
    """People found by the faces pass: list them, name them, merge them, search by them.

    \b
    Examples:
      chronicon people list
      chronicon people name 3 Alice
      chronicon people merge Alice 7 12
      chronicon people show Alice
      chronicon search "beach" --person Alice
    """


@people_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also people with fewer faces than faces.min_faces.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Show at most N people (default: all)."
)
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Skip the first N people (with --limit: pages).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_cmd(state: AppState, show_all: bool, limit: int | None, offset: int, as_json: bool) -> None:
    """List people, most faces first: id, name, faces, assets and an example file.

    Reads only the people table (its counts are kept by clustering), so a page is quick at any size.

    \b
    Examples:
      chronicon people list --json
      chronicon people list --limit 50 --offset 100
    """
    library = _library(state)
    _, min_faces = people.settings(library.config)
    page = people.summaries(library.catalog, min_faces=1 if show_all else min_faces, limit=limit, offset=offset)
    found = page.people
    if as_json:
        print_json([s.to_json() for s in found])
        return
    if not found:
        if page.total:
            click.echo(f"no people from {offset}: there are {page.total}")
            return
        click.echo("no people yet: scan photos with faces (the faces pass), then run this again")
        return
    shown = (
        f"{page.total} people"
        if len(found) == page.total
        else f"{offset + 1}-{offset + len(found)} of {page.total} people"
    )
    table = Table(title=shown)
    for column, justify in (("id", "right"), ("name", "left"), ("faces", "right"), ("assets", "right"),
                            ("example", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in found:
        table.add_row(str(s.person.id), s.person.label, str(s.faces), str(s.assets), s.example or "")
    Console().print(table)


@people_group.command("show")
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show_cmd(state: AppState, person: str, as_json: bool) -> None:
    """Show the files where PERSON (a name or an id) appears, with the times in videos.

    \b
    Example:
      chronicon people show Alice
    """
    library = _library(state)
    chosen = _person(library, person)
    shown = people.appearances(library.catalog, chosen)
    if as_json:
        print_json({"id": chosen.id, "name": chosen.name, "label": chosen.label, "assets": shown})
        return
    table = Table(title=f"{chosen.label}: {len(shown)} files")
    table.add_column("path")
    table.add_column("kind")
    table.add_column("faces", justify="right")
    table.add_column("times")
    for asset in shown:
        times = ", ".join(f"{_time(f['t'])}-{_time(f['t_end'])}" for f in asset["faces"] if f.get("t") is not None)
        table.add_row(asset["path"], str(asset["kind"]), str(len(asset["faces"])), times)
    Console().print(table)


@people_group.command("name")
@click.argument("person")
@click.argument("name")
@click.pass_obj
def name_cmd(state: AppState, person: str, name: str) -> None:
    """Name PERSON (an id or the current name) NAME. A named person is never split by reclustering.

    \b
    Example:
      chronicon people name 3 "Alice Martin"
    """
    library = _library(state)
    clean = name.strip()
    if not clean or clean.lstrip("#").isdigit():
        raise UsageError(f"{name!r} cannot be a name (empty or a number, which reads as a person id)")
    with _locked(library):
        chosen = _person(library, person)
        try:
            other = people.find(library.catalog, clean)
        except LookupError:
            other = None
        if other is not None and other.id != chosen.id:
            raise UsageError(
                f"{clean!r} is already person #{other.id}; to make them one: chronicon people merge {other.id} "
                f"{chosen.id}"
            )
        cluster.rename(library.catalog, chosen, clean)
    click.echo(f"person #{chosen.id} is now {clean}")


@people_group.command("merge")
@click.argument("person")
@click.argument("others", nargs=-1, required=True)
@click.pass_obj
def merge_cmd(state: AppState, person: str, others: tuple[str, ...]) -> None:
    """Merge OTHERS into PERSON (names or ids): their faces become PERSON's. PERSON keeps its name, else
    takes the first other name.

    \b
    Example:
      chronicon people merge Alice 7 12
    """
    library = _library(state)
    with _locked(library):
        target = _person(library, person)
        rest = [_person(library, value) for value in others]
        merged = cluster.merge(library.catalog, target, rest)
    click.echo(f"merged {len({p.id for p in rest} - {target.id})} into {merged.label} ({merged.face_count} faces)")


@people_group.command("recluster")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def recluster_cmd(state: AppState, as_json: bool) -> None:
    """Rebuild the unnamed people from their faces (faces.cluster_distance); named people are kept.

    \b
    Example:
      CHRONICON_FACES__CLUSTER_DISTANCE=0.45 chronicon people recluster
    """
    library = _library(state)
    distance, min_faces = people.settings(library.config)
    with _locked(library):
        report = cluster.update(library.catalog, distance=distance, min_faces=min_faces, rebuild=True)
    if as_json:
        print_json(report.to_json())
    else:
        click.echo(
            f"{report.faces} faces: {report.new_people} people from {report.new_faces} faces, "
            f"{report.kept} kept with named people, {report.joined} joined them, {report.unassigned} left over"
        )
