"""The offline ML pass end to end on real photos: labels, detections, ConSE vectors, and search over them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("cv2")

from mediafactory import make_mp4, make_text_as

# Plain queries and the photo each must find first. The tagger/detector know these subjects; the scikit-image
# moon and coins are in the library as distractors (neither model has a class for them).
QUERIES = {
    "cat": "chelsea",
    "a cup of coffee": "coffee",
    "rocket": "rocket",
    "horse": "horse",
    "a camera on a tripod": "camera",
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    from chronicon.library import Library

    root = tmp_path_factory.mktemp("ml-lib")
    lib_dir = root / "library"
    shutil.copytree(sample_photos, lib_dir)
    make_text_as(lib_dir / "broken.jpg")
    make_mp4(lib_dir / "clip.mp4", seconds=1.0)
    settings = {"tags.enabled": True, "clip.enabled": False, "model_cache": str(model_cache)}
    library = Library(root / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([lib_dir])
    return library, summary, lib_dir


def test_scan_labels_photos_and_reports_broken_files(scanned: Any) -> None:
    library, summary, lib_dir = scanned
    assert summary.counts["new"] == 9 and summary.counts["failed"] == 1
    assert any(f.path.endswith("broken.jpg") for f in summary.failures)
    cat = library.info(lib_dir / "chelsea.jpg")
    assert "cat" in cat["labels"] or any("cat" in label for label in cat["labels"])
    coffee = library.info(lib_dir / "coffee.jpg")
    detections = json.loads(coffee["detections"])
    assert "cup" in [d["label"] for d in detections]
    assert all(0 <= v <= 1 for d in detections for v in d["box"])
    assert coffee["label_scores"] == sorted(coffee["label_scores"], reverse=True)
    phases = json.loads(coffee["phases"])
    assert phases["tags"]["status"] == "done"


def test_object_counts_follow_the_detections(scanned: Any) -> None:
    library, _, _ = scanned
    for row in library.catalog.rows(where="kind = 'image' AND status = 'ok'"):
        counts: dict[str, int] = {}
        for det in json.loads(row["detections"]):
            counts[det["label"]] = counts.get(det["label"], 0) + 1
        expected = sorted(f"{label}#{n}" for label, c in counts.items() for n in range(1, c + 1))
        assert sorted(row["object_counts"]) == expected
        for label, count in counts.items():
            found = library.search("anything", min_counts={label: count}, limit=50, show_all=True)
            assert row["path"] in [h.path for h in found]


def test_conse_vectors_are_stored_per_space(scanned: Any) -> None:
    library, _, lib_dir = scanned
    spaces = library.catalog.vector_spaces()
    assert spaces == ["minilm-l6-v2:conse"]
    table = library.catalog.open_vector_table(spaces[0])
    assert table.dim == 384 and table.count() >= 8  # photos and the video poster
    chelsea = library.info(lib_dir / "chelsea.jpg")
    (rows,) = table.vectors_for([chelsea["id"]]).values()
    assert np.isclose(np.linalg.norm(rows[0].vector), 1.0, atol=1e-5)
    assert rows[0].content_hash == chelsea["content_hash"]


@pytest.mark.parametrize(("query", "expected"), QUERIES.items())
def test_plain_query_finds_the_photo_first(scanned: Any, query: str, expected: str) -> None:
    library, _, _ = scanned
    hits = library.search(query, limit=3)
    assert Path(hits[0].path).stem == expected, [(h.path, h.score, h.why) for h in hits]
    assert hits[0].why


def test_label_filter_and_kind_filter(scanned: Any) -> None:
    library, _, _ = scanned
    hits = library.search("animal", labels=["horse"], show_all=True)
    assert [Path(h.path).stem for h in hits] == ["horse"]
    videos = library.search("anything at all", kind="video", show_all=True)
    assert [Path(h.path).name for h in videos] == ["clip.mp4"]


def test_similar_photo_finds_itself_excluded_and_works_for_new_files(scanned: Any, sample_photos: Path) -> None:
    library, _, lib_dir = scanned
    hits = library.similar(lib_dir / "chelsea.jpg", limit=3)
    assert all(Path(h.path).name != "chelsea.jpg" for h in hits)
    # A file outside the catalog is embedded on the fly with the scan's own models.
    outside = library.similar(sample_photos / "coffee.jpg", limit=1)
    assert Path(outside[0].path).stem == "coffee"


def test_rescan_does_nothing_and_changed_file_gets_new_vectors(scanned: Any) -> None:
    library, _, lib_dir = scanned
    again = library.scan([lib_dir])
    assert again.counts["unchanged"] == 10 and "tags" not in {n for n, t in again.timings.items() if t.items}
