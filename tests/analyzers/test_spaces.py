"""A plugin alone adds a vector space (its pass, its query encoder, a text list): scan, search, CLI and web use it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chronicon.analyzers.spaces import TextList, VectorSpace, validate_contribution
from chronicon.library import Library
from chronicon.plugins import PluginHost
from ml_switches import NO_ML

# A third party's plugin, written against chronicon.api only: a pass that embeds each photo's mean colour in a
# 3-d "colour" space, a query encoder that maps colour words into it, and a full-text list on its own column.
HUE_PLUGIN = '''
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from chronicon.api import (
    VECTORS_KEY, Analyzer, AssetItem, MediaKind, Phase, SpaceEncoder, TextList, VectorRow, VectorSpace, hookimpl,
    picture,
)

PLUGIN_NAME = "hue"
WORDS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
SPACE = "hue-mean-rgb"


def unit(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / (np.linalg.norm(a) or 1.0)


class HuePass(Analyzer):
    name: ClassVar[str] = "hue"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    columns: ClassVar[dict[str, pa.DataType]] = {"hue_name": pa.string()}

    def _run(self, items: Any) -> list[Any]:
        out = []
        for item in items:
            rgb = np.asarray(picture(item, 16).convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
            name = max(WORDS, key=lambda w: float(unit(WORDS[w]) @ unit(rgb)))
            row = VectorRow(item.id, unit(rgb), content_hash=item.row.get("content_hash"))
            out.append({"hue_name": name, VECTORS_KEY: {SPACE: (3, [row])}})
        return out


class HueEncoder(SpaceEncoder):
    kind = "hue"
    space = SPACE

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([unit(sum((np.asarray(WORDS.get(w, (0.3, 0.3, 0.3))) for w in t.lower().split()),
                                  np.zeros(3))) for t in texts])

    def explain(self, query: np.ndarray, row: dict[str, Any], segment: int) -> list[str]:
        return [f"mostly {row.get('hue_name')}"] if row.get("hue_name") else []


@hookimpl
def chronicon_register_analyzers():
    return [HuePass]


@hookimpl
def chronicon_register_spaces():
    return [
        VectorSpace("hue", owner="hue", encoder=HueEncoder, help="mean colour of the photo", priority=5),
        TextList("hue-names", lambda hit: f"named {hit.row.get('hue_name')} (#{hit.rank})", column="hue_name",
                 columns=("hue_name",)),
    ]
'''


def _library(tmp_path: Path) -> tuple[Path, Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in (("tomato", (220, 30, 20)), ("leaf", (20, 200, 40)), ("sky", (30, 60, 230))):
        Image.new("RGB", (64, 48), colour).save(photos / f"{name}.jpg", quality=90)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "hue.py").write_text(textwrap.dedent(HUE_PLUGIN))
    config = tmp_path / "config.yaml"
    overrides = {**NO_ML, "plugins.paths": [str(plugins)], "catalog": str(tmp_path / "catalog")}
    lines = [f"{k.split('.')[0]}:\n  {k.split('.')[1]}: {json.dumps(v)}" if "." in k else f"{k}: {json.dumps(v)}"
             for k, v in overrides.items()]  # fmt: skip
    config.write_text("\n".join(lines) + "\n")
    return photos, plugins, config


def test_a_plugin_adds_a_space_that_search_uses(tmp_path: Path) -> None:
    photos, _, config = _library(tmp_path)
    library = Library(config_file=config)
    summary = library.scan([str(photos)])
    assert summary.failed == 0, summary
    assert "hue" in library.space_kinds and library.space_kinds[0] == "hue"  # priority 5: before clip (10)
    hits = library.search("green", space="hue", limit=3)
    assert hits.kind == "hue" and hits.space == "hue-mean-rgb"
    assert Path(hits[0].path).name == "leaf.jpg"
    assert "hue similarity" in hits[0].why[0] and "looks like: mostly green" in hits[0].why
    # auto picks the best available space: the plugin's, by its priority (no ML space was scanned here anyway).
    assert Path(library.search("red")[0].path).name == "tomato.jpg"
    # Its full-text list is fused like the built-in ones.
    library.catalog.ensure_search_indexes(full_text=library.full_text_columns())
    assert any(w.startswith("named blue") for w in library.search("blue")[0].why)
    assert ("hue", "hue-mean-rgb", "mean colour of the photo") in library.search_engine.available()


def test_the_cli_offers_and_checks_plugin_spaces(tmp_path: Path) -> None:
    photos, _, config = _library(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "chronicon", "--config", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert run("scan", str(photos), "-q").returncode == 0
    found = run("search", "blue", "--space", "hue", "--json")
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert Path(body["results"][0]["path"]).name == "sky.jpg" and body["space"] == "hue-mean-rgb"
    unknown = run("search", "blue", "--space", "nope")
    assert unknown.returncode == 2 and "hue" in unknown.stderr  # the error names the spaces that exist
    assert "hue" in run("search", "--help").stdout


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (VectorSpace("auto", owner="x", encoder=lambda a: None), "not 'auto'"),
        (VectorSpace("Big", owner="x", encoder=lambda a: None), "lower-case"),
        (TextList("t", lambda h: "", column="c", embedder=lambda a: None), "exactly one"),
        (TextList("t", lambda h: ""), "exactly one"),
        ("clip", "is not a VectorSpace"),
    ],
)
def test_malformed_contributions_are_refused(item: Any, problem: str) -> None:
    assert problem in (validate_contribution(item) or "")


def test_a_clashing_space_is_reported_and_the_builtin_kept(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "clash.py").write_text(
        textwrap.dedent("""
        from chronicon.api import VectorSpace, hookimpl

        @hookimpl
        def chronicon_register_spaces():
            return [VectorSpace("clip", owner="nope", encoder=lambda a: None)]
        """)
    )
    host = PluginHost()
    host.load(paths=[str(folder)], entry_points=False)
    spaces, _ = host.search_spaces()
    assert [s.owner for s in spaces if s.kind == "clip"] == ["clip"]
    assert any("already taken" in p.error for p in host.problems)
