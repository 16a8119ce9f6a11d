"""The core commands over the catalog and the setup: `info`, `stats`, `config show`, `doctor`, `plugins list`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chronicon.api.cli import AppState, UsageError, fail, print_json
from chronicon.errors import ChroniconError
from chronicon.schemas import stamp

_INFO_HIDDEN = ("path_raw", "phases", "ocr_lines")  # (ocr_text shows what was read; --json has the boxes)


def catalog_row(state: AppState, path: str) -> dict[str, Any]:
    """The catalog row of a file given on the command line, or a usage error that says to scan it first."""
    library = state.library()
    try:
        row = library.info(path)
    except ChroniconError as exc:
        fail(exc)
    if row is None:
        raise UsageError(f"{path} is not in the catalog {library.catalog_location.uri} (scan its folder first)")
    return row


# -- info / stats ---------------------------------------------------------------------------------------
@click.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the catalog row as JSON.")
@click.pass_obj
def info(state: AppState, path: str, as_json: bool) -> None:
    """Everything the catalog knows about one file."""
    row = dict(catalog_row(state, path))
    row["phases"] = json.loads(row["phases"]) if row.get("phases") else {}
    row["stack"] = state.library().stack_of(row)  # the RAW + JPEG pair, burst or Live Photo it belongs to
    if as_json:
        row.pop("path_raw", None)
        print_json(stamp(row))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in row.items():
        if key in _INFO_HIDDEN or value is None or value == []:
            continue
        if key == "stack":
            names = [m["path"] + (" (shown)" if m["cover"] else "") for m in value["members"]]
            value = f"{value['label']}, {value['size']} files: " + ", ".join(names)
        table.add_row(key, Text(str(value)))
    for name, record in row["phases"].items():
        line = f"{record.get('status')} (v{record.get('version')}, {record.get('at')})"
        if record.get("error"):
            line += f": {record['error']}"
        table.add_row(f"pass {name}", Text(line))
    (Console() if sys.stdout.isatty() else Console(width=160)).print(table)  # (piped: long paths stay whole)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def stats(state: AppState, as_json: bool) -> None:
    """What the catalog holds: assets by kind and status, bytes, video hours."""
    library = state.library()
    try:
        data = library.stats()
    except ChroniconError as exc:
        fail(exc)
    if as_json:
        print_json(stamp(data))
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in data.items():
        if key == "vectors":
            for space, details in value.items():
                index = details.get("index") or "exact search"
                table.add_row(f"vectors {space}", f"{details.get('rows')} x {details.get('dim')}-d ({index})")
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        table.add_row(key, str(value))
    Console().print(table)


# -- config ---------------------------------------------------------------------------------------------
@click.group("config")
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
        print_json(data)
        return
    if origin:
        for key in config:
            click.echo(f"{key} = {json.dumps(config[key])}    # {config.origins[key]}")
        return
    files = ", ".join(str(p) for p in config.files) or "none"
    click.echo(f"# config files: {files}")
    click.echo(yaml.safe_dump(config.nested(), sort_keys=True, allow_unicode=True).rstrip())


# -- doctor / plugins -----------------------------------------------------------------------------------
@click.command()
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
        print_json(report)
        return
    console = Console()
    console.print(_doctor_table(report))
    for problem in report["plugin_problems"]:
        console.print(Text(f"plugin problem: {problem}", style="yellow"))


def _doctor_table(report: dict[str, Any]) -> Table:
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
        for name, backend in runtime["backends"].items():
            mark = "[green]available[/green]" if backend["available"] else f"[dim]no: {backend['reason']}[/dim]"
            table.add_row(f"backend: {name}", mark)
    elif runtime:
        table.add_row("ML runtime", f"[dim]{runtime.get('reason')}[/dim]")
    for name, readiness in report.get("passes", {}).items():
        table.add_row(f"pass: {name}", Text(readiness))
    for choice in report.get("models", []):
        batch = f", batch {choice['batch_size']}" if choice.get("batch_size") else ""
        owner = f"{choice['pass_name']}: " if choice.get("pass_name") else ""
        text = f"{choice['backend']} {choice['precision']} on {choice['device']}{batch} ({choice['reason']})"
        table.add_row(f"model: {owner}{choice['model']}", Text(text))
    for name, part in report["optional"].items():
        mark = "[green]installed[/green]" if part["installed"] else "[dim]not installed[/dim]"
        table.add_row(f"optional: {name}", f"{mark} - {part['for']}")
    table.add_row(
        "catalog",
        f"{report['catalog']['path']} ({'exists' if report['catalog']['exists'] else 'not created yet'})",
    )
    return table


@click.group("plugins")
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
        print_json(
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
