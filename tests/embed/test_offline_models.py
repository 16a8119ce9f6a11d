"""The models that ship in PyPI packages, on real photos: the ImageNet tagger, the COCO detector, ConSE."""

from __future__ import annotations

import json
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


def test_yolo_built_from_its_yaml_runs_on_a_batch(tmp_path: Path, sample_photos: Path) -> None:
    pytest.importorskip("ultralytics")
    from ultralytics import YOLO

    from chronicon.embed.yolo import YoloDetector

    weights = tmp_path / "yolo-random.pt"
    YOLO("yolov8n.yaml").save(str(weights))  # random weights, saved as ultralytics saves checkpoints
    detector = YoloDetector(str(weights), device="cpu", imgsz=160)
    images = [detector.prepare(Image.open(sample_photos / name)) for name in ("chelsea.jpg", "coffee.jpg")]
    assert images[0].shape[2] == 3 and max(images[0].shape[:2]) <= 160
    found = detector.detect(images, 0.0001)  # random weights: boxes of any class, but real ones
    assert len(found) == 2
    for detections in found:
        assert all(0 <= v <= 1 for d in detections for v in d.box)
        assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    only = YoloDetector(str(weights), device="cpu", imgsz=160, classes=[detector.names[0]])
    assert all(d.label == detector.names[0] for ds in only.detect(images, 0.0001) for d in ds)
    with pytest.raises(Exception, match="none of the classes"):
        YoloDetector(str(weights), device="cpu", classes=["unicorn"])


def test_yolo_backend_in_a_scan_and_fallback(
    tmp_path: Path, make_ml_library: object, sample_photos: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("ultralytics")
    import shutil

    from ultralytics import YOLO

    weights = tmp_path / "yolo-random.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(sample_photos / "chelsea.jpg", lib / "a.jpg")
    build = make_ml_library  # type: ignore[assignment]
    summary = build(**{"tags.detector_backend": "yolo", "tags.detector_model": str(weights),  # type: ignore[operator]
                       "tags.detector_imgsz": 160, "transcribe.enabled": False}).scan([lib])  # fmt: skip
    assert summary.counts["new"] == 1 and not summary.failures
    scanned = build(**{"transcribe.enabled": False})  # type: ignore[operator]
    phases = scanned.info(lib / "a.jpg")["phases"]
    fingerprint = (json.loads(phases) if isinstance(phases, str) else phases)["tags"]
    assert f"yolo-{weights}" in str(fingerprint), fingerprint  # YOLO ran, not the SSD it would fall back to
    assert "using the offline SSD-MobileNet detector instead" not in caplog.text
    missing = build(**{"tags.detector_backend": "yolo", "tags.detector_model": str(tmp_path / "no.pt"),  # type: ignore[operator]
                       "transcribe.enabled": False})  # fmt: skip
    again = missing.scan([lib], full=True)  # falls back to the offline detector, the scan goes on
    assert not again.failures
    assert "using the offline SSD-MobileNet detector instead" in caplog.text
    assert "cat" in json.dumps(missing.info(lib / "a.jpg")["detections"])


def test_yolo_tensorrt_on_cpu_falls_back_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("ultralytics")
    import logging

    from ultralytics import YOLO

    from chronicon.embed.yolo import YoloDetector

    weights = tmp_path / "yolo-random.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    with caplog.at_level(logging.WARNING, logger="chronicon.runtime"):
        YoloDetector(str(weights), device="cpu", runtime="tensorrt")
        YoloDetector(str(weights), device="cpu", runtime="tensorrt")
    assert len([r for r in caplog.records if "TensorRT" in r.getMessage()]) == 1
