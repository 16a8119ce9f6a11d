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

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"  # the plugin guide's sample: a pass, a space, a filter, a command, a route


def _library(tmp_path: Path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in (("tomato", (220, 30, 20)), ("leaf", (20, 200, 40)), ("sky", (30, 60, 230))):
        Image.new("RGB", (64, 48), colour).save(photos / f"{name}.jpg", quality=90)
    config = tmp_path / "config.yaml"
    off = "".join(f"{key.split('.')[0]}:\n  enabled: false\n" for key in NO_ML)
    config.write_text(f"catalog: {tmp_path / 'catalog'}\nplugins:\n  paths: [{EXAMPLES}]\n{off}")
    return photos, config


def test_a_plugin_adds_a_space_that_search_uses(tmp_path: Path) -> None:
    photos, config = _library(tmp_path)
    library = Library(config_file=config)
    summary = library.scan([str(photos)])
    assert summary.failed == 0, summary
    assert "hue" in library.space_kinds and library.space_kinds[-1] == "hue"  # priority 90: after the built-ins
    hits = library.search("green", space="hue", limit=3)
    assert hits.kind == "hue" and hits.space == "hue-mean-rgb-v1"
    assert Path(hits[0].path).name == "leaf.jpg"
    assert "hue similarity" in hits[0].why[0] and "looks like: mostly green" in hits[0].why
    # auto picks the best space that can be searched: here the plugin's (no ML space was scanned).
    assert Path(library.search("red")[0].path).name == "tomato.jpg"
    # Its full-text list is fused like the built-in ones (the scan built its index), its filter applies.
    assert any(w.startswith("colour named blue") for w in library.search("blue")[0].why)
    assert [Path(h.path).name for h in library.search("red", hue="blue", show_all=True)] == ["sky.jpg"]
    assert ("hue", "hue-mean-rgb-v1", "mean colour of the photo") in library.search_engine.available()
    # Images are searched through the pass itself (the encoder's base class runs it on the query file).
    assert Path(library.similar(photos / "sky.jpg")[0].path).name != "sky.jpg"


def test_the_sample_plugin_route_answers(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from chronicon.web import create_app

    photos, config = _library(tmp_path)
    library = Library(config_file=config)
    library.scan([str(photos)])
    with TestClient(create_app(library, allowed_hosts=["testserver"])) as client:
        answer = client.get("/api/hue/stats")
        meta = client.get("/api/meta").json()
    assert answer.status_code == 200 and answer.json() == {"hues": {"red": 1, "green": 1, "blue": 1}}
    assert "hue" in [s["kind"] for s in meta["search_spaces"]]
    assert "hue" in [f["name"] for f in meta["filters"]]


def test_the_cli_offers_and_checks_plugin_spaces(tmp_path: Path) -> None:
    photos, config = _library(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "chronicon", "--config", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert run("scan", str(photos), "-q").returncode == 0
    found = run("search", "blue", "--space", "hue", "--json")
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert Path(body["results"][0]["path"]).name == "sky.jpg" and body["space"] == "hue-mean-rgb-v1"
    unknown = run("search", "blue", "--space", "nope")
    assert unknown.returncode == 2 and "hue" in unknown.stderr  # the error names the spaces that exist
    assert "hue" in run("search", "--help").stdout
    stats = run("hue", "stats", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["hues"] == {"red": 1, "green": 1, "blue": 1}


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
