"""The one runtime: every model is registered with its backends and precisions, every pass that runs a model
reads the same runtime keys through it, and an impossible wish falls back to the model's own choice, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon.config import Section
from chronicon.errors import ConfigError
from chronicon.library import Library
from chronicon.runtime import device as device_module
from chronicon.runtime.backends import RUNTIME_SETTINGS, TORCH_BACKENDS
from chronicon.runtime.models import _reset_choices, choices, choose, model_kinds, settle
from chronicon.runtime.runner import BUILDERS

# Passes that read pixels or files with no learned model (their results are plain image statistics).
# (shots runs TransNetV2, its accurate detector; duplicates hashes video frames)
MODEL_FREE = {"metadata", "xmp", "live", "raw_pairs", "content", "bursts", "aesthetic", "summarize", "duplicates"}


def _section(**values: object) -> Section:
    return Section.declared("test", RUNTIME_SETTINGS, **values)


@pytest.fixture(autouse=True)
def _fresh_choices() -> None:
    _reset_choices()


def test_every_registered_pass_runs_its_models_through_the_one_runtime(tmp_path: Path) -> None:
    library = Library(tmp_path / "catalog", environ={}, entry_points=True)
    kinds = model_kinds()
    without = set()
    for analyzer in library.analyzers():
        names = analyzer.runtime_models()
        if not names:
            without.add(analyzer.name)
            continue
        for name in (*analyzer.model_names, *names):
            assert name in kinds, f"pass {analyzer.name} runs {name!r}, which runtime.models does not know"
        missing = [key for key in RUNTIME_SETTINGS if key not in analyzer.settings]
        assert not missing, f"pass {analyzer.name} lacks the runtime keys {missing}"
        for choice in analyzer.runtime_choices():  # default settings always give a choice that runs here
            assert choice.backend in kinds[choice.model].on(choice.device)
    assert without == MODEL_FREE & {a.name for a in library.analyzers()}


def test_the_backend_registry_and_the_builders_agree() -> None:
    assert set(TORCH_BACKENDS) == set(BUILDERS)
    assert TORCH_BACKENDS["tensorrt"].fallback("cuda") == "amp"
    assert TORCH_BACKENDS["tensorrt"].fallback("cpu") == "eager"


def test_auto_on_cpu_picks_what_runs_here() -> None:
    clip = choose("clip-image", _section(), pass_name="clip")
    assert clip.device == "cpu" and clip.backend in ("eager", "amp") and clip.batch_size == 32
    assert clip.reason == "automatic"
    whisper = choose("whisper", _section(), pass_name="transcribe")
    assert (whisper.backend, whisper.precision) == ("ctranslate2", "int8")
    tagger = choose("imagenet-tagger", _section(threads=3), pass_name="tags")
    assert (tagger.device, tagger.backend, tagger.precision, tagger.threads) == ("cpu", "litert", "int8", 3)


def test_wishes_the_model_or_machine_cannot_meet_fall_back_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 0)
    clip = choose("clip-image", _section(device="cuda", backend="litert", precision="int8"), pass_name="clip")
    assert clip.device == "cpu" and clip.backend in ("eager", "amp")
    assert "device cuda is not available" in clip.reason
    assert "backend litert does not run clip-image" in clip.reason
    assert "precision int8" in clip.reason
    tagger = choose("imagenet-tagger", _section(device="cuda", precision="fp16"), pass_name="tags")
    assert (tagger.device, tagger.precision) == ("cpu", "int8")
    assert "CPU only" in tagger.reason and "not fp16" in tagger.reason
    whisper = choose("whisper", _section(precision="fp32", batch_size="3"), pass_name="transcribe")
    assert (whisper.precision, whisper.batch_size) == ("fp32", 3) and whisper.reason == "as configured"
    with pytest.raises(ConfigError):
        choose("no-such-model", _section())


def test_on_a_gpu_the_models_get_their_gpu_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setattr(device_module, "_cuda_count", lambda: 1)
    whisper = choose("whisper", _section(), pass_name="transcribe")
    if whisper.device == "cuda":  # (CTranslate2 itself must see the GPU, which a CPU machine's cannot)
        assert whisper.precision == "fp16"
    else:  # a GPU that only torch claims to see: faster-whisper stays on the CPU, and says why
        assert whisper.device == "cpu" and "nothing runs whisper on cuda" in whisper.reason
        assert whisper.precision == "int8"
    captioner = choose("captioner", _section(), pass_name="caption")
    assert captioner.device == "cuda" and captioner.precision == "4bit"
    yolo = choose("yolo-detector", _section(precision="fp16"), pass_name="tags")
    assert (yolo.device, yolo.backend, yolo.precision) == ("cuda", "ultralytics", "fp16")
    clip = choose("clip-image", _section(), pass_name="clip")
    assert (clip.backend, clip.precision, clip.batch_size) == ("amp", "fp16", None)  # None: probe upwards


def test_choices_are_recorded_and_settled_by_what_loaded() -> None:
    choose("clip-image", _section(backend="compile"), pass_name="clip")
    settle("clip-image", device="cpu", backend="eager", precision="fp32")
    [recorded] = [c for c in choices() if c["model"] == "clip-image"]
    assert recorded["backend"] == "eager" and "ran with eager fp32" in recorded["reason"]
    settle("text-embedder", device="cpu", backend="onnxruntime", precision="fp32")
    assert any(c["model"] == "text-embedder" and c["pass_name"] == "" for c in choices())


def test_doctor_and_the_scan_summary_report_each_models_choice(tmp_path: Path) -> None:
    library = Library(tmp_path / "catalog", environ={}, entry_points=False)
    report = library.doctor(load_models=False)
    ready = {name for name, state in report["passes"].items() if not state.startswith("skipped")}
    assert report["models"], report["passes"]
    for entry in report["models"]:
        assert entry["pass_name"] in ready or entry["pass_name"] == ""
        assert {"device", "backend", "precision", "batch_size", "threads", "reason"} <= set(entry)


def test_scan_precision_reaches_every_pass_and_a_model_that_cannot_says_so(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from mediafactory import make_jpeg

    root = tmp_path / "photos"
    root.mkdir()
    make_jpeg(root / "one.jpg", size=(640, 480), pattern=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env |= {"CHRONICON_CATALOG": str(tmp_path / "catalog"), "CHRONICON_CLIP__ENABLED": "false",
            "CHRONICON_TRANSCRIBE__ENABLED": "false", "CHRONICON_CAPTION__ENABLED": "false"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "chronicon", "scan", "--precision", "fp16", "--device", "cpu", "--json", str(root)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    models = {m["model"]: m for m in json.loads(proc.stdout)["models"]}
    tagger = models["imagenet-tagger"]
    assert (tagger["device"], tagger["backend"], tagger["precision"]) == ("cpu", "litert", "int8")
    assert tagger["requested"]["precision"] == "fp16" and "not fp16; using int8" in tagger["reason"]
