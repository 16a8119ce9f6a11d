"""prepare_model on CPU: eager, onnxruntime (exported once, cached), amp bf16, compile and the fallbacks."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from chronicon.runtime import device
from chronicon.runtime import runner as runner_module
from chronicon.runtime.device import bf16_supported_on_cpu
from chronicon.runtime.runner import ModelRunner, prepare_model

torch = pytest.importorskip("torch")
nn = torch.nn


class TinyNet(nn.Module):
    """Conv2d + Linear: the smallest module with the layers the real vision towers use."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class TinyAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.proj = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(x, x, x, need_weights=False)
        return self.proj(y.mean(dim=1))


def make_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TinyNet()


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    device._reset_warnings()


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((6, 3, 16, 16), dtype=np.float32)


def reference(batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return make_net()(torch.from_numpy(batch)).numpy()  # type: ignore[no-any-return]


def test_eager_matches_plain_forward(batch: np.ndarray) -> None:
    run = prepare_model(make_net(), name="tiny", fingerprint="v1", example=batch[:2], device="cpu")
    assert isinstance(run, ModelRunner)
    assert (run.backend, run.device, run.precision) == ("eager", "cpu", "fp32")
    out = run(batch)
    assert out.dtype == np.float32 and out.shape == (6, 5)
    np.testing.assert_allclose(out, reference(batch), atol=1e-5)


def test_onnxruntime_matches_eager_and_is_cached(
    batch: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    run = prepare_model(
        make_net(), name="tiny", fingerprint="abc", example=batch[:1], backend="onnxruntime", cache_dir=tmp_path
    )
    assert run.backend == "onnxruntime" and run.precision == "fp32"
    path = tmp_path / "onnx" / "tiny-abc.onnx"
    assert run.onnx_path == path and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["tiny-abc.onnx"]  # no temp file left behind
    np.testing.assert_allclose(run(batch), reference(batch), atol=1e-4)
    np.testing.assert_allclose(run(batch[:1]), reference(batch[:1]), atol=1e-4)  # the batch axis is dynamic

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again although the cached file exists")

    monkeypatch.setattr(runner_module, "_export_onnx", no_export)
    mtime = path.stat().st_mtime_ns
    again = prepare_model(
        make_net(), name="tiny", fingerprint="abc", example=batch[:1], backend="onnxruntime", cache_dir=tmp_path
    )
    assert again.backend == "onnxruntime"
    assert path.stat().st_mtime_ns == mtime
    np.testing.assert_allclose(again(batch), reference(batch), atol=1e-4)


def test_onnx_export_failure_falls_back_to_eager(
    batch: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("onnxruntime")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(runner_module, "_export_onnx", broken)
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    run = prepare_model(
        make_net(), name="tiny", fingerprint="zzz", example=batch, backend="onnxruntime", cache_dir=tmp_path
    )
    assert run.backend == "eager" and run.requested_backend == "onnxruntime"
    assert any("exporter exploded" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(run(batch), reference(batch), atol=1e-5)


def test_tensorrt_and_openvino_fall_back_on_cpu(batch: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    trt = prepare_model(make_net(), name="tiny", fingerprint="1", example=batch, device="cpu", backend="tensorrt")
    assert trt.backend == "eager"
    np.testing.assert_allclose(trt(batch), reference(batch), atol=1e-5)
    try:
        import openvino  # noqa: F401
    except ImportError:
        ov = prepare_model(make_net(), name="tiny", fingerprint="1", example=batch, device="cpu", backend="openvino")
        assert ov.backend == "eager"
    assert len(caplog.records) >= 1


@pytest.mark.skipif(not bf16_supported_on_cpu(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_amp_bf16_close_to_eager(batch: np.ndarray) -> None:
    run = prepare_model(make_net(), name="tiny", fingerprint="1", example=batch, device="cpu", backend="amp")
    assert (run.backend, run.precision) == ("amp", "bf16")
    out = run(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference(batch), atol=5e-2, rtol=5e-2)


def test_attention_rewrite_is_exact() -> None:
    torch.manual_seed(0)
    model = TinyAttention().eval()
    x = torch.randn(3, 7, 16)
    mask = torch.rand(7, 7) > 0.7
    mask.fill_diagonal_(False)
    with torch.no_grad():
        want = model(x)
        want_masked = model.attn(x, x, x, need_weights=False, attn_mask=mask)[0]
        assert runner_module._sdpa_attention(model) == 1
        got = model(x)
        got_masked = model.attn(x, x, x, need_weights=False, attn_mask=mask)[0]
        weights = model.attn(x, x, x)[1]  # asking for weights takes the original path
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_masked, want_masked, atol=1e-5, rtol=1e-5)
    assert weights is not None and weights.shape == (3, 7, 7)


def test_compile_failure_falls_back_to_eager(
    batch: np.ndarray, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_compile(module: nn.Module, **kwargs: object) -> object:
        def call(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("inductor: no working C++ compiler")

        return call

    monkeypatch.setattr(torch, "compile", failing_compile)
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    run = prepare_model(make_net(), name="tiny", fingerprint="1", example=batch, device="cpu", backend="compile")
    assert run.backend == "compile"
    np.testing.assert_allclose(run(batch), reference(batch), atol=1e-5)
    assert run.backend == "eager" and run.precision == "fp32"
    assert sum("no working C++ compiler" in r.getMessage() for r in caplog.records) == 1
    np.testing.assert_allclose(run(batch[:2]), reference(batch[:2]), atol=1e-5)


@pytest.mark.slow
def test_compile_really_compiles(batch: np.ndarray) -> None:
    from chronicon.runtime.backends import backend_available

    usable, why = backend_available("compile", "cpu")
    if not usable:
        pytest.skip(f"torch.compile cannot run on this machine: {why}")
    run = prepare_model(make_net(), name="tiny", fingerprint="1", example=batch, device="cpu", backend="compile")
    start = time.perf_counter()
    out = run(batch)
    assert time.perf_counter() - start < 300
    assert run.backend == "compile", run  # it compiled: no silent eager fallback
    np.testing.assert_allclose(out, reference(batch), atol=1e-4)


def test_runner_rejects_non_tensor_output(batch: np.ndarray) -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    run = prepare_model(Pair(), name="pair", fingerprint="1", example=batch, device="cpu")
    with pytest.raises(TypeError, match="one tensor"):
        run(batch)
