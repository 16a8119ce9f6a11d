"""A model that cannot load degrades its pass (or skips it with one note); it never fails a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import cv2
import pytest

from chronicon.analyzers.base import Analyzer, AssetItem, Outcome
from chronicon.library import Library
from chronicon.types import Phase
from mediafactory import make_jpeg

# OpenCV 5 removed the TensorFlow importer; without the attribute this OpenCV behaves as OpenCV 5 does for us.
OPENCV5_LIKE = "import cv2\ndel cv2.dnn.readNetFromTensorflow\n"


def _photos(folder: Path, sample_photos: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("chelsea", "coffee"):
        shutil.copy(sample_photos / f"{name}.jpg", folder / f"{name}.jpg")
    return folder


def test_tags_without_the_tf_importer_keeps_the_tagger(
    tmp_path: Path, sample_photos: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow")
    lib_dir = _photos(tmp_path / "lib", sample_photos)
    settings = {"tags.enabled": True, "clip.enabled": False, "model_cache": str(model_cache)}
    library = Library(tmp_path / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([lib_dir])
    assert summary.exit_code == 0 and not summary.failures
    notes = [n for n in summary.notes if "COCO detector" in n]
    assert len(notes) == 1 and "readNetFromTensorflow" in notes[0], summary.notes
    cat = library.info(lib_dir / "chelsea.jpg")
    assert cat["status"] == "ok"
    assert any("cat" in label for label in cat["labels"])  # the ImageNet tagger still labels it
    assert json.loads(cat["detections"]) == []
    phases = json.loads(cat["phases"])
    assert phases["tags"]["status"] == "done" and "no-detector" in phases["tags"]["fingerprint"]
    # Unchanged and still without the detector: nothing is redone (the fingerprint knew it was missing).
    again = library.scan([lib_dir])
    assert again.counts["unchanged"] == 2 and again.updated == 0
    # OpenCV fixed: the photos are tagged again, now with the detector's objects.
    monkeypatch.undo()
    fixed = Library(tmp_path / "catalog", overrides=settings, environ={}, entry_points=False).scan([lib_dir])
    assert fixed.updated == 2 and not [n for n in fixed.notes if "COCO detector" in n]
    coffee = library.info(lib_dir / "coffee.jpg")
    assert "cup" in [d["label"] for d in json.loads(coffee["detections"])]


def test_a_broken_detector_graph_degrades_at_load(
    tmp_path: Path, sample_photos: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chronicon.embed import detector

    graph, config = detector.detector_files()
    broken = tmp_path / "broken.pb"
    broken.write_bytes(graph.read_bytes()[:5000])  # a truncated download
    monkeypatch.setattr(detector, "detector_files", lambda: (broken, config))
    lib_dir = _photos(tmp_path / "lib", sample_photos)
    settings = {"tags.enabled": True, "clip.enabled": False, "model_cache": str(model_cache)}
    library = Library(tmp_path / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([lib_dir])
    assert summary.exit_code == 0 and not summary.failures
    assert [n for n in summary.notes if "could not load" in n and "broken.pb" in n], summary.notes
    cat = library.info(lib_dir / "chelsea.jpg")
    assert cat["status"] == "ok" and any("cat" in label for label in cat["labels"])
    # Results made without a part that failed only at load are redone by the next scan.
    monkeypatch.undo()
    fixed = Library(tmp_path / "catalog", overrides=settings, environ={}, entry_points=False).scan([lib_dir])
    assert fixed.updated == 2
    coffee = library.info(lib_dir / "coffee.jpg")
    assert "cup" in [d["label"] for d in json.loads(coffee["detections"])]


class _Exploding(Analyzer):
    """A pass whose model load raises what a broken install raises (not a ModelUnavailableError)."""

    name: ClassVar[str] = "exploding"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    loads: ClassVar[int] = 0

    def _load(self) -> None:
        type(self).loads += 1
        raise AttributeError("module 'cv2.dnn' has no attribute 'readNetFromTensorflow'")

    def prepare(self, item: AssetItem) -> Any:
        self.load()
        return None

    def _run(self, items: Any) -> list[Outcome]:
        return [{} for _ in items]


def test_a_pass_whose_model_cannot_load_is_skipped_not_failed(tmp_path: Path) -> None:
    from chronicon.analyzers.base import AnalyzerContext
    from chronicon.catalog.store import Catalog
    from chronicon.scan.scanner import Scanner

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for n in range(3):
        make_jpeg(lib_dir / f"p{n}.jpg", color=(40 * n, 90, 200))
    catalog = Catalog(tmp_path / "catalog")
    context = AnalyzerContext(config={}, catalog_dir=catalog.dir)
    scanner = Scanner(catalog, [_Exploding(context)], {"workers": 2})
    summary = scanner.scan([str(lib_dir)])
    assert summary.exit_code == 0 and not summary.failures
    assert [n for n in summary.notes if n.startswith("pass exploding skipped") and "AttributeError" in n]
    assert _Exploding.loads == 1  # tried once, not once per file
    row = catalog.row_by_path(str(lib_dir / "p0.jpg"))
    assert row is not None and row["status"] == "ok"
    assert json.loads(row["phases"])["exploding"]["status"] == "skipped"


def test_cli_scan_and_doctor_on_an_opencv_without_the_tf_importer(
    tmp_path: Path, sample_photos: Path, model_cache: Path
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(OPENCV5_LIKE)
    lib_dir = _photos(tmp_path / "lib", sample_photos)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env |= {
        "PYTHONPATH": str(shim),
        "CHRONICON_CATALOG": str(tmp_path / "catalog"),
        "CHRONICON_MODEL_CACHE": str(model_cache),
        "CHRONICON_CLIP__ENABLED": "false",
        "CHRONICON_TRANSCRIBE__ENABLED": "false",
        "CHRONICON_CAPTION__ENABLED": "false",
        "CHRONICON_PLUGINS__DISABLED": "[faces, aesthetic, duplicates, albums, extract]",
    }
    cli = [sys.executable, "-m", "chronicon"]
    scan = subprocess.run([*cli, "scan", "-q", str(lib_dir)], capture_output=True, text=True, env=env, timeout=300)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert "FAILED" not in scan.stdout
    search = subprocess.run([*cli, "search", "a cat", "-f", "--limit", "1"], capture_output=True, text=True, env=env)
    assert search.returncode == 0 and search.stdout.strip().endswith("chelsea.jpg"), search.stdout + search.stderr
    doctor = subprocess.run([*cli, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert doctor.returncode == 0, doctor.stderr
    tags = json.loads(doctor.stdout)["passes"]["tags"]
    assert tags.startswith("degraded") and "readNetFromTensorflow" in tags and "<5" in tags
