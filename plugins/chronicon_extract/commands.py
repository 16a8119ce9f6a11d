"""The `chronicon extract` commands: run a schema on files now, export the catalog's results, check a schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from chronicon.api import (
    SNIFF_BYTES,
    AnalyzerContext,
    AppState,
    AssetItem,
    CannotRun,
    ChroniconError,
    Library,
    MediaError,
    ModelUnavailableError,
    UsageError,
    print_json,
    sniff_bytes,
)

from .extract_pass import ExtractPass, with_values
from .results import export_rows, rows_to_csv
from .schema import Schema, SchemaError, load_schema


def file_item(path: str) -> AssetItem:
    """An item for a file outside any scan (its kind from its bytes), or a MediaError saying why not."""
    real = os.path.abspath(os.path.expanduser(path))
    try:
        with open(real, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
            stat = os.fstat(fh.fileno())
    except FileNotFoundError as exc:
        raise MediaError("no such file") from exc
    except IsADirectoryError as exc:
        raise MediaError("a folder, not a photo or video") from exc
    except OSError as exc:
        raise MediaError(f"cannot read it: {exc.strerror or exc}") from exc
    sniffed = sniff_bytes(head)
    if sniffed is None:
        raise MediaError("not a recognised photo or video")
    return AssetItem("extract-run", real, sniffed.kind, sniffed.format, stat.st_size, stat.st_mtime_ns)


def _schema_table(schema: Schema) -> Any:
    from rich.table import Table

    table = Table(title=f"schema {schema.name} ({schema.digest})", title_justify="left")
    for col in ("field", "type", "values", "required", "description"):
        table.add_column(col)
    for f in schema.fields:
        table.add_row(f.name, f.type, ", ".join(f.values), "yes" if f.required else "", f.description)
    return table


@click.group("extract")
def extract_group() -> None:
    """Structured extraction: a YAML schema's fields filled in by a vision-language model.

    \b
    Examples:
      chronicon extract schema-check incident.yaml
      chronicon extract run --schema incident.yaml dashcam/clip.mp4 --json
      chronicon extract export --out pred.json
      chronicon eval extract --truth truth.csv --pred pred.json
    """


@extract_group.command("schema-check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the parsed schema as JSON.")
def schema_check(file: str, as_json: bool) -> None:
    """Validate a schema file and show its fields (exit 2 with the problem when it is not valid)."""
    try:
        schema = load_schema(file)
    except SchemaError as exc:
        raise UsageError(str(exc)) from exc
    if as_json:
        print_json(schema.to_json() | {"signature": schema.signature})
        return
    from rich.console import Console

    Console().print(_schema_table(schema))
    click.echo(f"ok: {len(schema.fields)} fields")


def run_pass(library: Library, schema_file: str | None, mode: str | None) -> ExtractPass:
    """The extract pass of this library's config (`--schema` and `--mode` over it), outside any scan; exit 2 for
    a bad schema, 3 when it cannot run here."""
    config = library.config
    changes = {k: v for k, v in (("schema", schema_file), ("mode", mode)) if v}
    section = with_values(config.section("extract"), **changes)
    models = config["model_cache"]
    context = AnalyzerContext(section, library.catalog_dir, config.section("scan"), None,
                              Path(models).expanduser().absolute() if models else None, config.values)  # fmt: skip
    analyzer = ExtractPass(context)
    try:
        _ = analyzer.schema, analyzer.terms
    except SchemaError as exc:
        raise UsageError(str(exc)) from exc
    problem = analyzer.unavailable()
    if problem:
        raise CannotRun(problem)
    return analyzer


def extract_files(analyzer: ExtractPass, paths: tuple[str, ...], quiet: bool) -> tuple[list[dict[str, Any]], int]:
    """Each file's result (or its error), and how many failed; a progress bar on stderr for several files."""
    from rich.console import Console
    from rich.progress import Progress

    results: list[dict[str, Any]] = []
    failed = 0
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=quiet or len(paths) < 2) as progress:
        task = progress.add_task("extracting", total=len(paths))
        for path in paths:
            try:
                outcome = analyzer.extract(file_item(path))
                results.append({"path": path, "values": outcome.values, "flags": outcome.flags,
                                "answers": outcome.answers})  # fmt: skip
            except ModelUnavailableError as exc:
                raise CannotRun(str(exc)) from exc
            except (ChroniconError, OSError, ValueError, RuntimeError) as exc:
                failed += 1
                results.append({"path": path, "error": str(exc) or type(exc).__name__})
            progress.advance(task)
    return results, failed


def echo_results(results: list[dict[str, Any]]) -> None:
    """The results for people: each path, its fields, and what did not fit."""
    for r in results:
        click.echo(click.style(r["path"], bold=True))
        if "error" in r:
            click.echo(f"  error: {r['error']}")
            continue
        for name, value in r["values"].items():
            click.echo(f"  {name}: {json.dumps(value) if isinstance(value, bool) or value is None else value}")
        for flag in r["flags"]:
            click.echo(click.style(f"  ! {flag}", fg="yellow"))


@extract_group.command("run")
@click.argument("paths", nargs=-1, required=True)
@click.option("--schema", "schema_file", type=click.Path(dir_okay=False),
              help="Schema YAML (default: the extract.schema config key).")  # fmt: skip
@click.option("--mode", type=click.Choice(["constrained", "json"]), help="Override extract.mode.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def run(state: AppState, /, paths: tuple[str, ...], schema_file: str | None, mode: str | None,
        as_json: bool) -> None:  # fmt: skip
    """Extract the fields of photos or videos now, without scanning or storing anything (the files are only
    read). Exit 1 when some file failed.

    \b
    Examples:
      chronicon extract run --schema incident.yaml crash.jpg
      chronicon extract run --mode json --json clips/*.mp4
    """
    analyzer = run_pass(state.library(), schema_file, mode)
    results, failed = extract_files(analyzer, paths, as_json)
    if as_json:
        print_json({"schema": analyzer.schema.signature, "mode": analyzer.options["mode"], "results": results})
    else:
        echo_results(results)
    if failed:
        raise SystemExit(1)


@extract_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True,
              help="json: the --pred input of `chronicon eval extract`; csv: the same rows with an id column "
                   "(the shape of a --truth file, to label by hand).")  # fmt: skip
@click.option("--id", "id_by", type=click.Choice(["path", "id"]), default="path", show_default=True,
              help="What identifies an item: the file path or the catalog's asset id.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of standard output.")
@click.pass_obj
def export(state: AppState, /, fmt: str, id_by: str, out: str | None) -> None:
    """The catalog's extraction results, one item per asset.

    \b
    Examples:
      chronicon extract export --out pred.json
      chronicon eval extract --truth truth.csv --pred pred.json
      chronicon extract export --format csv --out to-label.csv
    """
    try:
        rows = export_rows(state.library().catalog, id_by)
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else rows_to_csv(rows)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"{len(rows)} items written to {out}", err=True)
    else:
        click.echo(text, nl=False)
