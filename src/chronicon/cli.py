"""The `chronicon` command line: a thin click layer over `Library` that owns exit codes and output."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

import click
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from chronicon import __version__, logs
from chronicon.config import read_layers
from chronicon.errors import CatalogError, CatalogLockedError, ChroniconError, ConfigError
from chronicon.library import Library
from chronicon.plugins import PluginHost
from chronicon.scan.summary import ScanSummary
from chronicon.schemas import stamp
from chronicon.types import Change

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3


class UsageError(click.ClickException):
    """A usage or config error: exit code 2."""

    exit_code = EXIT_USAGE


class CannotRun(click.ClickException):
    """The catalog is locked by another scan or cannot be opened: exit code 3."""

    exit_code = EXIT_CANNOT_RUN


@dataclass
class AppState:
    """What the group options set up for every command."""

    config_file: str | None
    overrides: dict[str, Any]
    host: PluginHost | None
    log_level: str = "info"

    def quiet(self) -> None:
        """Only warnings and errors on stderr from here on (`-q`, `--json`, `-f`): results stay parseable."""
        logs.configure(self.log_level, quiet=True)

    def library(self) -> Library:
        try:
            return Library(config_file=self.config_file, overrides=self.overrides, plugin_host=self.host)
        except ConfigError as exc:
            raise UsageError(str(exc)) from exc
        except CatalogError as exc:
            raise CannotRun(str(exc)) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return os.fsdecode(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def _fail(exc: ChroniconError) -> NoReturn:
    if isinstance(exc, ConfigError):
        raise UsageError(str(exc)) from exc
    raise CannotRun(str(exc)) from exc


# -- progress -------------------------------------------------------------------------------------------
class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} files/s" if speed else "", style="cyan")


class RichProgress:
    """A ScanProgress drawn with rich on stderr: one bar per stage (discover, analyse, ...)."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_task()
        self.bar.stop()

    def _close_task(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[-1]
            self.bar.update(self.task, total=task.completed)
            self.task = None

    def stage(self, name: str, total: int | None) -> None:
        self._close_task()
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def detail(self, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=text)


# -- the group ------------------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="chronicon")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="CHRONICON_CONFIG",
    help="Config file (default: ~/.config/chronicon/config.yaml if it exists).",
)
@click.option("--catalog", type=click.Path(file_okay=False), help="Catalog folder (overrides the `catalog` key).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Library log level.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, catalog: str | None, log_level: str | None) -> None:
    """Chronicon indexes photo and video folders into a searchable catalog.

    \b
    Typical use:
      chronicon scan ~/Pictures ~/Videos     # index (incremental: unchanged files cost nothing)
      chronicon search "dog in the snow"     # semantic search (see chronicon search --help)
      chronicon similar ~/Pictures/a.jpg     # photos that look like this one
      chronicon transcript talk.mp4 --format srt   # what is said in a video, with times
      chronicon stats                        # what the catalog holds
      chronicon info ~/Pictures/IMG_0001.JPG # everything known about one file

    Exit codes: 0 all good, 1 some files failed, 2 usage or config error, 3 the catalog is locked by
    another scan or cannot be opened, read or written, 4 an unexpected internal error.
    """
    overrides: dict[str, Any] = {}
    if catalog:
        overrides["catalog"] = catalog
    if log_level:
        overrides["log_level"] = log_level
    host = ctx.obj if isinstance(ctx.obj, PluginHost) else None
    level = log_level
    if level is None:
        try:
            raw = read_layers(config_file).raw("log_level")
            level = raw if isinstance(raw, str) else "info"
        except ConfigError:
            level = "info"
    ctx.obj = AppState(config_file, overrides, host, level)
    logs.configure(level)


# -- scan -----------------------------------------------------------------------------------------------
@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(file_okay=False, exists=True))
@click.option("--full", is_flag=True, help="Re-run every pass on every file, changed or not.")
@click.option("--retry-errors", is_flag=True, help="Retry files that failed before even if they did not change.")
@click.option("--include", multiple=True, help="Only paths matching this glob (relative to the root; repeatable).")
@click.option("--exclude", multiple=True, help="Leave out paths matching this glob (repeatable).")
@click.option("--workers", type=int, help="Worker threads (0 = one per core).")
@click.option("--batch-size", type=int, help="Assets per catalog write.")
@click.option("--device", help="Device of every ML pass: auto, cpu, cuda, cuda:N or mps (overrides <pass>.device).")
@click.option(
    "--sampling",
    metavar="MODE",
    help="Video frame sampling: shots (cut detection), uniform:N (N evenly spaced frames) or fps:F (F per second).",
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
    sampling: str | None,
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
    library = state.library()
    if device:
        for cls in library.analyzer_classes:
            if "device" in cls.settings:
                state.overrides[f"{cls.name}.device"] = device
        library = state.library()
    console = Console(stderr=True)
    show_bar = not quiet and not as_json and console.is_terminal
    try:
        if show_bar:
            with RichProgress(console) as progress:
                summary = library.scan(roots or None, full=full, retry_errors=retry_errors, progress=progress)
        else:
            summary = library.scan(roots or None, full=full, retry_errors=retry_errors)
    except CatalogLockedError as exc:
        raise CannotRun(str(exc)) from exc
    except ChroniconError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo("interrupted: every finished batch is saved; run the same scan again to resume", err=True)
        sys.exit(130)
    if as_json:
        _print_json(stamp(summary.to_dict()))
    elif quiet:
        _print_quiet(summary)
    else:
        _print_summary(summary)
    sys.exit(summary.exit_code)


def _sampling_overrides(text: str) -> dict[str, Any]:
    """`shots`, `uniform:N` or `fps:F` -> the `shots.*` config keys."""
    mode, _, value = text.partition(":")
    try:
        if mode == "shots" and not value:
            return {"shots.mode": "shots"}
        if mode == "uniform" and value:
            return {"shots.mode": "uniform", "shots.count": int(value)}
        if mode == "fps" and value:
            return {"shots.mode": "fps", "shots.fps": float(value)}
    except ValueError:
        pass
    raise UsageError(f"--sampling {text!r}: use shots, uniform:N (e.g. uniform:8) or fps:F (e.g. fps:0.5)")


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
        console.print(passes)
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


# -- info / stats ---------------------------------------------------------------------------------------
_INFO_HIDDEN = ("path_raw", "phases")


def catalog_row(state: AppState, path: str) -> dict[str, Any]:
    """The catalog row of a file given on the command line, or a usage error that says to scan it first."""
    library = state.library()
    try:
        row = library.info(path)
    except ChroniconError as exc:
        _fail(exc)
    if row is None:
        raise UsageError(f"{path} is not in the catalog {library.catalog_dir} (scan its folder first)")
    return row


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the catalog row as JSON.")
@click.pass_obj
def info(state: AppState, path: str, as_json: bool) -> None:
    """Everything the catalog knows about one file."""
    row = dict(catalog_row(state, path))
    row["phases"] = json.loads(row["phases"]) if row.get("phases") else {}
    if as_json:
        row.pop("path_raw", None)
        _print_json(stamp(row))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in row.items():
        if key in _INFO_HIDDEN or value is None or value == []:
            continue
        table.add_row(key, Text(str(value)))
    for name, record in row["phases"].items():
        line = f"{record.get('status')} (v{record.get('version')}, {record.get('at')})"
        if record.get("error"):
            line += f": {record['error']}"
        table.add_row(f"pass {name}", Text(line))
    Console().print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def stats(state: AppState, as_json: bool) -> None:
    """What the catalog holds: assets by kind and status, bytes, video hours."""
    library = state.library()
    try:
        data = library.stats()
    except ChroniconError as exc:
        _fail(exc)
    if as_json:
        _print_json(stamp(data))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        if key == "vectors":
            for space, info in value.items():
                index = info.get("index") or "exact search"
                table.add_row(f"vectors {space}", f"{info.get('rows')} x {info.get('dim')}-d ({index})")
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        table.add_row(key, str(value))
    Console().print(table)


# -- config ---------------------------------------------------------------------------------------------
@cli.group("config")
def config_group() -> None:
    """Show the effective configuration."""


@config_group.command("show")
@click.option("--origin", is_flag=True, help="Show which layer (default, file, env, cli) set each key.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def config_show(state: AppState, origin: bool, as_json: bool) -> None:
    """Print the merged config (defaults < file < environment < flags)."""
    library = state.library()
    config = library.config
    if as_json:
        data: Any = (
            {k: {"value": config[k], "origin": config.origins[k]} for k in config} if origin else config.nested()
        )
        _print_json(data)
        return
    if origin:
        for key in config:
            click.echo(f"{key} = {json.dumps(config[key])}    # {config.origins[key]}")
        return
    files = ", ".join(str(p) for p in config.files) or "none"
    click.echo(f"# config files: {files}")
    click.echo(yaml.safe_dump(config.nested(), sort_keys=True, allow_unicode=True).rstrip())


# -- doctor / plugins -----------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--no-load", is_flag=True, help="Do not load the models (quick: only check that they are installed).")
@click.pass_obj
def doctor(state: AppState, as_json: bool, no_load: bool) -> None:
    """Python and library versions, devices, optional parts, catalog and plugin health.

    Every configured pass loads its models once and says whether they work, run degraded (a part could not
    load, e.g. the detector of `tags`) or cannot load, and why."""
    library = state.library()
    report = library.doctor(load_models=not no_load)
    if as_json:
        _print_json(report)
        return
    console = Console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name, version in report["versions"].items():
        table.add_row(name, version)
    table.add_row("platform", report["platform"])
    table.add_row("executable", report["executable"])
    for name, value in report["devices"].items():
        table.add_row(f"device: {name}", str(value))
    table.add_row("HEIC/HEIF", report["heif"])
    runtime = report.get("runtime", {})
    if "backends" in runtime:
        table.add_row("ML device", f"{runtime.get('device')} (torch {runtime.get('torch')})")
        for name, info in runtime["backends"].items():
            mark = "[green]available[/green]" if info["available"] else f"[dim]no: {info['reason']}[/dim]"
            table.add_row(f"backend: {name}", mark)
    elif runtime:
        table.add_row("ML runtime", f"[dim]{runtime.get('reason')}[/dim]")
    for name, readiness in report.get("passes", {}).items():
        table.add_row(f"pass: {name}", Text(readiness))
    for name, part in report["optional"].items():
        mark = "[green]installed[/green]" if part["installed"] else "[dim]not installed[/dim]"
        table.add_row(f"optional: {name}", f"{mark} - {part['for']}")
    table.add_row(
        "catalog",
        f"{report['catalog']['path']} ({'exists' if report['catalog']['exists'] else 'not created yet'})",
    )
    console.print(table)
    for problem in report["plugin_problems"]:
        console.print(Text(f"plugin problem: {problem}", style="yellow"))


@cli.group("plugins")
def plugins_group() -> None:
    """Inspect plugins (built-ins, entry points, plugin folders)."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def plugins_list(state: AppState, as_json: bool) -> None:
    """Name, version, source, hooks and whether each plugin is enabled."""
    library = state.library()
    infos = library.plugins.infos
    if as_json:
        _print_json(
            {
                "plugins": [vars(i) for i in infos],
                "problems": [str(p) for p in library.plugins.problems],
            }
        )
        return
    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table()
    for col in ("name", "version", "enabled", "source"):
        table.add_column(col, no_wrap=True)
    table.add_column("hooks (chronicon_…)", overflow="fold")
    for i in infos:
        hooks = ", ".join(h.removeprefix("chronicon_") for h in i.hooks)
        table.add_row(i.name, i.version, "yes" if i.enabled else "no", i.source, hooks)
    console.print(table)
    for problem in library.plugins.problems:
        console.print(Text(f"problem: {problem}", style="yellow"))


# -- search ---------------------------------------------------------------------------------------------
from chronicon.cli_catalog import register_catalog_commands  # noqa: E402
from chronicon.cli_eval import register_eval_commands  # noqa: E402
from chronicon.cli_search import register_search_commands  # noqa: E402 - needs the group defined above
from chronicon.cli_serve import register_serve_command  # noqa: E402
from chronicon.cli_video import register_caption_command, register_video_commands  # noqa: E402

register_search_commands(cli)
register_serve_command(cli)
register_video_commands(cli)
register_eval_commands(cli)
register_caption_command(cli)
register_catalog_commands(cli)


# -- entry point ----------------------------------------------------------------------------------------
def _preparse_config_file(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return os.environ.get("CHRONICON_CONFIG") or None


def load_plugin_commands(argv: Sequence[str]) -> PluginHost | None:
    """Load plugins before click parses, so plugin commands appear in --help; problems are reported later."""
    try:
        layers = read_layers(_preparse_config_file(argv))
    except ConfigError:
        return None  # the command itself reports the config error with exit code 2
    host = PluginHost()
    paths = layers.raw("plugins.paths") or []
    disabled = layers.raw("plugins.disabled") or []
    host.load(
        paths=[p for p in paths if isinstance(p, str)] if isinstance(paths, list) else [],
        disabled=[d for d in disabled if isinstance(d, str)] if isinstance(disabled, list) else [],
    )
    host.call("chronicon_register_commands", cli=cli)
    from chronicon.cli_search import add_plugin_filter_options

    add_plugin_filter_options(cli, *host.search_extensions())
    return host


EXIT_INTERNAL = 4


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: whatever escapes a command becomes one line and a documented exit code
    (the traceback only with --log-level debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        host = load_plugin_commands(args)
        cli.main(args=args, prog_name="chronicon", obj=host)
    except BrokenPipeError:  # `chronicon search ... -f | head`: the reader left, nothing is wrong
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        sys.exit(EXIT_OK)
    except Exception as exc:
        code, message = describe_failure(exc)
        if _debugging(args):
            traceback.print_exc()
        click.echo(f"error: {message}", err=True)
        if not _debugging(args):
            click.echo("(run with --log-level debug for the traceback)", err=True)
        sys.exit(code)


def _debugging(args: Sequence[str]) -> bool:
    return "debug" in [a.split("=", 1)[-1] for a in args if a.startswith("--log-level")] + [
        args[i + 1] for i, a in enumerate(args[:-1]) if a == "--log-level"
    ] or logging.getLogger().isEnabledFor(logging.DEBUG)


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and one-line message for an error that reached the entry point."""
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, ChroniconError):
        return EXIT_CANNOT_RUN, str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        advice = {
            errno.ENOSPC: "the disk is full: free some space and run the same command again (nothing is lost)",
            errno.EDQUOT: "the disk quota is used up: free some space and run the same command again",
            errno.EROFS: "the file system is read-only: use a writable catalog folder (--catalog)",
            errno.EACCES: "permission denied: check the owner and mode of the catalog folder",
            errno.EPERM: "operation not permitted: check the owner and mode of the catalog folder",
        }.get(exc.errno or 0, "a storage error")
        return EXIT_CANNOT_RUN, f"{advice}{where}: {exc.strerror or exc}"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "lance" in text.lower() or "arrow" in type(exc).__module__:
        return EXIT_CANNOT_RUN, (
            f"the catalog could not be read or written ({first[:300]}); "
            "`chronicon catalog check` finds the damaged table and `chronicon catalog restore` goes back to its "
            "last good version"
        )
    return EXIT_INTERNAL, f"unexpected {type(exc).__name__}: {first[:300]} (a bug: please report it)"


if __name__ == "__main__":  # pragma: no cover
    main()
