"""The captioner through the real transformers loaders on a tiny random SmolVLM (and a peft LoRA adapter):
captions per photo and per video shot, stored, embedded, searchable; 4-bit and memory checks on CPU."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("num2words")

from chronicon.embed import captioner as captioner_module
from chronicon.embed.captioner import Captioner
from chronicon.errors import ModelUnavailableError
from mediafactory import make_jpeg, make_mp4
from vlmfactory import make_lora_adapter, make_tiny_vlm


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-smolvlm")


def test_loads_and_captions_a_batch(tiny_vlm: Path) -> None:
    from PIL import Image

    model = Captioner(str(tiny_vlm), device="cpu", max_new_tokens=6)
    images = [Image.new("RGB", (80, 60), (200, 30, 30)), Image.new("RGB", (40, 90), (30, 30, 200))]
    captions = model.caption(images, batch_size=2)
    assert len(captions) == 2 and all(isinstance(c, str) and c for c in captions)
    assert model.caption(images[:1]) == captions[:1]  # greedy: repeatable, batching does not change it
    assert model.info.model == str(tiny_vlm) and model.info.device == "cpu" and not model.info.quantized


def test_lora_adapter_loads_through_peft(tiny_vlm: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from PIL import Image

    adapter = make_lora_adapter(tiny_vlm, tmp_path / "adapter")
    image = [Image.new("RGB", (64, 64), (10, 200, 10))]
    plain = Captioner(str(tiny_vlm), device="cpu", max_new_tokens=8).caption(image)
    tuned = Captioner(str(tiny_vlm), device="cpu", max_new_tokens=8, lora=str(adapter))
    assert tuned.info.lora == str(adapter)
    assert tuned.caption(image) != plain  # the adapter's weights take part


def test_4bit_on_cpu_falls_back_with_one_warning(tiny_vlm: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chronicon.runtime"):
        first = Captioner(str(tiny_vlm), device="cpu", quantization="4bit")
        Captioner(str(tiny_vlm), device="cpu", quantization="4bit")
    assert not first.info.quantized and "not quantized" in " ".join(first.info.notes)
    assert len([r for r in caplog.records if "4-bit" in r.getMessage()]) <= 1


def test_memory_check_refuses_clearly(tiny_vlm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(captioner_module, "available_memory", lambda device: 1000)
    with pytest.raises(ModelUnavailableError, match="GiB free"):
        Captioner(str(tiny_vlm), device="cpu")


def test_caption_pass_in_a_scan(tiny_vlm: Path, tmp_path: Path, make_ml_library: Any) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_jpeg(lib / "photo.jpg", size=(96, 64))
    make_mp4(lib / "clip.mp4", seconds=3.0, fps=10, size=(96, 64), cuts=[1.5])
    settings = {"caption.enabled": True, "caption.model": str(tiny_vlm), "caption.max_new_tokens": 5,
                "tags.enabled": False, "transcribe.enabled": False}  # fmt: skip
    summary = make_ml_library(**settings).scan([lib])
    assert summary.counts["new"] == 2 and not summary.failures, summary.failures
    library = make_ml_library(**settings)
    photo = library.info(lib / "photo.jpg")
    video = library.info(lib / "clip.mp4")
    assert photo["caption"] and photo["caption_text"]
    shots = json.loads(video["segment_captions"])
    assert sorted(shots) == ["1", "2"] and all(shots.values())
    assert video["summary"] and shots["1"] in video["summary"] and video["title"]
    table = library.catalog.open_vector_table("minilm-l6-v2:caption")
    assert table is not None and table.count() == 1 + 3  # the photo; the video's poster and its two shots
    # Captioned but not tagged: the caption space is what text queries search; a caption finds its asset.
    hits = library.search(photo["caption"], limit=2)
    assert library.search_engine.encoder().kind == "caption"
    assert Path(hits[0].path).name in ("photo.jpg", "clip.mp4") and hits[0].score > 0.99
    assert any(w.startswith("caption") or "similarity" in w for w in hits[0].why)


def test_missing_model_skips_the_pass_with_one_note(tmp_path: Path, make_ml_library: Any) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    make_jpeg(lib / "a.jpg")
    summary = make_ml_library(**{"caption.enabled": True, "caption.model": str(tmp_path / "nope"),
                                 "tags.enabled": False}).scan([lib])  # fmt: skip
    notes = [n for n in summary.notes if n.startswith("pass caption skipped")]
    assert len(notes) == 1 and summary.counts["failed"] == 0


def test_caption_command_on_a_photo_and_a_video(tiny_vlm: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    make_jpeg(tmp_path / "photo.jpg", size=(96, 64))
    make_mp4(tmp_path / "clip.mp4", seconds=2.0, fps=10, size=(96, 64))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env["CHRONICON_CATALOG"] = str(tmp_path / "catalog")
    cli = [sys.executable, "-m", "chronicon", "caption", "--model", str(tiny_vlm), "--max-tokens", "4"]
    out = subprocess.run([*cli, str(tmp_path / "photo.jpg"), "--verbose", "--save", "result.json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() and "inference" in out.stderr and "saved " in out.stderr
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["model"] == str(tiny_vlm) and saved["device"] == "cpu" and saved["quantized"] is False
    assert set(saved["timing"]) >= {"model_load_s", "inference_s", "total_s"}
    out = subprocess.run([*cli, str(tmp_path / "clip.mp4"), "--frames", "3", "--no-save", "--json",
                          "--no-quantization"], capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["frames"]) == 3 and result["description"].count("[00:00:0") == 3
    assert "saved" not in result
    # Nothing lands in the current folder unless --save names a file (--no-save is still accepted, a no-op).
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["result.json"]
    missing = subprocess.run([sys.executable, "-m", "chronicon", "caption", "--model", str(tmp_path / "nope"),
                              str(tmp_path / "photo.jpg")], capture_output=True, text=True, env=env)  # fmt: skip
    assert missing.returncode == 3 and "does not exist" in missing.stderr
