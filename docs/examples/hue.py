"""A sample Chronicon plugin, built with the public API only (see docs/plugin-guide.md): a pass, a vector space
with its query encoder, a full-text list, a search filter, a CLI command and a web route.

Use it: `plugins: {paths: [/path/to/docs/examples]}` in the config file, then `chronicon scan`,
`chronicon search red --space hue`, `chronicon search beach --hue blue`, `chronicon hue stats --json`, and
`GET /api/hue/stats` on `chronicon serve`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import click
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chronicon.api import (
    VECTORS_KEY,
    Analyzer,
    AppState,
    AssetItem,
    ChroniconError,
    Library,
    MediaKind,
    Outcome,
    Phase,
    RankedHit,
    SearchFilter,
    Setting,
    SpaceEncoder,
    TextList,
    VectorRow,
    VectorSpace,
    col,
    fail,
    hookimpl,
    picture,
    print_json,
)

PLUGIN_NAME = "hue"
__version__ = "1.0.0"
SPACE = "hue-mean-rgb-v1"  # a vector table of its own; the version in the name keeps old vectors apart
HUES: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.1, 0.1), "orange": (1.0, 0.55, 0.1), "yellow": (1.0, 0.95, 0.2), "green": (0.15, 0.8, 0.2),
    "blue": (0.15, 0.3, 1.0), "purple": (0.6, 0.2, 0.9), "white": (1.0, 1.0, 1.0), "black": (0.05, 0.05, 0.05),
}  # fmt: skip


def unit(vector: Any) -> NDArray[np.float32]:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


def nearest_hue(rgb: NDArray[np.float32]) -> str:
    return min(HUES, key=lambda name: float(np.linalg.norm(np.asarray(HUES[name]) - rgb)))


# -- the pass: one vector per photo (its mean colour) and a column with the colour's name ------------------------
class HuePass(Analyzer):
    """The mean colour of each photo: a 3-d vector in the `hue` space and its nearest colour name."""

    name: ClassVar[str] = "hue"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    columns: ClassVar[dict[str, pa.DataType]] = {"hue_name": pa.string()}
    settings: ClassVar[dict[str, Setting]] = {
        "side": Setting("int", 32, minimum=4, maximum=512, help="side the photo is reduced to before averaging"),
    }

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            try:
                image = picture(item, self.config.int("side")).convert("RGB")  # decoded once per scan, shared
            except Exception as exc:  # one unreadable photo fails alone
                outcomes.append(exc)
                continue
            side = self.config.int("side")
            pixels = np.asarray(image.resize((side, side)), dtype=np.float32).reshape(-1, 3) / 255.0
            rgb = pixels.mean(axis=0)
            row = VectorRow(item.id, unit(rgb), content_hash=item.row.get("content_hash"))
            outcomes.append({"hue_name": nearest_hue(rgb), VECTORS_KEY: {SPACE: (3, [row])}})
        return outcomes


# -- the space: how a text query becomes a vector of it ---------------------------------------------------------
class HueEncoder(SpaceEncoder):
    """Colour words in the query -> their mean colour; images go through the pass itself (the base class)."""

    kind = "hue"
    space = SPACE

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        vectors = []
        for text in texts:
            named = [HUES[w] for w in text.lower().split() if w in HUES] or [(0.5, 0.5, 0.5)]
            vectors.append(unit(np.mean(named, axis=0)))
        return np.stack(vectors)

    def explain(self, query: NDArray[np.float32], row: dict[str, Any], segment: int) -> list[str]:
        return [f"mostly {row['hue_name']}"] if row.get("hue_name") else []


def _describe(hit: RankedHit) -> str:
    return f"colour named {hit.row.get('hue_name')} (#{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [HuePass]


@hookimpl
def chronicon_register_spaces() -> list[VectorSpace | TextList]:
    return [
        VectorSpace("hue", owner="hue", encoder=HueEncoder, help="mean colour of the photo", priority=90),
        TextList("hue-names", _describe, column="hue_name", columns=("hue_name",)),
    ]


# -- a search filter: `--hue blue` on search/similar, hue="blue" in Library.search, `hue: blue` in albums --------
@hookimpl
def chronicon_register_search_filters() -> list[SearchFilter]:
    return [
        SearchFilter(
            "hue", "only photos whose mean colour is this one", where=lambda value: col("hue_name") == str(value)
        )
    ]


# -- a CLI command: `chronicon hue stats [--json]` --------------------------------------------------------------
def hue_counts(library: Library) -> dict[str, int]:
    """How many photos have each colour (the pass's column, read with a typed filter: no SQL by hand)."""
    if "hue_name" not in library.catalog.schema.names:
        return {}
    table = library.catalog.to_arrow(["hue_name"], where=col("hue_name").not_null() & col("missing").is_not_true())
    return dict(Counter(str(v) for v in table.column("hue_name").to_pylist()).most_common())


@click.group("hue")
def hue_group() -> None:
    """The photos' colours (the sample plugin of docs/plugin-guide.md)."""


@hue_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def hue_stats(state: AppState, as_json: bool) -> None:
    """How many photos are mostly each colour."""
    if as_json:
        state.quiet()
    try:
        counts = hue_counts(state.library())
    except ChroniconError as exc:
        fail(exc)  # exit 2 for config errors, 3 when the catalog cannot be read
    if as_json:
        print_json({"hues": counts})
        return
    for name, count in counts.items():
        click.echo(f"{count:6d}  {name}")


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    cli.add_command(hue_group)


# -- a web route: `GET /api/hue/stats` on `chronicon serve` (the server's token check covers it) ----------------
@hookimpl
def chronicon_register_routes(app: Any, library: Library) -> None:
    from fastapi import APIRouter  # only `chronicon serve` needs it

    router = APIRouter(tags=["hue"])

    @router.get("/api/hue/stats")
    def stats() -> dict[str, Any]:
        """How many photos are mostly each colour."""
        return {"hues": hue_counts(library)}

    app.include_router(router)
