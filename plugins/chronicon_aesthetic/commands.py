"""`chronicon aesthetic train | reset | show`: fit the learned head from ratings, drop it, or explain one score."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from chronicon.api import (
    AppState,
    CannotRun,
    CatalogLockedError,
    ChroniconError,
    Library,
    MediaError,
    MediaKind,
    ScanLock,
    UsageError,
    display_path,
    open_image,
    print_json,
    read_poster_frame,
    register_heif,
    sniff_file,
)

from .analyzer import weights_from
from .head import MIN_RATED, features_for, fit_head, head_path, load_head, save_head
from .metrics import ANALYSIS_SIDE, PARTS, combine, measure
from .rescore import has_columns, has_head_scores, rescore, scored_rows


@dataclass
class Ratings:
    """The ratings read from a CSV: (absolute path, rating) pairs and the lines that could not be used."""

    pairs: list[tuple[str, float]] = field(default_factory=list)


def read_ratings(csv_path: Path) -> Ratings:
    """Parse `path,rating` lines; relative paths are resolved against the CSV's folder. Errors name the line."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {csv_path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "path" not in header or "rating" not in header:
        raise UsageError(f"{csv_path}: the first line must be the header `path,rating` (found {','.join(header)!r})")
    reader.fieldnames = header
    out = Ratings()
    base = csv_path.resolve().parent
    for line, record in enumerate(reader, start=2):
        raw_path = (record.get("path") or "").strip()
        raw_rating = (record.get("rating") or "").strip()
        if not raw_path:
            raise UsageError(f"{csv_path}:{line}: empty path")
        try:
            rating = float(raw_rating)
        except ValueError:
            raise UsageError(f"{csv_path}:{line}: rating {raw_rating!r} is not a number") from None
        if not math.isfinite(rating):
            raise UsageError(f"{csv_path}:{line}: rating {raw_rating!r} is not a finite number")
        path = Path(raw_path).expanduser()
        out.pairs.append((os.path.abspath(path if path.is_absolute() else base / path), rating))
    return out


def _locked(catalog_dir: Path) -> ScanLock:
    """The catalog's scan lock, taken (waiting up to 2 s), for `with`; exit 3 while a scan holds it."""
    lock = ScanLock(catalog_dir)
    try:
        lock.acquire(wait=2.0)
    except CatalogLockedError as exc:
        raise CannotRun(str(exc)) from exc
    return lock


def _library(state: AppState) -> Library:
    library = state.library()
    try:
        catalog = library.catalog
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    if not has_columns(catalog):
        raise CannotRun("the catalog has no aesthetic scores: enable the `aesthetic` pass and run `chronicon scan`")
    return library


def train(state: AppState, csv_path: Path, as_json: bool) -> None:
    library = _library(state)
    catalog = library.catalog
    ratings = read_ratings(csv_path)
    rows = {r["path"]: r for r in scored_rows(catalog)}
    known: list[dict[str, Any]] = []
    targets: dict[str, float] = {}
    unknown: list[str] = []
    for path, rating in ratings.pairs:
        row = rows.get(display_path(path))
        if row is None:
            unknown.append(path)
        elif row["id"] not in targets:
            known.append(row)
            targets[row["id"]] = rating
    notes: list[str] = []
    space = library.image_space()  # the space searches use for pictures (CLIP, else ConSE); None: parts only
    kept, matrix, _left = features_for(catalog, known, space)
    if space is not None and len(kept) < MIN_RATED:
        notes.append(f"only {len(kept)} rated assets have vectors in {space}: using the heuristic parts only")
        space = None
        kept, matrix, _left = features_for(catalog, known, None)
    if len(kept) < MIN_RATED:
        raise UsageError(
            f"need at least {MIN_RATED} rated assets that are in the catalog with a score, found {len(kept)}"
            + (f" ({len(unknown)} paths of the CSV are not in the catalog)" if unknown else "")
        )
    weights = weights_from(library.config.section("aesthetic"))
    y = np.asarray([targets[r["id"]] for r in kept], dtype=np.float64)
    heuristic = np.asarray([combine(dict(zip(PARTS, row[: len(PARTS)], strict=True)), weights) for row in matrix])
    alpha = library.config.section("aesthetic").float("ridge_alpha")
    with _locked(library.catalog_dir):
        head = fit_head(matrix, y, heuristic, space=space, alpha=alpha)
        saved = save_head(library.catalog_dir, head)
        counts = rescore(catalog, head, weights)
    report = {
        "head": str(saved),
        "source": head.source,
        "space": head.space,
        "features": len(head.feature_names),
        "rated": len(kept),
        "folds": head.folds,
        "cv_spearman": head.cv_spearman,
        "baseline_spearman": head.baseline_spearman,
        "unknown": unknown,
        "rescored": counts,
        "notes": notes,
    }
    if as_json:
        print_json(report)
        return
    console = Console()
    table = Table(title=f"aesthetic {head.source} ({len(kept)} rated assets, {head.folds}-fold CV)")
    table.add_column("scorer")
    table.add_column("features", justify="right")
    table.add_column("Spearman (held out)", justify="right")
    table.add_row(
        f"learned head ({head.space or 'heuristic parts only'})", str(len(head.feature_names)), _fmt(head.cv_spearman)
    )
    table.add_row("heuristic (baseline)", str(len(PARTS)), _fmt(head.baseline_spearman))
    console.print(table)
    for path in unknown:
        console.print(f"[yellow]not in the catalog:[/] {path}")
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"saved {saved}; re-scored {counts['head']} assets with the head, {counts['heuristic']} heuristic")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def reset(state: AppState, as_json: bool) -> None:
    """Put every asset back on the heuristic, then delete the head: a re-score cut short leaves the head in
    place, and a later reset re-scores whenever any asset still has a head's score."""
    library = _library(state)
    path = head_path(library.catalog_dir)
    counts = {"head": 0, "heuristic": 0}
    with _locked(library.catalog_dir):
        existed = path.exists()
        needed = existed or has_head_scores(library.catalog)
        if needed:
            counts = rescore(library.catalog, None, weights_from(library.config.section("aesthetic")))
            path.unlink(missing_ok=True)
    if as_json:
        print_json({"removed": existed, "rescored": counts})
    elif existed:
        click.echo(f"removed {path}; {counts['heuristic']} assets back on the heuristic score")
    elif needed:
        click.echo(f"no learned head; {counts['heuristic']} assets scored by an old head are back on the heuristic")
    else:
        click.echo("no learned head: the heuristic score is already in use")


def live_parts(path: str) -> dict[str, float]:
    """The four parts of a file that is not in the catalog, decoded here."""
    try:
        sniffed = sniff_file(path)
        if sniffed is None:
            raise MediaError("not a photo or video")
        if sniffed.kind == MediaKind.VIDEO:
            image = read_poster_frame(path, at_fraction=0.1, max_side=ANALYSIS_SIDE)
        else:
            register_heif()
            image = open_image(path, max_pixels=250_000_000, draft_size=ANALYSIS_SIDE)
        return measure(image)
    except MediaError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(str(exc)) from exc


def show(state: AppState, path: str, as_json: bool) -> None:
    library = state.library()
    absolute = os.path.abspath(path)
    if not os.path.exists(absolute):
        raise UsageError(f"{path}: no such file")
    row = library.info(absolute) if has_columns(library.catalog) else None
    head = load_head(library.catalog_dir)
    weights = weights_from(library.config.section("aesthetic"))
    if row is not None and row.get("aesthetic_parts"):
        parts = json.loads(row["aesthetic_parts"])
        out = {
            "path": row["path"],
            "in_catalog": True,
            "aesthetic": row["aesthetic"],
            "source": row["aesthetic_source"],
            "heuristic": round(combine(parts, weights), 6),
            "parts": parts,
        }
    else:
        try:
            parts = live_parts(absolute)
        except MediaError as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
        score = round(combine(parts, weights), 6)
        out = {
            "path": absolute,
            "in_catalog": False,
            "aesthetic": score,
            "source": "heuristic",
            "heuristic": score,
            "parts": parts,
        }
    out["weights"] = weights
    out["head"] = head.source if head is not None else None
    if as_json:
        print_json(out)
        return
    table = Table(title=f"{out['path']}: aesthetic {out['aesthetic']:.3f} ({out['source']})")
    table.add_column("part")
    table.add_column("score 0..1", justify="right")
    table.add_column("weight", justify="right")
    for name in PARTS:
        table.add_row(name, f"{float(parts[name]):.3f}", f"{weights[name]:g}")
    table.add_row("heuristic", f"{out['heuristic']:.3f}", "")
    Console().print(table)
    if not out["in_catalog"]:
        click.echo("(not in the catalog: computed now with the heuristic)")


@click.group("aesthetic")
def aesthetic_group() -> None:
    """Aesthetic score: a transparent heuristic, optionally replaced by a head learned from your ratings.

    \b
    Examples:
      chronicon aesthetic show ~/Pictures/IMG_0001.JPG
      chronicon aesthetic train ratings.csv        # CSV with header path,rating
      chronicon aesthetic reset                    # back to the heuristic
      chronicon search "beach" --sort aesthetic --min-aesthetic 0.6
    """


@aesthetic_group.command("train")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def train_cmd(state: AppState, csv_file: Path, as_json: bool) -> None:
    """Learn a scoring head from ratings and re-score the whole catalog with it.

    CSV_FILE has the header `path,rating` (any numeric scale; relative paths are resolved against the
    CSV's folder). At least 8 rated files must be in the catalog. Features: the image embedding of the
    catalog's CLIP space (else its ConSE space, else none) plus the four heuristic parts; ridge
    regression (alpha: config aesthetic.ridge_alpha). Prints the k-fold cross-validated Spearman
    correlation next to the heuristic's on the same files. Exit 2: bad CSV or too few ratings; exit 3:
    a scan holds the catalog.

    \b
    Example:
      printf 'path,rating\\nbeach.jpg,5\\nblurry.jpg,1\\n...' > ratings.csv
      chronicon aesthetic train ratings.csv --json
    """
    train(state, csv_file, as_json)


@aesthetic_group.command("reset")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def reset_cmd(state: AppState, as_json: bool) -> None:
    """Delete the learned head and go back to the heuristic score for every asset."""
    reset(state, as_json)


@aesthetic_group.command("show")
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the score as JSON.")
@click.pass_obj
def show_cmd(state: AppState, path: str, as_json: bool) -> None:
    """Print the aesthetic score of PATH and its four parts (computed now if PATH is not in the catalog)."""
    show(state, path, as_json)
