"""The `scan` command: index folders into the catalog, with a progress bar and a summary."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chronicon.api.cli import AppState, CannotRun, UsageError, fail, print_json
from chronicon.cli.progress import RichProgress
from chronicon.errors import CatalogLockedError, ChroniconError
from chronicon.library import Library
from chronicon.runtime.backends import RUNTIME_PRECISIONS
from chronicon.scan.ray_engine import RAY_MISSING, ray_available
from chronicon.scan.summary import ScanSummary
from chronicon.schemas import stamp
from chronicon.types import Change


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False, exists=True))
@click.option("--full", is_flag=True, help="Re-run every pass on every file, changed or not.")
@click.option("--retry-errors", is_flag=True, help="Retry files that failed before even if they did not change.")
@click.option("--include", multiple=True, help="Only paths matching this glob (relative to the root; repeatable).")
@click.option("--exclude", multiple=True, help="Leave out paths matching this glob (repeatable).")
@click.option("--workers", type=int, help="Worker threads (0 = one per core).")
@click.option("--batch-size", type=int, help="Assets per catalog write.")
@click.option("--device", help="Device of every ML pass: auto, cpu, cuda, cuda:N or mps (overrides <pass>.device).")
@click.option(
    "--precision",
    type=click.Choice(RUNTIME_PRECISIONS),
    help="Precision of every ML pass's models (overrides <pass>.precision); a model that cannot run it says so "
    "in `scan --json` and `doctor` and runs its automatic one.",
)
@click.option(
    "--sampling",
    metavar="MODE",
    help="Video frame sampling: shots (cut detection by the configured detector), shots:accurate (TransNetV2: fades, "
    "dissolves), shots:fast (keyframe histograms), uniform:N (N evenly spaced frames) or fps:F (F per second).",
)
@click.option(
    "--engine",
    type=click.Choice(("local", "ray")),
    help="What runs the per-file work: local (this process's worker threads, the default) or ray (a Ray Data "
    "pipeline on `scan.ray_address`, or a Ray of its own here; needs pip install 'chronicon[ray]'). The catalog "
    "is written by this process either way (overrides scan.engine).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; print only the summary line and failures.")
@click.pass_obj
def scan(
    state: AppState,
    roots: Sequence[str],
    full: bool,
    retry_errors: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    workers: int | None,
    batch_size: int | None,
    device: str | None,
    precision: str | None,
    sampling: str | None,
    engine: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Scan ROOTS (default: the configured `roots`) into the catalog.

    New, changed and moved files are analysed; unchanged ones cost a stat() each. Files that fail are
    reported with their reason and the scan goes on. An interrupted scan resumes where it stopped.
    """
    if quiet or as_json:
        state.quiet()
    if include:
        state.overrides["scan.include"] = list(include)
    if exclude:
        state.overrides["scan.exclude"] = list(exclude)
    if workers is not None:
        state.overrides["scan.workers"] = workers
    if batch_size is not None:
        state.overrides["scan.batch_size"] = batch_size
    if sampling:
        state.overrides.update(_sampling_overrides(sampling))
    if engine is not None:
        state.overrides["scan.engine"] = engine
    library = _library_on(state, device=device, precision=precision)
    if library.config["scan.engine"] == "ray" and not ray_available():
        raise UsageError(RAY_MISSING)
    show_bar = not quiet and not as_json and Console(stderr=True).is_terminal
    summary = _run_scan(library, roots, full=full, retry_errors=retry_errors, show_bar=show_bar)
    if as_json:
        print_json(stamp(summary.to_dict()))
    elif quiet:
        _print_quiet(summary)
    else:
        _print_summary(summary)
    sys.exit(summary.exit_code)


def _library_on(state: AppState, **runtime: str | None) -> Library:
    """The library, with `--device` / `--precision` set on every pass that has that runtime key."""
    library = state.library()
    wanted = {key: value for key, value in runtime.items() if value}
    if wanted:
        for cls in library.analyzer_classes:
            for key, value in wanted.items():
                if key in cls.settings:
                    state.overrides[f"{cls.name}.{key}"] = value
        library = state.library()
    return library


def _run_scan(library: Library, roots: Sequence[str], *, full: bool, retry_errors: bool, show_bar: bool) -> ScanSummary:
    """The scan, with a progress bar on a terminal; a locked catalog exits 3, Ctrl-C 130."""
    try:
        if show_bar:
            with RichProgress(Console(stderr=True)) as progress:
                return library.scan(roots or None, full=full, retry_errors=retry_errors, progress=progress)
        return library.scan(roots or None, full=full, retry_errors=retry_errors)
    except CatalogLockedError as exc:
        raise CannotRun(str(exc)) from exc
    except ChroniconError as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.echo("interrupted: every finished batch is saved; run the same scan again to resume", err=True)
        sys.exit(130)


def _sampling_overrides(text: str) -> dict[str, Any]:
    """`shots`, `uniform:N` or `fps:F` -> the `shots.*` config keys."""
    mode, _, value = text.partition(":")
    try:
        if mode == "shots" and not value:
            return {"shots.mode": "shots"}
        if mode == "shots" and value in ("fast", "accurate"):
            return {"shots.mode": "shots", "shots.detector": value}
        if mode == "uniform" and value:
            return {"shots.mode": "uniform", "shots.count": int(value)}
        if mode == "fps" and value:
            return {"shots.mode": "fps", "shots.fps": float(value)}
    except ValueError:
        pass
    raise UsageError(
        f"--sampling {text!r}: use shots, shots:fast, shots:accurate, uniform:N (e.g. uniform:8) or fps:F (e.g. fps:1)"
    )


def _summary_line(summary: ScanSummary) -> str:
    counts = ", ".join(f"{summary.counts[c.value]} {c.value}" for c in Change)
    return f"scanned {', '.join(summary.roots)}: {counts} ({summary.updated} re-analysed) in {summary.seconds:.1f}s"


def _print_quiet(summary: ScanSummary) -> None:
    click.echo(_summary_line(summary))
    for failure in summary.failures:
        click.echo(f"FAILED {failure}")
    for problem in summary.plugin_problems:
        click.echo(f"PLUGIN {problem}")


def _print_summary(summary: ScanSummary) -> None:
    console = Console()
    table = Table(title=f"Scan of {', '.join(summary.roots)}", title_justify="left")
    table.add_column("files")
    table.add_column("count", justify="right")
    for change in Change:
        style = "red" if change == Change.FAILED and summary.failed else ""
        table.add_row(change.value, str(summary.counts[change.value]), style=style)
    table.add_row("re-analysed (unchanged)", str(summary.updated))
    console.print(table)
    if summary.timings:
        console.print(_timings_table(summary))
    if summary.failures:
        console.print(f"[red]{len(summary.failures)} failure(s):[/red]")
        for failure in summary.failures:
            console.print(Text(f"  {failure}"), soft_wrap=True)
    for problem in summary.plugin_problems:
        console.print(Text(f"  plugin problem: {problem}", style="yellow"), soft_wrap=True)
    for note in summary.notes:
        console.print(Text(f"  note: {note}", style="dim"), soft_wrap=True)
    console.print(
        f"{summary.files_seen} files seen in {summary.seconds:.1f}s "
        f"(discovery {summary.discover_seconds:.1f}s); catalog: {summary.catalog}"
    )


def _timings_table(summary: ScanSummary) -> Table:
    passes = Table(title="Passes", title_justify="left")
    for col in ("pass", "files", "errors", "seconds (all workers)", "files/s per worker"):
        passes.add_column(col, justify="left" if col == "pass" else "right")
    for name, timing in summary.timings.items():
        passes.add_row(
            name,
            str(timing.items),
            str(timing.errors),
            f"{timing.seconds:.2f}",
            f"{timing.per_second:.1f}",
        )
    return passes
