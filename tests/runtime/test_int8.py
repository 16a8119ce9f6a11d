"""int8 on the CPU: the CLIP image tower quantized through ONNX Runtime stays within cosine 0.99 of fp32 on real
photos, is cached beside the ONNX export, and the automatic choice keeps it only when measured faster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon.config import Section
from chronicon.runtime import device
from chronicon.runtime import runner as runner_module
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.runtime.models import _reset_choices, choices, choose
from chronicon.runtime.runner import INT8_RECIPE, MIN_COSINE, Measured, pick_measured, prepare_model
from clipfactory import make_tiny_clip

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
nn = torch.nn

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


@pytest.fixture(autouse=True)
def _fresh() -> None:
    device._reset_warnings()
    _reset_choices()


def photos(side: int) -> list[np.ndarray]:
    """Real photos shipped with scikit-image, centre-cropped to side x side RGB (CLIP's preprocessing)."""
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    from chronicon.analyzers.inputs import center_crop_array

    return [center_crop_array(Image.fromarray(getattr(data, name)()[..., :3]), side) for name in PHOTOS]


class Mlp(nn.Module):
    """Four linear layers: enough for the quantizer to keep the first and last in fp32 and quantize the rest."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(
            nn.Linear(48, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 16)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))  # type: ignore[no-any-return]


def _batch(n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 3, 4, 4), dtype=np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))  # type: ignore[no-any-return]


def test_int8_clip_image_tower_matches_fp32_on_real_photos(tmp_path: Path) -> None:
    from chronicon.embed.clip import ClipModel, ClipSpec

    spec = ClipSpec(f"local-dir:{make_tiny_clip(tmp_path / 'tiny-clip')}", None)
    fp32 = ClipModel(spec, device="cpu", backend="eager", precision="fp32", cache_dir=tmp_path / "cache")
    int8 = ClipModel(spec, device="cpu", backend="onnxruntime", precision="int8", cache_dir=tmp_path / "cache")
    images = photos(int8.image_size)
    reference = fp32.encode_images(images)
    quantized = int8.encode_images(images)
    run = int8.image_runner()
    assert (run.backend, run.precision, run.device) == ("onnxruntime", "int8", "cpu")
    assert run.onnx_path is not None and run.onnx_path.name.endswith(f".{INT8_RECIPE}.onnx")
    export = run.onnx_path.with_name(run.onnx_path.name.split(".")[0] + ".onnx")  # the fp32 export, beside it
    assert export.is_file() and run.onnx_path.stat().st_size < export.stat().st_size
    cosines = _cosines(quantized, reference)
    # measured here (tiny random open_clip, 32 px): every photo about 0.9999
    print("int8 vs fp32 cosine per photo:", dict(zip(PHOTOS, np.round(cosines, 5).tolist(), strict=True)))
    assert cosines.min() >= MIN_COSINE, cosines


def test_int8_is_cached_beside_the_export_and_falls_back_to_eager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch()
    run = prepare_model(Mlp(), name="mlp", fingerprint="w1", example=batch[:1], backend="onnxruntime",
                        precision="int8", cache_dir=tmp_path)  # fmt: skip
    assert (run.backend, run.precision) == ("onnxruntime", "int8")
    folder = tmp_path / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["mlp-w1.int8v1.onnx", "mlp-w1.onnx"]  # no temp files left
    with torch.no_grad():
        reference = Mlp()(torch.from_numpy(batch)).numpy()
    assert _cosines(run(batch), reference).min() >= MIN_COSINE

    def no_quantize(*args: object, **kwargs: object) -> None:
        raise AssertionError("quantized again although the cached file exists")

    monkeypatch.setattr(runner_module, "_quantize_int8", no_quantize)
    again = prepare_model(Mlp(), name="mlp", fingerprint="w1", example=batch[:1], backend="onnxruntime",
                          precision="int8", cache_dir=tmp_path)  # fmt: skip
    assert again.precision == "int8"
    np.testing.assert_allclose(again(batch), run(batch), atol=1e-6)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("quantizer exploded")

    monkeypatch.setattr(runner_module, "_quantize_int8", broken)
    fallback = prepare_model(Mlp(), name="mlp", fingerprint="w2", example=batch[:1], backend="onnxruntime",
                             precision="int8", cache_dir=tmp_path)  # fmt: skip
    assert (fallback.backend, fallback.precision) == ("eager", "fp32")
    np.testing.assert_allclose(fallback(batch), reference, atol=1e-5)


def _measured_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speeds: list[float], fingerprint: str) -> object:
    """A runner chosen automatically (eager fp32) with int8 as the alternative, timed with fixed figures."""
    monkeypatch.setattr(runner_module, "_images_per_s", lambda forwards, batch, rounds: list(speeds))
    return prepare_model(Mlp(), name="mlp", fingerprint=fingerprint, example=_batch()[:1], backend="eager",
                         precision="fp32", cache_dir=tmp_path, alternatives=[("onnxruntime", "int8")],
                         batch_size=16)  # fmt: skip


@pytest.mark.parametrize("int8_speed", [8.0, 10.0, 11.9])
def test_auto_never_picks_int8_when_it_is_not_faster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, int8_speed: float
) -> None:
    run = _measured_runner(tmp_path, monkeypatch, [10.0, int8_speed], "slow")
    assert run.deciding  # type: ignore[attr-defined]
    batch = _batch(5)
    out = run(batch)  # type: ignore[operator]
    assert out.shape == (5, 16)
    assert (run.backend, run.precision) == ("eager", "fp32")  # type: ignore[attr-defined]
    [note] = run.notes  # type: ignore[attr-defined]
    assert "measured at batch 16" in note and "using eager fp32" in note and "onnxruntime int8" in note
    with torch.no_grad():
        np.testing.assert_allclose(out, Mlp()(torch.from_numpy(batch)).numpy(), atol=1e-5)


def test_auto_picks_int8_when_measured_faster_and_close_and_remembers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _measured_runner(tmp_path, monkeypatch, [10.0, 12.5], "fast")
    out = run(_batch(5))  # type: ignore[operator]
    assert (run.backend, run.precision) == ("onnxruntime", "int8")  # type: ignore[attr-defined]
    assert "(1.25x)" in run.notes[0] and "using onnxruntime int8" in run.notes[0]  # type: ignore[attr-defined]
    with torch.no_grad():
        assert _cosines(out, Mlp()(torch.from_numpy(_batch(5))).numpy()).min() >= MIN_COSINE
    assert (tmp_path / "onnx" / "mlp-fast.measured.json").is_file()

    def no_timing(*args: object, **kwargs: object) -> list[float]:
        raise AssertionError("measured again although the decision is recorded")

    monkeypatch.setattr(runner_module, "_images_per_s", no_timing)
    again = prepare_model(Mlp(), name="mlp", fingerprint="fast", example=_batch()[:1], backend="eager",
                          precision="fp32", cache_dir=tmp_path, alternatives=[("onnxruntime", "int8")],
                          batch_size=16)  # fmt: skip
    again(_batch(3))
    assert (again.backend, again.precision) == ("onnxruntime", "int8")
    assert "as measured on" in again.notes[0]


def test_pick_measured_never_keeps_anything_slower_than_eager_fp32() -> None:
    eager = Measured("eager", "fp32", 10.0)
    amp = Measured("amp", "bf16", 8.0, 0.999)
    int8 = Measured("onnxruntime", "int8", 11.0, 0.999)
    kept, note = pick_measured(amp, eager, [int8])
    assert kept == eager and "slower than eager fp32" in note  # amp slower: eager; int8 only 1.1x of that
    kept, _ = pick_measured(amp, eager, [Measured("onnxruntime", "int8", 12.5, 0.999)])
    assert kept.label == "onnxruntime int8"
    kept, note = pick_measured(eager, eager, [Measured("onnxruntime", "int8", 30.0, 0.95)])
    assert kept == eager and "cosine to fp32 0.95000" in note  # fast but too far from fp32
    fast_amp = Measured("amp", "bf16", 20.0, 0.998)
    kept, _ = pick_measured(fast_amp, eager, [Measured("onnxruntime", "int8", 22.0, 0.999)])
    assert kept == fast_amp  # 1.1x of the automatic choice is not enough, though 2.2x of eager


def _section(**values: object) -> Section:
    return Section.declared("test", RUNTIME_SETTINGS, **values)


def test_choose_measures_int8_only_for_an_automatic_choice_and_runs_it_when_asked() -> None:
    auto = choose("clip-image", _section(), pass_name="clip")
    assert auto.device == "cpu" and auto.backend in ("eager", "amp")
    assert auto.alternatives == (("onnxruntime", "int8"),) and auto.reason == "automatic"
    assert choose("clip-image", _section(backend="eager"), pass_name="clip").alternatives == ()
    assert choose("clip-image", _section(precision="fp32"), pass_name="clip").alternatives == ()
    asked = choose("clip-image", _section(precision="int8"), pass_name="clip")
    assert (asked.backend, asked.precision, asked.alternatives) == ("onnxruntime", "int8", ())
    assert asked.reason == "as configured"
    explicit = choose("clip-image", _section(backend="onnxruntime", precision="int8"), pass_name="clip")
    assert (explicit.backend, explicit.precision) == ("onnxruntime", "int8")


def test_the_clip_model_measures_on_its_first_batch_and_reports_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chronicon.embed.clip import ClipModel, ClipSpec

    choice = choose("clip-image", _section(batch_size="4"), pass_name="clip")
    spec = ClipSpec(f"local-dir:{make_tiny_clip(tmp_path / 'tiny-clip')}", None)
    clip = ClipModel(spec, device=choice.device, backend=choice.backend, precision=choice.precision,
                     cache_dir=tmp_path / "cache")  # fmt: skip

    def int8_at_half_speed(forwards: list[object], batch: np.ndarray, rounds: int) -> list[float]:
        return [10.0] * (len(forwards) - 1) + [5.0]  # int8 is measured last

    monkeypatch.setattr(runner_module, "_images_per_s", int8_at_half_speed)
    clip.encode_images(photos(clip.image_size)[:2])
    [recorded] = [c for c in choices() if c["model"] == "clip-image"]
    assert (recorded["backend"], recorded["precision"]) == (choice.backend, choice.precision)
    assert "measured at batch 4" in recorded["reason"] and "onnxruntime int8 5.00 images/s" in recorded["reason"]


@pytest.mark.parametrize("measure_from", [500, 2])
def test_a_scan_measures_int8_only_when_it_has_enough_photos_to_pay_for_it(tmp_path: Path, measure_from: int) -> None:
    from chronicon.library import Library
    from mediafactory import make_jpeg

    root = tmp_path / "photos"
    root.mkdir()
    for n in range(2):
        make_jpeg(root / f"p{n}.jpg", size=(96, 72), color=(90 * n, 120, 60), pattern=True)
    overrides = {"clip.model": f"local-dir:{make_tiny_clip(tmp_path / 'tiny-clip')}", "clip.pretrained": None,
                 "clip.measure_from": measure_from, "tags.enabled": False, "transcribe.enabled": False,
                 "caption.enabled": False}  # fmt: skip
    library = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False)
    summary = library.scan([str(root)])
    assert summary.counts["new"] == 2 and not summary.failures
    [clip] = [m for m in summary.models if m["model"] == "clip-image"]
    if measure_from > 2:  # two photos do not pay for an export and a quantization: nothing is measured
        assert "not measured: too little work" in clip["reason"] and clip["backend"] != "onnxruntime"
    else:
        assert "measured at batch" in clip["reason"]
