"""The `catalog check` and `catalog restore` commands: find damaged tables, go back to their last good version."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chronicon.api.cli import EXIT_CANNOT_RUN, AppState, CannotRun, UsageError, print_json
from chronicon.catalog import health
from chronicon.catalog.lock import ScanLock
from chronicon.errors import ChroniconError
from chronicon.schemas import stamp
from chronicon.types import Phase

_STATE_STYLE = {"ok": "green", "damaged": "red", "half-created": "yellow"}


@click.group("catalog")
def catalog_group() -> None:
    """Check the catalog's tables for damage and restore a table's last good version."""


@catalog_group.command("check")
@click.option("--quick", is_flag=True, help="Only open and count each table (default: read every row).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def check(state: AppState, quick: bool, as_json: bool) -> None:
    """Read every table of the catalog whole and say which are damaged and which version reads.

    Exit code 0 when every table reads, 3 when one is damaged (then `chronicon catalog restore` goes back
    to its last good version). Half-created tables (a crash or a full disk stopped their creation) hold
    nothing and are removed by the next command that opens the catalog."""
    folder = _local_folder(state.library(), "check")
    try:
        reports = health.check(folder, deep=not quick)
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    bad = health.damaged(reports)
    if as_json:
        print_json(stamp({"catalog": str(folder), "ok": not bad, "tables": [r.to_dict() for r in reports]}))
    else:
        _print_report(str(folder), reports)
    sys.exit(EXIT_CANNOT_RUN if bad else 0)


@catalog_group.command("restore")
@click.option("--table", "tables", multiple=True, help="The table to restore (repeatable; default: every damaged one).")
@click.option("--version", type=click.IntRange(min=1), help="The version to go back to (default: the last good one).")
@click.option(
    "--drop", is_flag=True, help="Drop a vector table that has no good version (the next scan re-creates it)."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_obj
def restore(
    state: AppState, tables: tuple[str, ...], version: int | None, drop: bool, yes: bool, as_json: bool
) -> None:
    """Make the last good version of damaged tables the latest again (a new commit: nothing is deleted).

    What was committed after that version is gone from the table; the next `chronicon scan` redoes it:
    vectors of assets the restored table no longer has are dropped, and assets whose vectors went back in
    time are analysed again. Takes the scan lock, so no scan may run meanwhile."""
    library = state.library()
    folder = _local_folder(library, "restore")
    if version is not None and len(tables) != 1:
        raise UsageError("--version needs exactly one --table")
    if drop and not tables:
        raise UsageError("--drop needs --table (the vector table to drop)")
    try:
        targets = list(tables) or [r.table for r in health.damaged(health.check(folder))]
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    if not targets:
        click.echo(f"every table of {folder} reads whole: nothing to restore", err=True)
        return
    what = "drop" if drop else (f"restore version {version} of" if version else "restore the last good version of")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"this would {what} {', '.join(targets)}: add --yes to do it without a prompt")
        click.confirm(f"{what} {', '.join(targets)} in {folder}?", abort=True, err=True)
    # Vector tables first, so the assets table's restore prunes against their restored rows.
    targets.sort(key=lambda name: health.role_of(name) != "vectors")
    ml = {c.name for c in library.plugins.analyzer_classes() if c.phase == Phase.ML}
    done = _restore_tables(folder, targets, version, drop=drop, ml_passes=ml, quiet=as_json)
    if as_json:
        print_json({"catalog": str(folder), "restored": done})
    elif done:
        click.echo("run `chronicon scan` to redo what the restored tables lost", err=True)


def _local_folder(library: Any, command: str) -> Path:
    """The catalog folder; `check` and `restore` walk table folders on this machine, so not an s3:// catalog."""
    location = library.catalog_location
    if location.remote:
        raise CannotRun(
            f"`chronicon catalog {command}` works on a local catalog folder only; {location.uri} is on object "
            "storage (LanceDB keeps its versions there too: copy the prefix to a folder with `aws s3 sync` and "
            "run it on the copy)"
        )
    return Path(library.catalog_dir)


def _restore_tables(folder: Path, targets: list[str], version: int | None, *, drop: bool, ml_passes: set[str],
                    quiet: bool) -> list[dict[str, Any]]:  # fmt: skip
    """Restore (or drop) each table under the scan lock, saying what was done unless quiet."""
    done: list[dict[str, Any]] = []
    try:
        with ScanLock(folder):
            for name in targets:
                result = health.restore(folder, name, version, drop=drop, ml_passes=ml_passes)
                done.append(result.to_dict())
                if not quiet:
                    click.echo(_restored_line(result), err=True)
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    return done


def _restored_line(result: Any) -> str:
    if result.dropped:
        line = f"dropped {result.table} ({result.rows_before if result.rows_before is not None else '?'} rows)"
    else:
        line = (
            f"restored {result.table} to version {result.to_version} ({result.rows_after} rows; "
            f"the damaged version had {result.rows_before if result.rows_before is not None else 'unreadable rows'})"
        )
    if result.vectors_pruned:
        line += "; removed vectors of assets it no longer has: " + ", ".join(
            f"{table} {rows}" for table, rows in result.vectors_pruned.items()
        )
    if result.assets_to_redo:
        line += f"; {result.assets_to_redo} assets will be analysed again by the next scan"
    return line


def _print_report(folder: str, reports: list[Any]) -> None:
    console = Console()
    table = Table(title=f"Catalog {folder}", title_justify="left")
    for col in ("table", "holds", "state", "version", "rows", "versions kept", "last good version"):
        table.add_column(col, justify="right" if col in ("version", "rows", "versions kept") else "left")
    for r in reports:
        good = "-"
        if r.state == "damaged":
            good = f"{r.last_good} ({r.last_good_rows} rows, {r.last_good_at})" if r.last_good else "none kept"
        table.add_row(
            r.table,
            r.role,
            Text(r.state, style=_STATE_STYLE.get(r.state, "")),
            str(r.version) if r.version is not None else "-",
            str(r.rows) if r.rows is not None else "-",
            str(r.versions_kept),
            good,
        )
    console.print(table)
    for r in reports:
        if r.problem:
            console.print(Text(f"  {r.table}: {r.problem}", style=_STATE_STYLE.get(r.state, "")), soft_wrap=True)
    bad = [r for r in reports if r.state == "damaged"]
    if bad:
        restorable = [r.table for r in bad if r.last_good is not None]
        if restorable:
            console.print(
                f"run `chronicon catalog restore` to go back to the last good version of {', '.join(restorable)}"
            )
        for r in bad:
            if r.last_good is None and r.role == "vectors":
                console.print(
                    f"{r.table} has no good version left: `chronicon catalog restore --table {r.table} --drop`"
                )
            elif r.last_good is None:
                console.print(f"{r.table} has no good version left: move the catalog folder aside and scan again")
