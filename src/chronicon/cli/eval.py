"""The `eval` commands: caption metrics against references, structured extraction against ground truth."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from chronicon.api.cli import AppState, CannotRun, SpaceKind, UsageError, fail, print_json
from chronicon.evaluation.captions import EvalError


@click.group("eval")
def eval_group() -> None:
    """Score captions, structured extraction and search against ground truth."""


@eval_group.command("captions")
@click.option("--refs", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSON list of {"path" or "id", "references": [...], "caption"}.')  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.pass_obj
def eval_captions(state: AppState, /, refs: str, as_json: bool) -> None:
    """BLEU (sacrebleu), ROUGE-L (rouge-score) and METEOR (NLTK) of captions against references.

    An item without a "caption" is scored with the caption the catalog holds for its path.
    """
    from chronicon.evaluation.captions import load_cases, score_captions

    try:
        cases = load_cases(Path(refs), _catalog_captions(state))
        result = score_captions(cases)
    except EvalError as exc:
        raise UsageError(str(exc)) from exc
    except ImportError as exc:
        raise UsageError(f"the metrics need the eval extra: pip install 'chronicon[eval]' ({exc})") from exc
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{result['count']} captions", title_justify="left")
    for col in ("item", "ROUGE-L", "METEOR"):
        table.add_column(col, justify="left" if col == "item" else "right")
    for item in result["items"]:
        table.add_row(item["key"], f"{item['rouge_l']:.3f}", f"{item['meteor']:.3f}")
    Console().print(table)
    synonyms = "" if result["meteor_synonyms"] else " (exact + stem matches; no WordNet corpus for synonyms)"
    click.echo(f"BLEU {result['bleu']:.2f}  ROUGE-L {result['rouge_l']:.4f}  METEOR {result['meteor']:.4f}{synonyms}")


@eval_group.command("extract")
@click.option("--truth", required=True, type=click.Path(exists=True, dir_okay=False), help="CSV with an id column.")
@click.option(
    "--pred",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Predictions: JSON, or a CSV shaped like the truth file.",
)
@click.option("--terms", type=click.Path(exists=True, dir_okay=False),
              help="YAML terminology map {canonical: [synonyms]} applied to both sides first "
                   "(default: the eval.terminology config key).")  # fmt: skip
@click.option("--categorical", help="Comma-separated categorical fields (exact match, any case).")
@click.option("--text", "text_fields", help="Comma-separated free-text fields (embedding cosine).")
@click.option("--id-column", default="id", show_default=True, help="The id column / key.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write per-item scores as CSV here.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.pass_obj
def eval_extract(
    state: AppState,
    /,
    truth: str,
    pred: str,
    terms: str | None,
    categorical: str | None,
    text_fields: str | None,
    id_column: str,
    csv_out: str | None,
    as_json: bool,
) -> None:
    """Per-field and overall scores of extracted fields: exact match for categorical fields, cosine similarity
    of text embeddings for free-text ones. Fields not named are classified from the truth values."""
    from chronicon.evaluation.extract import load_predictions, load_truth, score_extraction

    try:
        truth_rows = load_truth(Path(truth), id_column)
        predictions = load_predictions(Path(pred), id_column)
        reasons = _field_kinds(truth, truth_rows, categorical, text_fields)
        kinds = {name: kind for name, (kind, _why) in reasons.items()}
        configured = state.library().config["eval.terminology"]
        chosen = terms or configured
        term_map = _terms(Path(chosen)) if chosen else {}
        embed = _embedder(state) if "text" in kinds.values() else None
        report = score_extraction(truth_rows, predictions, kinds=kinds, terms=term_map, embed=embed)
    except EvalError as exc:
        raise UsageError(str(exc)) from exc
    if csv_out:
        Path(csv_out).write_text(report.to_csv(), encoding="utf-8")
    if as_json:
        data = report.to_json()
        for field in data.get("fields", []):
            field["kind_reason"] = reasons[field["name"]][1]
        print_json(data)
        return
    table = Table(title=f"{len(truth_rows)} items", title_justify="left")
    for col in ("field", "kind", "because", "score", "missing"):
        table.add_column(col, justify="right" if col in ("score", "missing") else "left")
    for f in report.fields:
        table.add_row(f.name, f.kind, reasons[f.name][1], f"{f.score:.3f}", str(f.missing))
    Console().print(table)
    click.echo(f"overall {report.overall:.4f}" + (f" (per-item CSV: {csv_out})" if csv_out else ""))


def _field_kinds(
    truth: str, truth_rows: Mapping[str, Mapping[str, str]], categorical: str | None, text_fields: str | None
) -> dict[str, tuple[str, str]]:
    """Each field's kind and why: classified from the truth values, or named with --categorical / --text."""
    from chronicon.evaluation.extract import kind_reasons

    reasons = kind_reasons(truth_rows)
    for names, kind in ((categorical, "categorical"), (text_fields, "text")):
        for name in filter(None, (n.strip() for n in (names or "").split(","))):
            if name not in reasons:
                raise EvalError(f"field {name!r} is not a column of {truth}")
            reasons[name] = (kind, f"--{kind}")  # named on the command line
    return reasons


def _catalog_captions(state: AppState) -> dict[str, str] | None:
    library = state.library()
    if "caption" not in library.catalog.schema.names:
        return None
    return {str(r["path"]): r["caption"] for r in library.catalog.rows(columns=["path", "caption"]) if r["caption"]}


def _embedder(state: AppState) -> Any:
    from chronicon.embed.text import DEFAULT_TEXT_MODEL, shared_text_embedder
    from chronicon.errors import ModelUnavailableError

    library = state.library()
    embedder = shared_text_embedder(DEFAULT_TEXT_MODEL, cache_dir=library.catalog_dir / "models")

    def embed(texts: list[str]) -> Any:
        try:
            return embedder.embed(texts)
        except ModelUnavailableError as exc:
            raise EvalError(f"free-text fields need the text model: {exc}") from exc

    return embed


def _terms(path: Path) -> dict[str, list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EvalError(f"cannot read the terminology map {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise EvalError(f"{path}: expected a mapping {{canonical: [synonyms]}}")
    return {str(k): [str(s) for s in (v if isinstance(v, list) else [v])] for k, v in data.items()}


@eval_group.command("search")
@click.argument("queries_file", metavar="QUERIES.yaml", type=click.Path(exists=True, dir_okay=False))
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Hits asked for per query; also the k of nDCG@k and of the reciprocal rank.")  # fmt: skip
@click.option("--space", type=SpaceKind(), default="auto", show_default=True, help="Vector space to search.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores and every query's hits as JSON.")
@click.pass_obj
def eval_search(state: AppState, /, queries_file: str, limit: int, space: str, as_json: bool) -> None:
    """Score the library's search against labelled queries: top-1, top-3, MRR, nDCG@k, negatives, cutoff.

    \b
    QUERIES.yaml lists {query, expect: [file names]}; `expect: []` is a query nothing should answer
    (evaluation/search_queries.yaml, over the library scripts/make_eval_library.py writes). Every query
    asks for all hits, weak ones too, so the relevance cutoff is scored as well as the ranking.
    """
    from chronicon.errors import ChroniconError
    from chronicon.evaluation.search import load_queries, score_search, summary_line
    from chronicon.search.engine import NoVectorsError
    from chronicon.search.filters import FilterError
    from chronicon.search.query import QueryError

    if as_json:
        state.quiet()
    try:
        queries = load_queries(queries_file)
    except EvalError as exc:
        raise UsageError(str(exc)) from exc
    library = state.library()
    search_space = None if space == "auto" else space
    asks_all = "show_all" in inspect.signature(library.search).parameters  # (before the cutoff landed: no flag)
    searched: set[str] = set()

    def search_fn(query: str) -> Any:
        extra: dict[str, Any] = {"show_all": True} if asks_all else {}
        hits = library.search(query, limit=limit, space=search_space, **extra)
        if hits.space:
            searched.add(str(hits.space))
        return hits

    assets = [str(r["path"]) for r in library.catalog.rows(columns=["path", "missing"]) if not r.get("missing")]
    try:
        result = score_search(search_fn, queries, k=limit, library=assets)
    except (EvalError, QueryError, FilterError) as exc:
        raise UsageError(str(exc)) from exc
    except NoVectorsError as exc:
        raise CannotRun(str(exc)) from exc
    except ChroniconError as exc:
        fail(exc)
    result = {"queries_file": queries_file, "space": sorted(searched), **result}
    if as_json:
        print_json(result)
        return
    for name in result["missing"]:
        click.echo(f"warning: {name} is labelled in {queries_file} but is not in the catalog", err=True)
    table = Table(title=f"{len(queries)} queries over {result['library_size']} files, searched in "
                        f"{', '.join(result['space']) or '?'}", title_justify="left")  # fmt: skip
    for col in ("query", "expect", "first", "RR", f"nDCG@{limit}", "kept", "top 3"):
        table.add_column(col, justify="right" if col in ("first", "RR", f"nDCG@{limit}", "kept") else "left",
                         overflow="fold")  # fmt: skip
    for item in result["items"]:
        top = " ".join(("*" if h["relevant"] else "") + h["name"] + ("" if h["kept"] else "?")
                       for h in item["hits"][:3])  # fmt: skip
        if item["negative"]:
            verdict = "[green]empty[/]" if item["empty"] else f"[red]{item['kept']} shown[/]"
            table.add_row(item["query"], "(none)", "", "", "", verdict, top)
            continue
        first = "-" if item["first_rank"] is None else str(item["first_rank"])
        kept = "all" if item["keeps_all"] else ("some" if item["keeps_any"] else "[red]none[/]")
        table.add_row(item["query"], " ".join(item["expect"]), first, f"{item['rr']:.2f}", f"{item['ndcg']:.2f}",
                      kept, top)  # fmt: skip
    (Console() if sys.stdout.isatty() else Console(width=160)).print(table)
    click.echo("(top 3: * relevant, ? hidden by the cutoff)")
    click.echo(summary_line(result))
