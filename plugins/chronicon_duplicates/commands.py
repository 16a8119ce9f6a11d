"""`chronicon duplicates`: list groups of near-duplicate photos or videos, best member first; never touches files."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from chronicon.api import AppState, CannotRun, ChroniconError, UsageError, print_json

from .grouping import RANKS, Group, Options, group_rows, load_assets, pixel_space


def options_from(library: Any, **given: Any) -> Options:
    """Options from the library's `duplicates` config section, overridden by the command's flags (None: not
    given); the stacks its enabled passes form (`Library.stack_kinds`) keep their members apart."""
    section = library.config.section("duplicates")
    rank_by = section.list("rank_by")
    unknown = [v for v in rank_by if v not in RANKS]
    if unknown:
        raise UsageError(f"duplicates.rank_by: unknown {', '.join(unknown)} (use {', '.join(RANKS)})")
    options = Options(
        phash_distance=section.int("phash_distance"),
        min_cosine=section.float("min_cosine"),
        max_color_distance=section.float("max_color_distance"),
        cosine_alone=section.float("cosine_alone"),
        cosine_neighbors=section.int("cosine_neighbors"),
        cosine_probes=section.int("cosine_probes"),
        rank_by=rank_by,
        video_frame_distance=section.int("video_frame_distance"),
        video_min_coverage=section.float("video_min_coverage"),
        video_max_trim=section.float("video_max_trim"),
        video_max_trim_ratio=section.float("video_max_trim_ratio"),
        stacks=[k.column for k in library.stack_kinds],  # not a disabled pass's
    )
    for key, value in given.items():
        if value is not None:
            setattr(options, key, value)
    return options


def run(state: AppState, as_json: bool, **given: Any) -> None:
    library = state.library()
    options = options_from(library, **given)
    console = Console(stderr=True)
    try:
        catalog = library.catalog
        rows = load_assets(catalog, options)
        space = pixel_space(library.image_space())  # the space searches use for pictures, if it embeds pixels
        with console.status("finding near-duplicates", spinner="dots") as status:
            groups = group_rows(catalog, rows, options, space, progress=lambda text: status.update(text))
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    settings = {
        "phash_distance": options.phash_distance,
        "min_cosine": options.min_cosine,
        "cosine_alone": options.cosine_alone if space is not None else None,
        "video_frame_distance": options.video_frame_distance,
        "video_min_coverage": options.video_min_coverage,
        "video_max_trim": options.video_max_trim,
        "video_max_trim_ratio": options.video_max_trim_ratio,
        "rank_by": list(options.rank_by),
        "space": space,
        "kind": options.kind,
        "under": options.under,
    }
    if as_json:
        print_json(
            {
                "settings": settings,
                "assets": len(rows),
                "groups": [{"kind": g.kind, "members": g.members} for g in groups],
            }
        )
        return
    out = Console()
    if not groups:
        out.print(f"no near-duplicates among {len(rows)} assets (pHash distance <= {options.phash_distance})")
        return
    for number, group in enumerate(groups, start=1):
        out.print(_video_table(number, group) if group.kind == "video" else _image_table(number, group))
    dupes = sum(len(g.members) - 1 for g in groups)
    out.print(f"{len(groups)} groups, {dupes} possible duplicates of {len(rows)} assets; nothing was changed on disk")


def _image_table(number: int, group: Group) -> Table:
    table = Table(title=f"group {number}: {len(group.members)} {group.kind}s", title_justify="left")
    table.add_column("")
    table.add_column("path", overflow="fold")
    table.add_column("size px", justify="right")
    table.add_column("sharpness", justify="right")
    table.add_column("pHash Δ", justify="right")
    table.add_column("cosine", justify="right")
    table.add_column("why")
    for member in group.members:
        cosine = member["cosine"]
        table.add_row(
            "best" if member["best"] else "",
            member["path"],
            f"{member['width'] or '?'}×{member['height'] or '?'}",
            "" if member["sharpness"] is None else f"{member['sharpness']:.0f}",
            "" if member["best"] else str(member["phash_distance"]),
            "" if cosine is None else f"{cosine:.3f}",
            ", ".join(member["linked_by"]),
        )
    return table


def _video_table(number: int, group: Group) -> Table:
    """Videos: their duration, and the share of frames matched with the best one at which offset (or the poster's
    pHash distance when a signature is missing)."""
    table = Table(title=f"group {number}: {len(group.members)} {group.kind}s", title_justify="left")
    table.add_column("")
    table.add_column("path", overflow="fold")
    table.add_column("size px", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("offset", justify="right")
    table.add_column("poster Δ", justify="right")
    table.add_column("why", overflow="fold")
    for member in group.members:
        coverage, offset, duration = member["video_coverage"], member["video_offset"], member["duration"]
        table.add_row(
            "best" if member["best"] else "",
            member["path"],
            f"{member['width'] or '?'}×{member['height'] or '?'}",
            "" if duration is None else f"{duration:.1f}s",
            "" if coverage is None else f"{coverage:.0%}",
            "" if offset is None else f"{offset:+.1f}s",
            "" if member["best"] else str(member["phash_distance"]),
            ", ".join(member["linked_by"]),
        )
    return table


@click.command("duplicates")
@click.option("--kind", type=click.Choice(["image", "video"]), help="Only photos or only videos.")
@click.option(
    "--phash-distance",
    type=click.IntRange(0, 32),
    metavar="N",
    help="Most differing pHash bits for a pair (default: config duplicates.phash_distance, 8).",
)
@click.option(
    "--min-cosine",
    type=click.FloatRange(-1.0, 1.0),
    metavar="X",
    help="Embedding cosine a pHash pair must reach when both have vectors (default 0.9).",
)
@click.option(
    "--frame-distance",
    "video_frame_distance",
    type=click.IntRange(0, 32),
    metavar="N",
    help="Videos: most differing bits for two sampled frames to match (default duplicates.video_frame_distance, 12).",
)
@click.option(
    "--min-coverage",
    "video_min_coverage",
    type=click.FloatRange(0.0, 1.0),
    metavar="X",
    help="Videos: share of the shorter video's frames that must match (default duplicates.video_min_coverage, 0.8).",
)
@click.option("--under", type=click.Path(file_okay=False), metavar="DIR", help="Only files under DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.pass_obj
def duplicates(
    state: AppState,
    kind: str | None,
    phash_distance: int | None,
    min_cosine: float | None,
    video_frame_distance: int | None,
    video_min_coverage: float | None,
    under: str | None,
    as_json: bool,
) -> None:
    """List groups of near-duplicate photos (or videos), the best copy first, and why each is there.

    Read-only: it never deletes, moves or changes any file; decide yourself what to keep.

    Pairs come from the perceptual hash (at most N differing bits of 64) and are confirmed by their
    dominant colours and, when the search space for pictures is CLIP-like, by the image embedding of both;
    in such a space very close embeddings (config duplicates.cosine_alone) also pair up. Two videos with
    frame signatures (the scan's duplicates pass: a hash every second) pair up instead when their durations
    allow a trim and, at the best time offset, most frames of the shorter one match the other (re-encodes,
    resized and trimmed copies; not two clips that only start alike). The best member has the most pixels,
    then (videos) the longest duration, then the sharpest, then the best aesthetic score, then the largest
    file (config duplicates.rank_by).

    \b
    Examples:
      chronicon duplicates
      chronicon duplicates --kind image --under ~/Pictures/2024 --phash-distance 4
      chronicon duplicates --json | jq '.groups[].members[0].path'
    """
    run(
        state,
        as_json,
        kind=kind,
        phash_distance=phash_distance,
        min_cosine=min_cosine,
        video_frame_distance=video_frame_distance,
        video_min_coverage=video_min_coverage,
        under=under,
    )
