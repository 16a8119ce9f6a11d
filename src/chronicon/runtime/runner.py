"""Run a torch module for inference through one backend (eager, amp, compile, TensorRT, ONNX Runtime, OpenVINO)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chronicon.runtime.backends import TORCH_BACKENDS, backend_available, resolve_backend, resolve_precision
from chronicon.runtime.device import choose_device, device_type, warn_once

if TYPE_CHECKING:
    import torch

log = logging.getLogger("chronicon.runtime")

Forward = Callable[[np.ndarray], np.ndarray]

_export_lock = threading.Lock()


@dataclass
class ModelRunner:
    """A torch module prepared for inference on one device with one backend.

    Call it with a float32 numpy batch (N, ...) to get a float32 numpy output (N, ...). `backend` is the backend
    actually in use (after any fallback; a `compile` runner whose compilation fails on its first call switches
    itself to `eager` and says so here), `requested_backend` the one that was asked for.

    Thread safety: calls are serialised by an internal lock, so one runner may be shared between threads but runs
    one batch at a time; for parallel inference prepare one runner per thread (each holds its own model state).
    """

    backend: str
    device: str
    precision: str
    name: str = ""
    requested_backend: str = ""
    onnx_path: Path | None = None
    _forward: Forward | None = field(default=None, repr=False, compare=False)
    _on_fallback: Callable[[], tuple[Forward, str, str]] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self._forward is None:
            raise RuntimeError("ModelRunner was not built by prepare_model")
        array = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if self._on_fallback is None:
                return self._forward(array)
            try:
                out = self._forward(array)
            except Exception as exc:
                forward, backend, precision = self._on_fallback()
                warn_once(
                    f"fallback:{self.name}:{self.backend}",
                    f"{self.name}: backend {self.backend!r} failed on first use ({type(exc).__name__}: {exc}); "
                    f"using {backend} from now on",
                )
                self._forward, self.backend, self.precision = forward, backend, precision
                self._on_fallback = None
                return forward(array)
            # the first call worked: compilation is done, later errors are real errors
            self._on_fallback = None
            return out


def _torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _to_tensor(example: torch.Tensor | np.ndarray) -> torch.Tensor:
    import torch

    if isinstance(example, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(example, dtype=np.float32))
    return example.detach().float()


def _output_to_numpy(out: Any) -> np.ndarray:
    import torch

    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model returned {type(out).__name__}; the runner needs a module that returns one tensor")
    return np.ascontiguousarray(out.detach().float().cpu().numpy(), dtype=np.float32)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


def _torch_forward(
    call: Callable[..., Any], device: str, precision: str, *, autocast: bool, channels_last: bool
) -> Forward:
    """numpy -> torch on `device` -> `call` under inference mode (and autocast) -> float32 numpy."""
    import torch

    dtype = _torch_dtype(precision)
    kind = device_type(device)
    use_autocast = autocast and precision != "fp32"
    cast_input = not autocast and precision != "fp32"

    def forward(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device)
        if cast_input:
            x = x.to(dtype)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(kind, dtype=dtype) if use_autocast else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            out = call(x)
        return _output_to_numpy(out)

    return forward


def _place(module: torch.nn.Module, device: str, precision: str, *, cast_weights: bool, channels_last: bool) -> None:
    import torch

    module.eval()
    module.to(device)
    if cast_weights and precision != "fp32":
        module.to(_torch_dtype(precision))
    if channels_last:
        module.to(memory_format=torch.channels_last)


def _sdpa_attention(module: torch.nn.Module) -> int:
    """Give each batch-first nn.MultiheadAttention of `module` a contiguous-layout self-attention forward.

    Under CPU autocast, MultiheadAttention leaves its fused fast path and projects a transposed (L, N, E) view;
    with bf16 that linear turns into a bmm against a copy of the weight expanded per token (several times slower
    than the whole rest of a ViT). The replacement computes the same thing (packed in-projection, scaled dot
    product attention, out-projection) on contiguous (N, L, E) tensors, for the plain self-attention calls
    (query is key is value, no key padding mask, no weights asked for); every other call goes to the original.
    Returns how many modules were changed.
    """
    import types

    import torch
    import torch.nn.functional as F

    def forward(
        self: torch.nn.MultiheadAttention,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        simple = query is key and key is value and key_padding_mask is None and not need_weights and query.dim() == 3
        if not simple or is_causal or (attn_mask is not None and attn_mask.dim() != 2):
            return torch.nn.MultiheadAttention.forward(  # type: ignore[no-any-return, unused-ignore]
                self,
                query,
                key,
                value,
                key_padding_mask=key_padding_mask,
                need_weights=need_weights,
                attn_mask=attn_mask,
                average_attn_weights=average_attn_weights,
                is_causal=is_causal,
            )
        n, length, embed = query.shape
        heads = self.num_heads
        qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.view(n, length, 3, heads, embed // heads).permute(2, 0, 3, 1, 4)
        mask = attn_mask
        if mask is not None:  # MultiheadAttention: True = masked out, float = added; SDPA: True = attend
            mask = ~mask if mask.dtype == torch.bool else mask.to(qkv.dtype)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        out = out.transpose(1, 2).reshape(n, length, embed)
        return F.linear(out, self.out_proj.weight, self.out_proj.bias), None

    changed = 0
    for sub in module.modules():
        if (
            type(sub) is torch.nn.MultiheadAttention
            and sub.batch_first
            and sub._qkv_same_embed_dim
            and sub.in_proj_weight is not None
            and sub.bias_k is None
            and not sub.add_zero_attn
        ):
            sub.forward = types.MethodType(forward, sub)  # type: ignore[method-assign]
            changed += 1
    return changed


def _eager(module: torch.nn.Module, device: str, precision: str, channels_last: bool) -> Forward:
    _place(module, device, precision, cast_weights=True, channels_last=channels_last)
    return _torch_forward(module, device, precision, autocast=False, channels_last=channels_last)


def _amp(module: torch.nn.Module, device: str, precision: str, channels_last: bool) -> Forward:
    _place(module, device, "fp32", cast_weights=False, channels_last=channels_last)
    if precision != "fp32" and device_type(device) == "cpu":
        _sdpa_attention(module)
    return _torch_forward(module, device, precision, autocast=True, channels_last=channels_last)


def _compiled(module: torch.nn.Module, device: str, precision: str, channels_last: bool) -> Forward:
    """torch.compile; low precisions run under autocast so that norms and softmax stay in fp32."""
    import torch

    _place(module, device, "fp32", cast_weights=False, channels_last=channels_last)
    if precision != "fp32" and device_type(device) == "cpu":
        _sdpa_attention(module)
    options: dict[str, Any] = {}
    if device_type(device) == "cpu":
        # freezing folds the weights into the graph as constants and lets oneDNN pre-pack them (inference only)
        options["freezing"] = True
    compiled = torch.compile(module, options=options or None)
    return _torch_forward(compiled, device, precision, autocast=True, channels_last=channels_last)


def _tensorrt(module: torch.nn.Module, device: str, precision: str, example: torch.Tensor) -> Forward:
    import torch
    import torch_tensorrt  # type: ignore[import-not-found, unused-ignore]

    _place(module, device, "fp32", cast_weights=False, channels_last=False)
    rest = tuple(int(s) for s in example.shape[1:])
    opt = max(1, int(example.shape[0]))
    inputs = [
        torch_tensorrt.Input(
            min_shape=(1, *rest), opt_shape=(opt, *rest), max_shape=(max(opt, 256), *rest), dtype=torch.float32
        )
    ]
    precisions = {torch.float, torch.half} if precision == "fp16" else {torch.float}
    engine = torch_tensorrt.compile(module, ir="dynamo", inputs=inputs, enabled_precisions=precisions)
    return _torch_forward(engine, device, "fp32", autocast=False, channels_last=False)


def _export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export `module` to `path` with a dynamic batch axis; written to a temp file and renamed into place."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    param = next(module.parameters(), None)
    export_example = example.to(param.device if param is not None else "cpu")
    if export_example.shape[0] < 2:  # a batch of 1 would be specialised away by the exporter
        export_example = export_example.expand(2, *export_example.shape[1:]).contiguous()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    errors: list[str] = []
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            try:  # the torch.export based exporter (needs onnxscript)
                batch = torch.export.Dim("batch")
                torch.onnx.export(
                    module,
                    (export_example,),
                    str(tmp),
                    input_names=["input"],
                    output_names=["output"],
                    opset_version=18,
                    dynamo=True,
                    dynamic_shapes=({0: batch},),
                    external_data=False,
                    verbose=False,
                )
            except Exception as exc:
                errors.append(f"dynamo exporter: {type(exc).__name__}: {exc}")
                # nn.MultiheadAttention's fused inference fast path has no ONNX symbolic: trace the plain ops.
                mha = getattr(torch.backends, "mha", None)
                fastpath = bool(mha.get_fastpath_enabled()) if mha is not None else False
                if mha is not None:
                    mha.set_fastpath_enabled(False)
                try:
                    torch.onnx.export(  # the TorchScript exporter, deprecated but robust for plain graphs
                        module,
                        (export_example,),
                        str(tmp),
                        input_names=["input"],
                        output_names=["output"],
                        opset_version=18,
                        dynamo=False,
                        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                    )
                finally:
                    if mha is not None:
                        mha.set_fastpath_enabled(fastpath)
        os.replace(tmp, path)
    except Exception as exc:
        errors.append(f"TorchScript exporter: {type(exc).__name__}: {exc}")
        raise RuntimeError("ONNX export failed: " + "; ".join(errors)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _ort_session(path: Path, device: str, threads: int) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
    providers: list[Any] = ["CPUExecutionProvider"]
    if device_type(device) == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            index = int(device.partition(":")[2] or 0)
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        else:
            warn_once(
                "onnxruntime:no-cuda", "onnxruntime has no CUDA provider (install onnxruntime-gpu); running on CPU"
            )
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def _onnxruntime(
    module: torch.nn.Module, example: torch.Tensor, device: str, path: Path, threads: int
) -> tuple[Forward, Path]:
    module.eval()
    with _export_lock:
        fresh = not path.exists()
        if fresh:
            log.info("exporting %s to ONNX at %s", path.stem, path)
            _export_onnx(module, example, path)
        try:
            session = _ort_session(path, device, threads)
        except Exception:
            if fresh:
                raise
            log.warning("cached ONNX model %s could not be loaded; exporting it again", path)
            _export_onnx(module, example, path)
            session = _ort_session(path, device, threads)
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        out = session.run([output_name], {input_name: batch})[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    return forward, path


def _openvino(module: torch.nn.Module, example: torch.Tensor, precision: str) -> Forward:
    import openvino as ov  # type: ignore[import-not-found, unused-ignore]

    module.eval()
    param = next(module.parameters(), None)
    ex = example.to(param.device if param is not None else "cpu")
    shape = ov.PartialShape([-1, *(int(s) for s in example.shape[1:])])
    ov_model = ov.convert_model(module, example_input=ex, input=[shape])
    hint = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[precision]
    compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    output = compiled.output(0)

    def forward(batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(compiled([batch])[output], dtype=np.float32)

    return forward


def prepare_model(
    module: torch.nn.Module,
    *,
    name: str,
    fingerprint: str,
    example: torch.Tensor | np.ndarray,
    device: str = "auto",
    backend: str = "eager",
    precision: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 0,
) -> ModelRunner:
    """Prepare `module` for inference and return a ModelRunner that reports the backend actually used.

    `example` is one input batch (N, ...) with the real per-item shape; `name` and `fingerprint` (weights and
    version identity) key the ONNX cache at `cache_dir / 'onnx' / f'{name}-{fingerprint}.onnx'` (a temporary
    folder when `cache_dir` is None). `threads` > 0 sets torch's (process-wide) CPU thread count and
    onnxruntime's intra-op threads. Backends that are not available, or fail to build, fall back with one
    warning: tensorrt -> amp on CUDA (eager elsewhere), onnxruntime/openvino -> eager, compile -> eager (also
    when compilation fails on the first call).
    """
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    dev = choose_device(device)
    example_t = _to_tensor(example)
    chosen = resolve_backend(backend, dev)
    channels_last = example_t.dim() == 4 and device_type(dev) in ("cpu", "cuda")
    label = name or type(module).__name__

    def runner(used: str, prec: str, forward: Forward, **extra: Any) -> ModelRunner:
        return ModelRunner(
            backend=used, device=dev, precision=prec, name=label, requested_backend=backend, _forward=forward, **extra
        )

    def fail(what: str, exc: BaseException, fallback: str) -> None:
        warn_once(
            f"build:{label}:{what}:{dev}",
            f"{label}: backend {what!r} could not be set up on {dev} ({type(exc).__name__}: {exc}); using {fallback}",
        )

    request = _Request(module, dev, precision, example_t, channels_last, cache_dir, threads, name, fingerprint)
    tried: list[str] = []
    while True:
        tried.append(chosen)
        try:
            used, prec, forward, extra = BUILDERS[chosen](request)
        except Exception as exc:
            if chosen == "eager":
                raise
            fallback = TORCH_BACKENDS[chosen].fallback(dev)
            if fallback in tried or not backend_available(fallback, dev)[0]:
                fallback = "eager"
            fail(chosen, exc, fallback)
            chosen = fallback
            continue
        return runner(used, prec, forward, **extra)


@dataclass
class _Request:
    """What a backend builder needs to prepare one module."""

    module: torch.nn.Module
    device: str
    precision: str  # as asked ('auto' included): each builder resolves it for its backend
    example: torch.Tensor
    channels_last: bool
    cache_dir: Path | None
    threads: int
    name: str
    fingerprint: str


Built = tuple[str, str, Forward, dict[str, Any]]  # backend used, precision, forward, extra ModelRunner fields


def _build_tensorrt(r: _Request) -> Built:
    prec = resolve_precision(r.precision, "tensorrt", r.device)
    return "tensorrt", prec, _tensorrt(r.module, r.device, prec, r.example), {}


def _build_onnxruntime(r: _Request) -> Built:
    folder = Path(r.cache_dir) if r.cache_dir is not None else Path(tempfile.gettempdir()) / "chronicon-runtime"
    path = folder / "onnx" / f"{_safe_name(r.name)}-{_safe_name(r.fingerprint)}.onnx"
    forward, onnx_path = _onnxruntime(r.module, r.example, r.device, path, r.threads)
    return "onnxruntime", "fp32", forward, {"onnx_path": onnx_path}


def _build_openvino(r: _Request) -> Built:
    prec = resolve_precision(r.precision, "openvino", r.device)
    return "openvino", prec, _openvino(r.module, r.example, prec), {}


def _build_compile(r: _Request) -> Built:
    prec = resolve_precision(r.precision, "compile", r.device)
    eager_prec = resolve_precision(r.precision, "amp" if prec != "fp32" else "eager", r.device)
    forward = _compiled(r.module, r.device, prec, r.channels_last)

    def fallback() -> tuple[Forward, str, str]:
        # same fp32 weights: run them eagerly, under autocast when a low precision was chosen
        used = "amp" if eager_prec != "fp32" else "eager"
        return _amp(r.module, r.device, eager_prec, r.channels_last), used, eager_prec

    return "compile", prec, forward, {"_on_fallback": fallback}


def _build_amp(r: _Request) -> Built:
    prec = resolve_precision(r.precision, "amp", r.device)
    return "amp", prec, _amp(r.module, r.device, prec, r.channels_last), {}


def _build_eager(r: _Request) -> Built:
    prec = resolve_precision(r.precision, "eager", r.device)
    return "eager", prec, _eager(r.module, r.device, prec, r.channels_last), {}


# How each backend of runtime.backends.TORCH_BACKENDS builds a runner (a failure falls back as it says there).
BUILDERS: dict[str, Callable[[_Request], Built]] = {
    "eager": _build_eager,
    "amp": _build_amp,
    "compile": _build_compile,
    "tensorrt": _build_tensorrt,
    "onnxruntime": _build_onnxruntime,
    "openvino": _build_openvino,
}
