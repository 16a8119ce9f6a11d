"""Inference backends and precisions: what is available where, fallbacks, and the settings every ML pass gets."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

from chronicon.config import Setting
from chronicon.errors import ConfigError
from chronicon.runtime.device import bf16_supported_on_cpu, device_type, torch_installed, warn_once

BACKENDS = ("eager", "amp", "compile", "tensorrt", "onnxruntime", "openvino")  # torch modules: TORCH_BACKENDS
# Backends that are the library running a model that is not a torch module (runtime.models says which model).
LIBRARY_BACKENDS = ("litert", "opencv", "ultralytics", "ctranslate2", "transformers", "sentence-transformers", "dlib")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")  # what a torch module runs in
# Every precision name a model may run in: the torch ones plus integer and 4-bit forms of some libraries.
RUNTIME_PRECISIONS = (*PRECISIONS, "int8", "int8_fp16", "4bit")

# Settings every ML pass section gets (merged into the pass's own `settings`).
RUNTIME_SETTINGS: dict[str, Setting] = {
    "device": Setting("str", default="auto", help="auto, cpu, cuda, cuda:N or mps; auto prefers cuda, then mps"),
    "backend": Setting(
        "str",
        default="auto",
        choices=("auto", *BACKENDS, *LIBRARY_BACKENDS),
        help="inference backend; auto = what runs the model best here (`chronicon doctor` lists each model's)",
    ),
    "precision": Setting(
        "str", default="auto", choices=RUNTIME_PRECISIONS, help="auto: fp16 on CUDA amp, bf16 on CPU amp, ..."
    ),
    "batch_size": Setting("str", default="auto", help="'auto' or a positive integer; auto grows until memory runs out"),
    "threads": Setting("int", default=0, minimum=0, maximum=4096, help="CPU threads for inference; 0 = torch default"),
}


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cxx_compiler() -> str | None:
    import os

    for name in (os.environ.get("CXX"), "g++", "clang++", "c++", "cl" if sys.platform == "win32" else None):
        if name and shutil.which(name):
            return name
    return None


def _eager_ok(kind: str) -> str:
    return ""


def _amp_ok(kind: str) -> str:
    return "" if kind in ("cpu", "cuda", "mps") else f"autocast does not support device type {kind!r}"


def _compile_ok(kind: str) -> str:
    if kind == "cuda" and not _has("triton"):
        return "torch.compile on CUDA needs triton, which is not installed"
    if kind == "cpu" and _cxx_compiler() is None:
        return "torch.compile on CPU needs a C++ compiler (g++ or clang++) on PATH"
    if kind == "mps":
        return "torch.compile is not supported on mps here"
    return ""


def _tensorrt_ok(kind: str) -> str:
    if kind != "cuda":
        return "TensorRT needs a CUDA device"
    if not _has("torch_tensorrt"):
        return "torch_tensorrt is not installed (pip install torch-tensorrt)"
    return ""


def _onnxruntime_ok(kind: str) -> str:
    if not _has("onnxruntime"):
        return "onnxruntime is not installed (pip install onnxruntime or onnxruntime-gpu)"
    if not _has("onnx"):
        return "onnx is not installed (needed to export the model; pip install onnx onnxscript)"
    if kind == "cuda":
        try:
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
        except Exception as exc:  # a broken install: say so rather than run on the CPU unannounced
            return f"onnxruntime cannot be imported ({type(exc).__name__})"
    return ""


def _openvino_ok(kind: str) -> str:  # runs on its own CPU plugin whatever the torch device is
    return "" if _has("openvino") else "openvino is not installed (pip install openvino)"


@dataclass(frozen=True)
class TorchBackend:
    """One way to run a torch module: why it cannot run on a device type ("" when it can), and what to use then."""

    name: str
    problem: Callable[[str], str]
    fallback_on_cuda: str = "eager"  # elsewhere the fallback is always eager
    help: str = ""

    def fallback(self, device: str) -> str:
        return self.fallback_on_cuda if device_type(device) == "cuda" else "eager"


# The registry of torch backends (runtime.runner.BUILDERS holds how each one builds a runner).
TORCH_BACKENDS: dict[str, TorchBackend] = {
    b.name: b
    for b in (
        TorchBackend("eager", _eager_ok, help="plain torch inference"),
        TorchBackend("amp", _amp_ok, help="autocast: fp16 on CUDA/mps, bf16 on CPUs with native bf16"),
        TorchBackend("compile", _compile_ok, help="torch.compile (inductor); eager if compilation fails"),
        TorchBackend("tensorrt", _tensorrt_ok, fallback_on_cuda="amp", help="Torch-TensorRT engine (CUDA)"),
        TorchBackend("onnxruntime", _onnxruntime_ok, help="ONNX export run by ONNX Runtime"),
        TorchBackend("openvino", _openvino_ok, help="OpenVINO on the CPU"),
    )
}


def backend_available(backend: str, device: str) -> tuple[bool, str]:
    """Whether `backend` can run on `device` here, and if not, why (an empty reason when it can)."""
    entry = TORCH_BACKENDS.get(backend)
    if entry is None:
        return False, f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}"
    if not torch_installed():
        return False, "torch is not installed (pip install 'chronicon[gpu]' or torch)"
    why = entry.problem(device_type(device))
    return not why, why


def resolve_backend(requested: str, device: str) -> str:
    """The backend to use for `requested` on `device`: itself when available, else a fallback (warned once).

    An unavailable backend falls back to 'eager', except tensorrt on CUDA, which falls back to 'amp'.
    """
    if requested == "auto":
        return auto_backend(device)
    if requested not in BACKENDS:
        raise ConfigError(f"unknown backend {requested!r}; allowed: {', '.join(BACKENDS)}")
    ok, why = backend_available(requested, device)
    if ok:
        return requested
    fallback = TORCH_BACKENDS[requested].fallback(device)
    if not backend_available(fallback, device)[0]:
        fallback = "eager"
    warn_once(
        f"backend:{requested}:{device}", f"backend {requested!r} is not available on {device}: {why}; using {fallback}"
    )
    return fallback


def auto_backend(device: str) -> str:
    """'amp' on CUDA and on CPUs with native bf16 (2x the images/s of fp32 eager in embed_bench), else 'eager'."""
    kind = device_type(device)
    if kind == "cuda":
        return "amp"
    if kind == "cpu" and bf16_supported_on_cpu() and backend_available("amp", device)[0]:
        return "amp"
    return "eager"


def _cuda_bf16_supported() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_bf16_supported())
    except Exception:
        return False


def resolve_precision(precision: str, backend: str, device: str) -> str:
    """The dtype name ('fp32', 'fp16' or 'bf16') to run `backend` on `device` with, for the asked `precision`.

    'auto' gives fp16 for amp/tensorrt on CUDA (and amp on mps), bf16 for amp on a CPU with native bf16 (fp32,
    warned once, without it), and fp32 otherwise. An explicit precision the device cannot do is replaced by the
    nearest one that works, with one warning. onnxruntime runs the exported fp32 graph.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    kind = device_type(device)
    if backend == "onnxruntime":
        if precision not in ("auto", "fp32"):
            warn_once(f"precision:{precision}:onnxruntime", f"onnxruntime runs the fp32 export; ignoring {precision}")
        return "fp32"
    if precision == "auto":
        if backend == "openvino":
            return "bf16" if bf16_supported_on_cpu() else "fp32"
        if backend in ("amp", "tensorrt") and kind == "cuda":
            return "fp16"
        if backend == "amp" and kind == "mps":
            return "fp16"
        if backend == "amp" and kind == "cpu":
            if bf16_supported_on_cpu():
                return "bf16"
            warn_once(
                "precision:amp:cpu", "amp asked for but this CPU has no native bf16 (AVX512-BF16/AMX); using fp32"
            )
            return "fp32"
        return "fp32"
    if precision == "fp32":
        return "fp32"
    if kind == "cpu" or backend == "openvino":
        if precision == "fp16":
            better = "bf16" if bf16_supported_on_cpu() else "fp32"
            warn_once(f"precision:fp16:{backend}:cpu", f"fp16 is slow or unsupported on CPU; using {better}")
            return better
        if not bf16_supported_on_cpu():
            warn_once(f"precision:bf16:{backend}:cpu", "bf16 asked for but this CPU has no native bf16; using fp32")
            return "fp32"
        return "bf16"
    if kind == "cuda" and precision == "bf16" and not _cuda_bf16_supported():
        warn_once(f"precision:bf16:{device}", f"bf16 is not supported on {device}; using fp16")
        return "fp16"
    if kind == "mps" and precision == "bf16":
        warn_once("precision:bf16:mps", "bf16 is not reliably supported on mps; using fp16")
        return "fp16"
    return precision


def parse_batch_size(value: str | int, *, device: str, default_cpu: int) -> int | None:
    """A `batch_size` setting as a number: None = 'auto' on CUDA (probe upwards); 'auto' elsewhere -> default_cpu."""
    if isinstance(value, bool):
        raise ConfigError(f"batch_size must be 'auto' or a positive integer, not {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return None if device_type(device) == "cuda" else default_cpu
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(f"batch_size must be 'auto' or a positive integer, not {value!r}") from None
    else:
        raise ConfigError(f"batch_size must be 'auto' or a positive integer, not {value!r}")
    if number < 1:
        raise ConfigError(f"batch_size must be 'auto' or a positive integer, not {value!r}")
    return number
