"""The CLIP pass in real scans with tiny open_clip models: per-model spaces, switching back reuses vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("open_clip")

from clipfactory import make_tiny_clip
from mediafactory import make_jpeg


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("clips")
    return make_tiny_clip(base / "model-a", seed=1), make_tiny_clip(base / "model-b", seed=2)


def _library(make_library: Any, model: Path, **extra: Any) -> Any:
    return make_library(**{"clip.enabled": True, "clip.model": f"local-dir:{model}", "clip.batch_size": 4, **extra})


def test_switching_models_keeps_each_space_and_switching_back_costs_nothing(
    tmp_path: Path, make_library: Any, two_models: tuple[Path, Path]
) -> None:
    model_a, model_b = two_models
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for i in range(6):
        make_jpeg(lib_dir / f"p{i}.jpg", size=(40 + i, 30), color=(40 * i, 100, 200 - 30 * i))
    first = _library(make_library, model_a).scan([lib_dir])
    assert first.timings["clip"].items == 6 and first.timings["clip"].errors == 0
    library_a = _library(make_library, model_a)
    space_a = library_a.catalog.vector_spaces()[0]
    assert space_a.startswith("clip-model-a-")
    version_a = library_a.catalog.open_vector_table(space_a).table_version()

    second = _library(make_library, model_b).scan([lib_dir])
    assert second.timings["clip"].items == 6
    library_b = _library(make_library, model_b)
    assert len(library_b.catalog.vector_spaces()) == 2  # the old space is kept

    back = _library(make_library, model_a).scan([lib_dir])
    assert back.counts["unchanged"] == 6
    assert back.timings["clip"].items == 0, "vectors of model A were reused, not recomputed"
    again = _library(make_library, model_a)
    assert again.catalog.open_vector_table(space_a).table_version() == version_a
    hits = again.search("anything", space="clip", limit=3, show_all=True)
    assert len(hits) == 3 and all(h.score is not None for h in hits)


def test_missing_weights_skip_the_pass_with_one_note(tmp_path: Path, make_library: Any) -> None:
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    make_jpeg(lib_dir / "a.jpg")
    summary = make_library(**{"clip.enabled": True, "clip.pretrained": str(tmp_path / "missing.pt")}).scan([lib_dir])
    assert summary.counts["new"] == 1 and summary.counts["failed"] == 0
    notes = [n for n in summary.notes if n.startswith("pass clip skipped")]
    assert len(notes) == 1 and "does not exist" in notes[0]


def test_onnx_backend_in_a_scan(tmp_path: Path, make_library: Any, two_models: tuple[Path, Path]) -> None:
    pytest.importorskip("onnxruntime")
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for i in range(3):
        make_jpeg(lib_dir / f"p{i}.jpg", size=(32, 32 + i))
    summary = _library(make_library, two_models[0], **{"clip.backend": "onnxruntime"}).scan([lib_dir])
    assert summary.timings["clip"].items == 3 and summary.timings["clip"].errors == 0
    assert list((tmp_path / "catalog" / "models" / "onnx").glob("*.onnx"))
