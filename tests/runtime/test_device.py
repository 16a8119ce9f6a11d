"""Device choice, one-time warnings, backend availability and precision resolution on this (CPU) machine."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from chronicon.errors import ConfigError
from chronicon.runtime import backends, device
from chronicon.runtime.backends import (
    BACKENDS,
    RUNTIME_SETTINGS,
    backend_available,
    parse_batch_size,
    resolve_backend,
    resolve_precision,
)
from chronicon.runtime.device import choose_device, warn_once
from chronicon.runtime.report import runtime_report

torch = pytest.importorskip("torch")
needs_cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallbacks")


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    device._reset_warnings()


def runtime_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chronicon.runtime" and r.levelno == logging.WARNING]


def test_import_does_not_import_torch() -> None:
    code = "import sys, chronicon.runtime; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_cpu_only
def test_auto_is_cpu_here() -> None:
    assert choose_device("auto") == "cpu"
    assert choose_device("cpu") == "cpu"


@needs_cpu_only
def test_unavailable_cuda_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    assert choose_device("cuda") == "cpu"
    assert len(runtime_warnings(caplog)) == 1
    assert "cuda" in runtime_warnings(caplog)[0]
    assert choose_device("cuda") == "cpu"
    assert len(runtime_warnings(caplog)) == 1


def test_unknown_device_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    assert choose_device("tpu") == "cpu"
    assert choose_device("cuda:x") == "cpu"
    assert len(runtime_warnings(caplog)) == 2


def test_no_torch_means_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "torch_installed", lambda: False)
    assert choose_device("auto") == "cpu"
    assert choose_device("cuda") == "cpu"
    monkeypatch.setattr(backends, "torch_installed", lambda: False)
    assert backend_available("eager", "cpu") == (
        False,
        "torch is not installed (pip install 'chronicon[gpu]' or torch)",
    )


def test_warn_once_per_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    warn_once("k1", "first")
    warn_once("k1", "again")
    warn_once("k2", "second")
    assert runtime_warnings(caplog) == ["first", "second"]


def test_tensorrt_on_cpu_falls_back_to_eager(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    ok, why = backend_available("tensorrt", "cpu")
    assert not ok and "CUDA" in why
    assert resolve_backend("tensorrt", "cpu") == "eager"
    assert len(runtime_warnings(caplog)) == 1
    assert "tensorrt" in runtime_warnings(caplog)[0]


def test_tensorrt_missing_on_cuda_falls_back_to_amp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_has", lambda module: module != "torch_tensorrt")
    ok, why = backend_available("tensorrt", "cuda")
    assert not ok and "torch_tensorrt" in why
    assert resolve_backend("tensorrt", "cuda") == "amp"


def test_openvino_missing_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_has", lambda module: module != "openvino")
    assert backend_available("openvino", "cpu")[0] is False
    assert resolve_backend("openvino", "cpu") == "eager"


def test_onnxruntime_and_eager_available_here() -> None:
    pytest.importorskip("onnxruntime")
    assert backend_available("onnxruntime", "cpu") == (True, "")
    assert resolve_backend("onnxruntime", "cpu") == "onnxruntime"
    assert resolve_backend("eager", "cpu") == "eager"


def test_unknown_backend_is_a_config_error() -> None:
    assert backend_available("tflite", "cpu")[0] is False
    with pytest.raises(ConfigError):
        resolve_backend("tflite", "cpu")


def test_resolve_precision(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronicon.runtime")
    monkeypatch.setattr(backends, "_cuda_bf16_supported", lambda: True)
    assert resolve_precision("auto", "amp", "cuda") == "fp16"
    assert resolve_precision("auto", "tensorrt", "cuda:1") == "fp16"
    assert resolve_precision("auto", "eager", "cuda") == "fp32"
    assert resolve_precision("bf16", "eager", "cuda") == "bf16"
    assert resolve_precision("auto", "eager", "cpu") == "fp32"
    assert resolve_precision("auto", "compile", "cpu") == "fp32"
    assert resolve_precision("fp16", "onnxruntime", "cpu") == "fp32"
    monkeypatch.setattr(backends, "bf16_supported_on_cpu", lambda: True)
    assert resolve_precision("auto", "amp", "cpu") == "bf16"
    assert resolve_precision("fp16", "amp", "cpu") == "bf16"
    caplog.clear()
    monkeypatch.setattr(backends, "bf16_supported_on_cpu", lambda: False)
    assert resolve_precision("auto", "amp", "cpu") == "fp32"
    assert resolve_precision("auto", "amp", "cpu") == "fp32"
    assert len(runtime_warnings(caplog)) == 1
    assert resolve_precision("bf16", "eager", "cpu") == "fp32"
    with pytest.raises(ConfigError):
        resolve_precision("int4", "eager", "cpu")


def test_parse_batch_size() -> None:
    assert parse_batch_size("auto", device="cuda", default_cpu=16) is None
    assert parse_batch_size("auto", device="cuda:1", default_cpu=16) is None
    assert parse_batch_size("auto", device="cpu", default_cpu=16) == 16
    assert parse_batch_size("AUTO", device="mps", default_cpu=8) == 8
    assert parse_batch_size("32", device="cuda", default_cpu=16) == 32
    assert parse_batch_size(4, device="cpu", default_cpu=16) == 4
    for bad in ("0", "-3", "lots", "1.5", 0, True):
        with pytest.raises(ConfigError):
            parse_batch_size(bad, device="cpu", default_cpu=16)


def test_runtime_settings_accept_yaml_values() -> None:
    assert set(RUNTIME_SETTINGS) == {"device", "backend", "precision", "batch_size", "threads"}
    assert RUNTIME_SETTINGS["batch_size"].check("ml.batch_size", 32) == "32"
    assert RUNTIME_SETTINGS["batch_size"].default == "auto"
    assert RUNTIME_SETTINGS["backend"].check("ml.backend", "onnxruntime") == "onnxruntime"
    with pytest.raises(ConfigError):
        RUNTIME_SETTINGS["backend"].check("ml.backend", "tflite")
    with pytest.raises(ConfigError):
        RUNTIME_SETTINGS["threads"].check("ml.threads", -1)


def test_runtime_report() -> None:
    report = runtime_report()
    assert report["torch"] == torch.__version__
    assert report["device"] in ("cpu", "cuda", "mps")
    assert isinstance(report["bf16_on_cpu"], bool)
    assert set(report["backends"]) == set(BACKENDS)
    assert report["backends"]["eager"] == {"available": True, "reason": ""}
    for entry in report["backends"].values():
        assert entry["available"] or entry["reason"]


def test_auto_backend_prefers_amp_where_half_precision_is_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from chronicon.runtime import backends

    monkeypatch.setattr(backends, "bf16_supported_on_cpu", lambda: True)
    assert backends.resolve_backend("auto", "cpu") == "amp"
    monkeypatch.setattr(backends, "bf16_supported_on_cpu", lambda: False)
    assert backends.resolve_backend("auto", "cpu") == "eager"
    assert backends.auto_backend("mps") == "eager"
