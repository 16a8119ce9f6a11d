"""The ocr pass on real pictures: RapidOCR's packaged PP-OCRv4 models read a printed page, the gate skips photos
without text, and the one search box finds the page by a phrase printed on it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("ai_edge_litert")
skimage_data = pytest.importorskip("skimage.data")


def _rgb(name: str) -> Any:
    pixels = getattr(skimage_data, name)()
    return np.stack([pixels] * 3, axis=-1) if pixels.ndim == 2 else pixels


def test_reader_reads_a_printed_page_and_the_gate_passes_photos_without_text() -> None:
    from chronicon.embed.ocr import TextReader

    reader = TextReader()
    page = _rgb("page")
    assert reader.has_text(page)
    lines = reader.read(page)
    words = " ".join(line.text for line in lines).lower()
    assert "markers of the coins" in words and "background" in words
    assert all(0.0 <= v <= 1.0 for line in lines for v in line.box) and all(line.score >= 0.5 for line in lines)
    assert [line.box[1] for line in lines] == sorted(line.box[1] for line in lines)  # top to bottom
    for name in ("coffee", "chelsea", "rocket"):
        assert not reader.has_text(_rgb(name)), name


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    from PIL import Image

    from chronicon.library import Library

    root = tmp_path_factory.mktemp("ocr-lib")
    lib_dir = root / "library"
    lib_dir.mkdir()
    for name in ("chelsea", "coffee", "coins"):
        shutil.copy(sample_photos / f"{name}.jpg", lib_dir / f"{name}.jpg")
    Image.fromarray(_rgb("page")).save(lib_dir / "IMG_4242.jpg", quality=92)
    settings = {"tags.enabled": True, "clip.enabled": False, "ocr.enabled": True, "transcribe.enabled": False,
                "caption.enabled": False, "model_cache": str(model_cache)}  # fmt: skip
    library = Library(root / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([lib_dir])
    return library, summary, lib_dir


def test_scan_stores_the_text_with_boxes(scanned: Any) -> None:
    library, summary, lib_dir = scanned
    assert summary.counts["failed"] == 0
    page = library.info(lib_dir / "IMG_4242.jpg")
    assert "segmentation" in page["ocr_text"].lower()
    lines = json.loads(page["ocr_lines"])
    assert lines and {"text", "score", "box", "segment"} <= set(lines[0]) and lines[0]["segment"] == 0
    assert json.loads(page["phases"])["ocr"]["status"] == "done"
    coffee = library.info(lib_dir / "coffee.jpg")
    assert coffee["ocr_text"] is None and json.loads(coffee["ocr_lines"]) == []


def test_a_phrase_from_the_page_finds_it_first(scanned: Any) -> None:
    library, _, _ = scanned
    hits = library.search("markers of the coins and the background")
    assert hits[0].path.endswith("IMG_4242.jpg")
    assert any("text" in why for why in hits[0].why)
    # the cutoff: the photos that only share a word's meaning ("coins") stay below the printed phrase
    assert len(hits) + hits.hidden >= 2


def test_text_filter_keeps_only_pictures_whose_text_holds_the_words(scanned: Any) -> None:
    library, _, _ = scanned
    hits = library.search("a cat", text="SEGMENTATION", show_all=True)
    assert [Path(h.path).name for h in hits] == ["IMG_4242.jpg"]
    assert library.search("a cat", text="no such words anywhere", show_all=True) == []
