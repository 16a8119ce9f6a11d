"""A long shot seen through several frames: search finds the video by what any of its frames shows, and the hit's
moment (`t`) is the frame that matched, not the shot's start. One pan across three real photos, no cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ai_edge_litert")

from chronicon.evaluation.moments import PanClip, make_pan_clip


@pytest.fixture(scope="module")
def pan_library(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    from chronicon.library import Library

    root = tmp_path_factory.mktemp("moments")
    pictures = [sample_photos / f"{name}.jpg" for name in ("coffee", "chelsea", "rocket")]
    clip = make_pan_clip(pictures, root / "library" / "pan.mp4", size=(480, 270), fps=12, hold=5.0, move=1.5)
    (root / "library" / "still.mp4").write_bytes(b"")  # an empty file: reported, the scan goes on
    settings = {"clip.enabled": False, "model_cache": str(model_cache), "tags.enabled": True, "ocr.enabled": False}
    library = Library(root / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([root / "library"])
    assert summary.counts["new"] >= 1 and len(summary.failures) == 1, summary.failures
    return library, clip


@pytest.mark.parametrize(("query", "photo"), [("a cup of coffee", 0), ("a cat", 1), ("rocket", 2)])
def test_the_moment_is_the_frame_that_matched(pan_library: tuple[Any, PanClip], query: str, photo: int) -> None:
    library, clip = pan_library
    row = library.info(clip.path)
    hits = library.search(query, limit=1, hybrid=False)
    assert hits and Path(hits[0].path) == clip.path, [h.why for h in hits]
    hit = hits[0]
    view = clip.views[photo]
    assert hit.t is not None and view.t_from <= hit.t <= view.t_to, (hit.t, view, row["segments"])
    assert hit.to_json()["t"] == hit.t
    assert hit.t_start is not None and hit.t_start <= hit.t <= (hit.t_end or clip.duration)
