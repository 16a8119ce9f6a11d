"""The models that ship in PyPI packages, on real photos: the ImageNet tagger, the COCO detector, ConSE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ai_edge_litert")
pytest.importorskip("cv2")

from chronicon.analyzers.inputs import square_array
from chronicon.embed.conse import ConceptSpace, merge_scores
from chronicon.embed.detector import CocoDetector
from chronicon.embed.tagger import ImageNetTagger, clean_label


def _array(path: Path, side: int) -> np.ndarray:
    return square_array(Image.open(path).convert("RGB"), side)


def test_tagger_names_the_cat(sample_photos: Path) -> None:
    tagger = ImageNetTagger()
    assert len(tagger.labels) == 1000 and tagger.input_side == 280
    top = tagger.top(_array(sample_photos / "chelsea.jpg", 280), 3, 0.0)
    assert "cat" in tagger.labels[top[0][0]]
    assert abs(sum(tagger.probabilities(_array(sample_photos / "coffee.jpg", 280))) - 1) < 1e-3
    with pytest.raises(ValueError, match="280x280x3"):
        tagger.probabilities(np.zeros((10, 10, 3), np.uint8))


def test_detector_finds_cat_and_cup_in_one_batch(sample_photos: Path) -> None:
    detector = CocoDetector()
    cat, coffee = detector.detect(
        [_array(sample_photos / "chelsea.jpg", 300), _array(sample_photos / "coffee.jpg", 300)], 0.5
    )
    assert cat[0].label == "cat" and cat[0].score > 0.5
    assert "cup" in [d.label for d in coffee]
    x0, y0, x1, y1 = coffee[0].box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert detector.detect([], 0.5) == []


def test_clean_label_takes_the_first_synonym_lower_case() -> None:
    assert clean_label("Egyptian cat") == "egyptian cat"
    assert clean_label("tabby, tabby cat") == "tabby"


class _Fixed:
    """A text embedder stand-in with known vectors (ConSE arithmetic only, no model)."""

    def embed_cached(self, texts: list[str], name: str) -> np.ndarray:
        return np.eye(len(texts), 4, dtype=np.float32)


def test_conse_is_the_normalised_weighted_sum() -> None:
    space = ConceptSpace(_Fixed(), ["a", "b", "c"], ["a", "b", "c"], "t")  # type: ignore[arg-type]
    vector = space.combine({"a": 0.6, "b": 0.8, "unknown": 5.0})
    assert vector is not None and np.allclose(vector, [0.6, 0.8, 0, 0])
    assert space.combine({"unknown": 1.0}) is None
    assert merge_scores({"cat": 0.4, "dog": 0.1}, {"cat": 0.9}) == {"cat": 0.9, "dog": 0.1}
