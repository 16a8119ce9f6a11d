"""The aesthetic plugin: heuristic parts on controlled degradations, scan columns, sort/filter, the learned head."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image, ImageEnhance, ImageFilter

from chronicon.catalog.lock import ScanLock
from chronicon.library import Library
from mediafactory import make_mp4, make_truncated
from ml_switches import NO_ML
from plugin_cli import PLUGINS_DIR, run_cli, write_cli_config

sys.path.insert(0, str(PLUGINS_DIR))

from chronicon_aesthetic.head import ridge, spearman, standardise
from chronicon_aesthetic.metrics import DEFAULT_WEIGHTS, combine, measure


def score(image: Image.Image) -> float:
    return combine(measure(image), DEFAULT_WEIGHTS)


def noisy(image: Image.Image, sigma: float, seed: int = 0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0.0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def darker(image: Image.Image, factor: float) -> Image.Image:
    return Image.fromarray((np.asarray(image, dtype=np.float64) * factor).astype(np.uint8))


@pytest.fixture(scope="module")
def coffee(sample_photos: Path) -> Image.Image:
    return Image.open(sample_photos / "coffee.jpg").convert("RGB")


def test_each_part_falls_with_its_degradation(coffee: Image.Image) -> None:
    blur = [measure(coffee.filter(ImageFilter.GaussianBlur(r)) if r else coffee)["sharpness"] for r in (0, 1, 2, 4)]
    assert blur == sorted(blur, reverse=True) and blur[0] - blur[-1] > 0.5
    dark = [measure(darker(coffee, f))["exposure"] for f in (1.0, 0.6, 0.35, 0.15)]
    assert dark == sorted(dark, reverse=True) and dark[0] > 0.9 > 0.1 > dark[-1]
    grain = [measure(noisy(coffee, s) if s else coffee)["noise"] for s in (0, 8, 16, 32)]
    assert grain == sorted(grain, reverse=True) and grain[0] - grain[-1] > 0.4
    vivid = [measure(ImageEnhance.Color(coffee).enhance(f))["colorfulness"] for f in (1.0, 0.6, 0.3, 0.0)]
    assert vivid == sorted(vivid, reverse=True) and vivid[-1] < 0.02 < 0.7 < vivid[0]
    overexposed = measure(Image.fromarray(np.clip(np.asarray(coffee, dtype=np.float64) * 2.5, 0, 255).astype(np.uint8)))
    assert overexposed["exposure"] < 0.5 < dark[0]  # clipped highlights are penalised


def test_the_sharp_photo_beats_every_degraded_copy(coffee: Image.Image) -> None:
    best = score(coffee)
    degraded = {
        "blurred": coffee.filter(ImageFilter.GaussianBlur(3)),
        "under-exposed": darker(coffee, 0.15),
        "noisy": noisy(coffee, 25),
        "flat grey": Image.new("RGB", coffee.size, (128, 128, 128)),
    }
    for name, image in degraded.items():
        assert score(image) < best - 0.05, name
    parts = measure(coffee)
    assert set(parts) == {"sharpness", "exposure", "colorfulness", "noise"}
    assert all(0.0 <= v <= 1.0 for v in parts.values())


def test_ridge_and_spearman_are_right() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + 3.0
    xs, _mean, _std = standardise(x)
    weights, bias = ridge(xs, y, 1e-6)
    assert np.allclose(xs @ weights + bias, y, atol=1e-4)
    wide = rng.normal(size=(5, 20))  # n < d: the dual form
    w2, b2 = ridge(wide, np.arange(5.0), 1e-8)
    assert np.allclose(wide @ w2 + b2, np.arange(5.0), atol=1e-4)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])) is None


# -- in a library --------------------------------------------------------------------------------------------
def _degraded_set(sample_photos: Path, folder: Path) -> dict[str, int]:
    """12 pictures: 4 photos × 3 blur levels; the rating is 3 − level (sharper is better)."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings: dict[str, int] = {}
    for name in ("coffee", "chelsea", "astronaut", "rocket"):
        image = Image.open(sample_photos / f"{name}.jpg").convert("RGB")
        for level, radius in enumerate((0.0, 1.5, 4.0)):
            out = folder / f"{name}-{level}.jpg"
            (image.filter(ImageFilter.GaussianBlur(radius)) if radius else image).save(out, quality=92)
            ratings[out.name] = 3 - level
    return ratings


def test_scan_writes_scores_and_sort_and_filter_use_them(
    make_plugin_library: Callable[..., Library], sample_photos: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    coffee = Image.open(sample_photos / "coffee.jpg").convert("RGB")
    coffee.save(photos / "good.jpg", quality=92)
    coffee.filter(ImageFilter.GaussianBlur(3)).save(photos / "blurred.jpg", quality=92)
    darker(coffee, 0.15).save(photos / "dark.jpg", quality=92)
    Image.new("RGB", (300, 200), (128, 128, 128)).save(photos / "grey.png")
    make_truncated(photos / "good.jpg", photos / "broken.jpg", keep_fraction=0.02)
    make_mp4(photos / "clip.mp4")
    lib = make_plugin_library(disabled=("albums",))
    summary = lib.scan([str(photos)])
    assert not summary.plugin_problems
    rows = {
        Path(r["path"]).name: r
        for r in lib.catalog.rows(None, ["path", "aesthetic", "aesthetic_parts", "aesthetic_source", "error"])
    }
    assert rows["broken.jpg"]["aesthetic"] is None and rows["broken.jpg"]["error"]
    for name in ("good.jpg", "blurred.jpg", "dark.jpg", "grey.png", "clip.mp4"):
        assert rows[name]["aesthetic_source"] == "heuristic" and 0.0 <= rows[name]["aesthetic"] <= 1.0
        assert set(json.loads(rows[name]["aesthetic_parts"])) == {"sharpness", "exposure", "colorfulness", "noise"}
    assert rows["good.jpg"]["aesthetic"] > max(rows[n]["aesthetic"] for n in ("blurred.jpg", "dark.jpg", "grey.png"))
    ordered = [Path(h.path).name for h in lib.browse(sort="aesthetic", kind="image")]
    assert ordered[0] == "good.jpg" and "broken.jpg" == ordered[-1]  # no score: last
    high = {Path(h.path).name for h in lib.browse(min_aesthetic=0.6)}
    assert "good.jpg" in high and "dark.jpg" not in high
    assert {Path(h.path).name for h in lib.browse(min_aesthetic=0.0)} == {n for n in rows if n != "broken.jpg"}


def test_disabled_plugin_breaks_nothing(make_plugin_library: Callable[..., Library], sample_photos: Path) -> None:
    lib = make_plugin_library(disabled=("aesthetic", "albums"))
    lib.scan([str(sample_photos)])
    assert "aesthetic" not in lib.catalog.schema.names and "aesthetic" not in lib.sort_keys
    assert len(lib.browse()) == len(list(sample_photos.iterdir()))


@pytest.fixture
def trained_setup(tmp_path: Path, sample_photos: Path, model_cache: Path) -> dict[str, Any]:
    photos = tmp_path / "photos"
    ratings = _degraded_set(sample_photos, photos)
    config = tmp_path / "config.yaml"
    settings: dict[str, Any] = {
        "catalog": str(tmp_path / "catalog"),
        "model_cache": str(model_cache),
        "plugins": {"paths": [str(PLUGINS_DIR)], "disabled": ["faces", "extract", "albums"]},
    }
    for key, value in {**NO_ML, "tags.enabled": True}.items():
        section, name = key.split(".")
        settings.setdefault(section, {})[name] = value
    config.write_text(yaml.safe_dump(settings))
    return {"photos": photos, "ratings": ratings, "config": config, "catalog": tmp_path / "catalog"}


def test_train_uses_the_head_for_new_files_and_reset(
    trained_setup: dict[str, Any], sample_photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos, config = trained_setup["photos"], trained_setup["config"]
    assert run_cli(["scan", str(photos)], config) == 0
    csv = photos / "ratings.csv"
    lines = ["path,rating"] + [f"{name},{rating}" for name, rating in trained_setup["ratings"].items()]
    csv.write_text("\n".join([*lines, "gone.jpg,2"]) + "\n")
    capsys.readouterr()
    assert run_cli(["aesthetic", "train", str(csv), "--json"], config) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rated"] == 12 and report["space"] == "minilm-l6-v2:conse" and report["folds"] == 5
    assert report["unknown"] == [str(photos / "gone.jpg")]
    assert report["cv_spearman"] > 0.6 and report["baseline_spearman"] > 0.6  # blur ranks are learnable
    head = json.loads((trained_setup["catalog"] / "aesthetic" / "head.json").read_text())
    assert head["space"] == report["space"] and head["n"] == 12 and len(head["weights"]) == len(head["mean"])
    assert head["feature_names"][:4] == ["part:sharpness", "part:exposure", "part:colorfulness", "part:noise"]
    lib = Library(config_file=config, environ={}, entry_points=False)
    rows = list(lib.catalog.rows(None, ["path", "aesthetic", "aesthetic_source"]))
    assert {r["aesthetic_source"] for r in rows} == {report["source"]}
    by_name = {Path(r["path"]).name: r["aesthetic"] for r in rows}
    assert by_name["coffee-0.jpg"] > by_name["coffee-2.jpg"] and by_name["chelsea-0.jpg"] > by_name["chelsea-2.jpg"]
    hits = lib.search("a photo", sort="aesthetic", limit=20, min_score=-1.0, show_all=True)
    ranked = [by_name[Path(h.path).name] for h in hits]
    assert len(ranked) == 12 and ranked == sorted(ranked, reverse=True)
    assert {Path(h.path).name for h in lib.search("a photo", min_aesthetic=0.5, min_score=-1.0, limit=20)} == {
        name for name, value in by_name.items() if value >= 0.5
    }
    # a new file indexed by a later scan is scored with the head too
    shutil.copy(sample_photos / "horse.jpg", photos / "horse.jpg")
    assert run_cli(["scan", str(photos)], config) == 0
    new = Library(config_file=config, environ={}, entry_points=False).info(photos / "horse.jpg")
    assert new is not None and new["aesthetic_source"] == report["source"]
    capsys.readouterr()
    assert run_cli(["aesthetic", "show", str(photos / "horse.jpg"), "--json"], config) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["in_catalog"] and shown["source"] == report["source"] and set(shown["parts"]) >= {"noise"}
    assert run_cli(["aesthetic", "reset", "--json"], config) == 0
    assert json.loads(capsys.readouterr().out)["removed"] is True
    assert not (trained_setup["catalog"] / "aesthetic" / "head.json").exists()
    rows = list(Library(config_file=config, environ={}, entry_points=False).catalog.rows(None, ["aesthetic_source"]))
    assert {r["aesthetic_source"] for r in rows} == {"heuristic"}


def test_train_without_vectors_uses_the_parts_and_csv_errors_are_clear(
    tmp_path: Path, sample_photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos"
    ratings = _degraded_set(sample_photos, photos)
    config = write_cli_config(tmp_path, disabled=["faces", "extract", "albums"])
    assert run_cli(["scan", str(photos)], config) == 0
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("file,score\na.jpg,1\n")
    capsys.readouterr()
    assert run_cli(["aesthetic", "train", str(bad_header)], config) == 2
    assert "path,rating" in capsys.readouterr().err
    bad_number = tmp_path / "nan.csv"
    bad_number.write_text("path,rating\ncoffee-0.jpg,great\n")
    assert run_cli(["aesthetic", "train", str(bad_number)], config) == 2
    assert "nan.csv:2" in capsys.readouterr().err
    few = photos / "few.csv"
    few.write_text("path,rating\n" + "\n".join(f"{n},{r}" for n, r in list(ratings.items())[:5]) + "\n")
    assert run_cli(["aesthetic", "train", str(few)], config) == 2
    assert "at least 8" in capsys.readouterr().err
    full = photos / "all.csv"
    full.write_text("path,rating\n" + "\n".join(f"{photos / n},{r * 10}" for n, r in ratings.items()) + "\n")
    assert run_cli(["aesthetic", "train", str(full), "--json"], config) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["space"] is None and report["features"] == 4 and report["unknown"] == []
    assert report["cv_spearman"] > 0.6
    with ScanLock(tmp_path / "catalog"):  # a scan holds the catalog: nothing is written, exit 3
        assert run_cli(["aesthetic", "reset"], config) == 3
    head_file = tmp_path / "catalog" / "aesthetic" / "head.json"
    assert head_file.exists()
    # A score that is not the head's (written by a scan whose end never ran) is caught up by the next scan,
    # found in this catalog, not in state kept by the process.
    lib = Library(config_file=config, environ={}, entry_points=False)
    ids = sorted(r["id"] for r in lib.catalog.rows(None, ["id"]))
    lib.catalog.update_columns([{"id": ids[0], "aesthetic": 0.5, "aesthetic_source": "heuristic"}])
    lib.scan([photos])
    assert lib.catalog.rows_by_id([ids[0]], ["id", "aesthetic_source"])[ids[0]]["aesthetic_source"] == report["source"]
    # A reset cut short after the head was deleted left head scores behind: reset still puts them back.
    head_file.unlink()
    capsys.readouterr()
    assert run_cli(["aesthetic", "reset", "--json"], config) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["removed"] is False and done["rescored"]["heuristic"] == len(ids)
    assert {r["aesthetic_source"] for r in lib.catalog.rows(None, ["aesthetic_source"])} == {"heuristic"}
    assert run_cli(["aesthetic", "reset"], config) == 0
    assert "already in use" in capsys.readouterr().out
    assert run_cli(["aesthetic", "show", str(sample_photos / "moon.jpg"), "--json"], config) == 0
    live = json.loads(capsys.readouterr().out)
    assert live["in_catalog"] is False and live["source"] == "heuristic" and 0 <= live["aesthetic"] <= 1


# -- typed config and typed filters ----------------------------------------------------------------------------
def test_weights_come_from_the_declared_section() -> None:
    from chronicon.api import Section
    from chronicon_aesthetic.analyzer import AestheticPass, weights_from

    assert weights_from(Section.declared("aesthetic", AestheticPass.settings)) == DEFAULT_WEIGHTS
    changed = weights_from(Section.declared("aesthetic", AestheticPass.settings, weight_noise=0.0))
    assert changed == {**DEFAULT_WEIGHTS, "noise": 0.0}


def test_rescore_filters_keep_null_sources(make_plugin_library: Callable[..., Library], tmp_path: Path) -> None:
    """`aesthetic_source` NULL counts as "not the head's" and never as a head's score; missing files are left out."""
    from chronicon_aesthetic.head import Head
    from chronicon_aesthetic.rescore import has_head_scores, scored_rows, unscored_ids

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, colour in (("a.jpg", (200, 40, 40)), ("b.jpg", (40, 200, 40)), ("c.jpg", (40, 40, 200))):
        Image.new("RGB", (64, 48), colour).save(photos / name, quality=90)
    lib = make_plugin_library(disabled=("albums",))
    lib.scan([str(photos)])
    ids = {Path(r["path"]).name: r["id"] for r in lib.catalog.rows(None, ["id", "path"])}
    head = Head(None, 0, [], [], 0.0, [], [], 0.0, 1.0, 0, 1.0, None, None, 0)
    catalog = lib.catalog
    assert sorted(unscored_ids(catalog, head)) == sorted(ids.values()) and not has_head_scores(catalog)
    catalog.update_columns([{"id": ids["a.jpg"], "aesthetic_source": None}])
    catalog.update_columns([{"id": ids["b.jpg"], "aesthetic_source": head.source}])
    assert sorted(unscored_ids(catalog, head)) == sorted([ids["a.jpg"], ids["c.jpg"]]) and has_head_scores(catalog)
    catalog.update_columns([{"id": ids["c.jpg"], "missing": True}])
    assert unscored_ids(catalog, head) == [ids["a.jpg"]]
    assert sorted(r["id"] for r in scored_rows(catalog)) == sorted([ids["a.jpg"], ids["b.jpg"]])
