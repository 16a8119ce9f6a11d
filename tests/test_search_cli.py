"""`chronicon search` / `similar` end to end: real CLI processes over a scanned library of real photos."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ai_edge_litert")

from mediafactory import make_text_as

CLI = [sys.executable, "-m", "chronicon"]


def run(*args: str, env: dict[str, str], codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in codes, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    root = tmp_path_factory.mktemp("search-cli")
    lib = root / "library"
    shutil.copytree(sample_photos, lib / "photos")
    make_text_as(lib / "photos" / "not-a-photo.jpg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(
        CHRONICON_CATALOG=str(root / "catalog"),
        CHRONICON_MODEL_CACHE=str(model_cache),
        CHRONICON_CLIP__ENABLED="false",
        HF_HUB_OFFLINE="1",
    )
    scan = run("scan", "--json", str(lib), env=env, codes=(1,))  # one broken file: exit 1, the rest indexed
    summary = json.loads(scan.stdout)
    assert summary["counts"]["new"] == len(list(sample_photos.iterdir()))
    return lib, env


def test_search_json_finds_the_cat_with_reasons(setup: Any) -> None:
    _lib, env = setup
    out = json.loads(run("search", "a cat", "--json", "-n", "3", env=env).stdout)
    assert out["space"] == "minilm-l6-v2:conse" and out["query"] == "a cat"
    first = out["results"][0]
    assert Path(first["path"]).name == "chelsea.jpg" and first["rank"] == 1
    fused = [r["fused"] for r in out["results"]]
    assert fused == sorted(fused, reverse=True) and first["score"] > 0  # ranked by the fused score
    assert any("similarity" in why for why in first["why"]) and first["labels"]
    assert first["t_start"] is None and first["thumbnail"]


def test_files_output_and_filters(setup: Any) -> None:
    _lib, env = setup
    paths = run("search", "a cup of coffee", "-f", "-n", "2", "--all", env=env).stdout.splitlines()
    assert Path(paths[0]).name == "coffee.jpg" and len(paths) == 2
    assert run("search", "coffee", "-f", "--kind", "video", env=env).stdout == ""
    only = run("search", "animal", "-f", "--label", "horse", env=env).stdout.splitlines()
    assert [Path(p).name for p in only] == ["horse.jpg"]
    assert run("search", "a cat", "-f", "--before", "1990", env=env).stdout == ""  # file times are recent


def test_table_output_and_similar(setup: Any) -> None:
    lib, env = setup
    table = run("search", "rocket", "-n", "2", env=env).stdout
    assert "rocket.jpg" in table and "why" in table
    similar = run("similar", str(lib / "photos" / "chelsea.jpg"), "-f", env=env).stdout.splitlines()
    assert similar and all(not p.endswith("chelsea.jpg") for p in similar)


def test_errors_have_clear_messages_and_exit_codes(setup: Any, tmp_path: Path) -> None:
    _lib, env = setup
    assert "give a QUERY" in run("search", env=env, codes=(2,)).stderr
    assert "not a date" in run("search", "cat", "--after", "yesterday", env=env, codes=(2,)).stderr
    assert "nothing to look for" in run("search", "--", "- cat", env=env, codes=(2,)).stderr
    missing = run("similar", str(tmp_path / "nope.jpg"), env=env, codes=(3,)).stderr
    assert "no such file" in missing
    empty = dict(env, CHRONICON_CATALOG=str(tmp_path / "empty-catalog"))
    assert "chronicon scan" in run("search", "cat", env=empty, codes=(3,)).stderr
