"""GPU smoke tests (`-m gpu`): CUDA device choice, AMP, TensorRT (or its documented fallback), 4-bit captions and
the automatic batch size, on a real CUDA device. Elsewhere each is listed as skipped ("no CUDA device")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (these run where a GPU exists)"),
]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(16, 8),
    )  # fmt: skip


def _example(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 3, 32, 32)).astype(np.float32)


def test_auto_device_is_cuda_and_an_explicit_index_is_kept() -> None:
    from chronicon.runtime.device import choose_device

    assert choose_device("auto") == "cuda"
    assert choose_device("cuda:0") == "cuda:0"
    assert choose_device(f"cuda:{torch.cuda.device_count()}") == "cpu"  # an index that is not there


@pytest.mark.parametrize("backend", ["amp", "tensorrt", "compile"])
def test_backends_on_cuda_match_fp32_eager(backend: str, tmp_path: Path) -> None:
    from chronicon.runtime.runner import prepare_model

    x = _example()
    reference = prepare_model(_net(), name="ref", fingerprint="t", example=x, device="cpu", backend="eager")(x)
    runner = prepare_model(_net(), name=f"gpu-{backend}", fingerprint="t", example=x, device="cuda",
                           backend=backend, cache_dir=tmp_path)  # fmt: skip
    out = runner(x)
    assert runner.device.startswith("cuda")
    if backend == "tensorrt":  # torch-tensorrt is the `gpu` extra; without it the documented fallback is amp
        assert runner.backend in ("tensorrt", "amp"), runner
    else:
        assert runner.backend == backend, runner
    assert runner.precision in ("fp16", "bf16", "fp32")
    np.testing.assert_allclose(out, reference, rtol=0.05, atol=0.05)


def test_auto_batch_size_finds_a_size_on_the_device() -> None:
    from chronicon.runtime.batching import auto_batch_size

    model = _net().cuda().eval()

    def try_batch(n: int) -> None:
        with torch.inference_mode():
            model(torch.zeros((n, 3, 224, 224), device="cuda"))

    size = auto_batch_size(try_batch, start=8, maximum=256)
    assert 8 <= size <= 256 and size & (size - 1) == 0


def test_captioner_loads_4bit_on_cuda(tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes", reason="4-bit needs the `gpu` extra's bitsandbytes")
    from PIL import Image

    from chronicon.embed.captioner import Captioner
    from vlmfactory import make_tiny_vlm

    captioner = Captioner(str(make_tiny_vlm(tmp_path / "vlm")), device="cuda", quantization="4bit", max_new_tokens=4)
    assert captioner.info.quantized and captioner.device.startswith("cuda")
    [caption] = captioner.caption([Image.new("RGB", (64, 64), (200, 30, 30))])
    assert isinstance(caption, str)
