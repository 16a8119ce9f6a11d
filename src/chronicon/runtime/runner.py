"""Run a torch module for inference through one backend (eager, amp, compile, TensorRT, ONNX Runtime, OpenVINO)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import platform
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chronicon.runtime.backends import (
    PRECISIONS,
    TORCH_BACKENDS,
    backend_available,
    resolve_backend,
    resolve_precision,
)
from chronicon.runtime.device import choose_device, device_type, warn_once

if TYPE_CHECKING:
    import torch

log = logging.getLogger("chronicon.runtime")

Forward = Callable[[np.ndarray], np.ndarray]

_export_lock = threading.Lock()

# int8: dynamic quantization of the ONNX export (QInt8 weights per output channel in a 7-bit range, activations
# quantized per tensor at run time), first and last weight layers kept in fp32. The 7-bit range avoids the
# int16 saturation of u8 x s8 products on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI): full 8-bit
# weights gave ViT-B-32 a cosine of 0.983 to fp32 there, the 7-bit range 0.9997. Bump the tag when the recipe
# changes (it names the cached file).
INT8_RECIPE = "int8v1"
# An alternative measured against the automatic choice replaces it only this much faster, and this close to fp32.
MIN_SPEEDUP = 1.2
MIN_COSINE = 0.99
MEASURE_ROUNDS = 2  # timed passes per candidate (after one warm-up); the best counts


@dataclass
class ModelRunner:
    """A torch module prepared for inference on one device with one backend.

    Call it with a float32 numpy batch (N, ...) to get a float32 numpy output (N, ...). `backend` is the backend
    actually in use (after any fallback; a `compile` runner whose compilation fails on its first call switches
    itself to `eager` and says so here), `requested_backend` the one that was asked for. A runner prepared with
    `alternatives` measures them on its first call and may switch to one; `notes` then holds the figures.

    Thread safety: calls are serialised by an internal lock, so one runner may be shared between threads but runs
    one batch at a time; for parallel inference prepare one runner per thread (each holds its own model state).
    """

    backend: str
    device: str
    precision: str
    name: str = ""
    requested_backend: str = ""
    onnx_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    _forward: Forward | None = field(default=None, repr=False, compare=False)
    _on_fallback: Callable[[], tuple[Forward, str, str]] | None = field(default=None, repr=False, compare=False)
    _decide: Callable[[ModelRunner, np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def deciding(self) -> bool:
        """True until the first call has measured the alternatives (see prepare_model's `alternatives`)."""
        return self._decide is not None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self._forward is None:
            raise RuntimeError("ModelRunner was not built by prepare_model")
        array = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if self._decide is not None:
                decide, self._decide = self._decide, None
                return decide(self, array)
            return self._run(array)

    def _run(self, array: np.ndarray) -> np.ndarray:
        """One batch through the current forward (the caller holds the lock)."""
        assert self._forward is not None
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


def _int8_path(path: Path) -> Path:
    """Where the int8 model quantized from the ONNX export at `path` is cached (beside it)."""
    return path.with_name(f"{path.stem}.{INT8_RECIPE}.onnx")


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the ONNX model at `source` into `target` (temp file renamed into place).

    Weights of MatMul, Gemm and Conv become QInt8 per output channel with a 7-bit range (see INT8_RECIPE);
    the first and the last weight layers (for a ViT: the patch embedding and the output projection) stay fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped, unused-ignore]

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    layers = [
        node.name
        for node in graph.node
        if node.op_type in ("MatMul", "Gemm", "Conv") and len(node.input) > 1 and node.input[1] in weights
    ]
    keep = [name for name in (layers[0], layers[-1]) if name] if len(layers) > 2 else []
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp.onnx", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    root = logging.getLogger()  # the quantizer advises pre-processing through the root logger: not for users

    def advice(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")

    root.addFilter(advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                nodes_to_exclude=sorted(set(keep)),
            )
        os.replace(tmp, target)
    finally:
        root.removeFilter(advice)
        tmp.unlink(missing_ok=True)


def _onnxruntime(
    module: torch.nn.Module, example: torch.Tensor, device: str, path: Path, threads: int, *, int8: bool = False
) -> tuple[Forward, Path]:
    """An InferenceSession of the ONNX export of `module` cached at `path` (exported when missing); with `int8`,
    of its dynamic int8 quantization cached beside it (always on the CPU provider)."""
    module.eval()
    target = _int8_path(path) if int8 else path

    def build(again: bool) -> Any:
        if again or not path.exists():
            log.info("exporting %s to ONNX at %s", path.stem, path)
            _export_onnx(module, example, path)
        if int8 and (again or not target.exists()):
            log.info("quantizing %s to int8 at %s", path.stem, target)
            _quantize_int8(path, target)
        return _ort_session(target, "cpu" if int8 else device, threads)

    with _export_lock:
        cached = path.exists() or target.exists()
        try:
            session = build(again=False)
        except Exception:
            if not cached:
                raise
            log.warning("cached ONNX model %s could not be loaded; exporting it again", target)
            session = build(again=True)
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        out = session.run([output_name], {input_name: batch})[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    return forward, target


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
    alternatives: Sequence[tuple[str, str]] = (),
    batch_size: int | None = None,
    measure: bool = True,
) -> ModelRunner:
    """Prepare `module` for inference and return a ModelRunner that reports the backend actually used.

    `example` is one input batch (N, ...) with the real per-item shape; `name` and `fingerprint` (weights and
    version identity) key the ONNX cache at `cache_dir / 'onnx' / f'{name}-{fingerprint}.onnx'` (a temporary
    folder when `cache_dir` is None; the int8 model beside it). `threads` > 0 sets torch's (process-wide) CPU
    thread count and onnxruntime's intra-op threads. Backends that are not available, or fail to build, fall
    back with one warning: tensorrt -> amp on CUDA (eager elsewhere), onnxruntime/openvino -> eager, compile ->
    eager (also when compilation fails on the first call). Precision "int8" is onnxruntime's, on the CPU.

    `alternatives` makes the choice a measured one (for a backend and precision chosen automatically, on the
    CPU): the first call times, on its batch (repeated up to `batch_size` images), the runner built here, eager
    fp32 and each (backend, precision) alternative, best of MEASURE_ROUNDS; the runner keeps eager fp32 if what
    was built is slower than it, and an alternative only when it is MIN_SPEEDUP times faster than that and its
    outputs have a cosine >= MIN_COSINE to eager fp32's. The figures go to `ModelRunner.notes`, and the
    decision is cached beside the ONNX files (per machine, batch and threads), so later runs do not measure.
    With `measure` False a decision cached before is still used, but nothing new is measured (the caller knows
    that too little work is coming to pay for an export and a quantization).
    """
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    dev = choose_device(device)
    example_t = _to_tensor(example)
    chosen = resolve_backend(backend, dev)
    if precision == "int8" and chosen != "onnxruntime":
        warn_once(f"precision:int8:{chosen}", f"int8 runs through onnxruntime, not {chosen}; ignoring int8")
        precision = "auto"
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
            if request.precision not in PRECISIONS:  # int8 is onnxruntime's: the fallback runs its own precision
                request = dataclasses.replace(request, precision="auto")
            continue
        built = runner(used, prec, forward, **extra)
        wanted = [(str(b), str(p)) for b, p in alternatives if (b, p) != (used, prec)]
        if wanted and device_type(dev) == "cpu":
            built._decide = _decider(request, wanted, batch_size, measure)
        return built


@dataclass(frozen=True)
class Measured:
    """One candidate timed on the same batch: images per second, and the lowest cosine of its outputs to fp32."""

    backend: str
    precision: str
    images_per_s: float
    cosine: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"


def pick_measured(
    current: Measured,
    baseline: Measured,
    alternatives: Sequence[Measured],
    *,
    min_speedup: float = MIN_SPEEDUP,
    min_cosine: float = MIN_COSINE,
) -> tuple[Measured, str]:
    """What an automatic choice keeps, and a note with the figures that say why.

    `current` is what was chosen automatically, `baseline` eager fp32 (the same as `current` when that is it).
    Never anything slower than the baseline: `current` gives way to it when slower, and an alternative is kept
    only when `min_speedup` times faster than what is kept otherwise, with a cosine to fp32 >= `min_cosine`.
    """
    kept = current if current.images_per_s >= baseline.images_per_s else baseline
    figures = [f"{baseline.label} {baseline.images_per_s:.2f} images/s"]
    if current != baseline:
        figures.append(
            f"{current.label} {current.images_per_s:.2f} images/s"
            + ("" if kept is current else f" (slower than {baseline.label})")
        )
    winner = kept
    for alt in alternatives:
        speedup = alt.images_per_s / max(kept.images_per_s, 1e-12)
        figures.append(f"{alt.label} {alt.images_per_s:.2f} images/s ({speedup:.2f}x), cosine to fp32 {alt.cosine:.5f}")
        if alt.cosine >= min_cosine and speedup >= min_speedup and alt.images_per_s > winner.images_per_s:
            winner = alt
    rule = f"an alternative needs >= {min_speedup:g}x and cosine >= {min_cosine:g}"
    return winner, f"{'; '.join(figures)}: using {winner.label} ({rule})"


def _min_cosine(out: np.ndarray, ref: np.ndarray) -> float:
    """The lowest cosine between matching rows of two outputs (flattened per item)."""
    a = out.reshape(len(out), -1).astype(np.float64)
    b = ref.reshape(len(ref), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    cos = np.where(norms > 0, dots / np.maximum(norms, 1e-300), np.where(np.abs(a - b).max(axis=1) == 0, 1.0, 0.0))
    return float(cos.min()) if len(cos) else 1.0


def _images_per_s(forwards: Sequence[Forward], batch: np.ndarray, rounds: int) -> list[float]:
    """Images per second of each forward on `batch`: best of `rounds`, the candidates interleaved in each round
    (so that a load from other work on a shared machine hits them all alike)."""
    best = [float("inf")] * len(forwards)
    for _ in range(max(1, rounds)):
        for i, forward in enumerate(forwards):
            start = time.perf_counter()
            forward(batch)
            best[i] = min(best[i], time.perf_counter() - start)
    return [len(batch) / max(seconds, 1e-9) for seconds in best]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _decisions_path(r: _Request) -> Path:
    path = _onnx_path(r)
    return path.with_name(f"{path.stem}.measured.json")


def _read_decisions(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_decision(path: Path, key: str, entry: dict[str, Any]) -> None:
    try:
        with _export_lock:
            data = _read_decisions(path)
            data[key] = entry
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the measured choice in %s: %s", path, exc)


def _decider(
    request: _Request, alternatives: Sequence[tuple[str, str]], batch_size: int | None, measure: bool = True
) -> Callable[[ModelRunner, np.ndarray], np.ndarray]:
    def decide(run: ModelRunner, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:  # nothing to measure on: wait for a batch with images
            run._decide = decide
            return run._run(batch)
        before = (run._forward, run.backend, run.precision, run.onnx_path)
        try:
            return _decide(run, batch, request, alternatives, batch_size, measure)
        except Exception as exc:
            run._forward, run.backend, run.precision, run.onnx_path = before
            what = ", ".join(f"{b} {p}" for b, p in alternatives)
            warn_once(
                f"measure:{run.name}",
                f"{run.name}: measuring {what} failed ({type(exc).__name__}: {exc}); keeping {run.backend} "
                f"{run.precision}",
            )
            run.notes.append(f"{what} not measured ({type(exc).__name__}: {exc})")
            return run._run(batch)

    return decide


def _decide(
    run: ModelRunner,
    batch: np.ndarray,
    request: _Request,
    alternatives: Sequence[tuple[str, str]],
    batch_size: int | None,
    measure: bool = True,
) -> np.ndarray:
    """The first call of a runner with alternatives: measure (or recall the measured decision), switch, run."""
    import torch

    n = len(batch)
    size = max(n, batch_size or n)
    timed = batch if size == n else np.ascontiguousarray(np.resize(batch, (size, *batch.shape[1:])))
    threads = request.threads if request.threads > 0 else torch.get_num_threads()
    what = ", ".join(f"{b} {p}" for b, p in alternatives)
    key = f"{run.backend} {run.precision} vs {what}; batch {size}; {threads} threads; {_cpu_name()}"
    store = _decisions_path(request)

    def build(backend: str, precision: str) -> Built:
        return BUILDERS[backend](dataclasses.replace(request, precision=precision))

    def switch(built: Built) -> None:
        used, prec, forward, extra = built
        run._forward, run.backend, run.precision, run._on_fallback = forward, used, prec, None
        run.onnx_path = extra.get("onnx_path", run.onnx_path)

    recalled = _read_decisions(store).get(key)
    if isinstance(recalled, dict) and {"backend", "precision", "note"} <= set(recalled):
        backend, precision = str(recalled["backend"]), str(recalled["precision"])
        if (backend, precision) != (run.backend, run.precision):
            switch(build(backend, precision))
        run.notes.append(f"{recalled['note']} (as measured on {recalled.get('at')}, recorded in {store.name})")
        return run._run(batch)
    if not measure:
        run.notes.append(f"{what} not measured: too little work in this run to pay for it")
        return run._run(batch)

    log.info("%s: measuring %s against %s %s at batch %d", run.name, what, run.backend, run.precision, size)
    current_out = run._run(timed)  # warm-up (and, for compile, the compilation or its fallback)
    assert run._forward is not None
    current: Built = (run.backend, run.precision, run._forward, {})
    entries: list[tuple[str, str, Built, np.ndarray]] = [(run.backend, run.precision, current, current_out)]
    for backend, precision in [("eager", "fp32"), *alternatives]:
        if any((backend, precision) == (b, p) for b, p, _, _ in entries):
            continue
        try:
            built = build(backend, precision)
        except Exception as exc:
            run.notes.append(f"{backend} {precision} could not be built ({type(exc).__name__}: {exc})")
            if (backend, precision) == ("eager", "fp32"):
                raise
            continue
        entries.append((built[0], built[1], built, built[2](timed)))
    reference = next(out for b, p, _, out in entries if (b, p) == ("eager", "fp32"))
    speeds = _images_per_s([built[2] for _, _, built, _ in entries], timed, MEASURE_ROUNDS)
    measured = [
        Measured(b, p, speed, _min_cosine(out[:n], reference[:n]))
        for (b, p, _, out), speed in zip(entries, speeds, strict=True)
    ]
    baseline = next(m for m in measured if (m.backend, m.precision) == ("eager", "fp32"))
    rest = [m for m in measured[1:] if m is not baseline]
    winner, note = pick_measured(measured[0], baseline, rest)
    note = f"measured at batch {size}, {threads} threads: {note}"
    index = measured.index(winner)
    if index:
        switch(entries[index][2])
    run.notes.append(note)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    entry: dict[str, Any] = {"backend": winner.backend, "precision": winner.precision, "note": note, "at": stamp}
    entry["figures"] = [dataclasses.asdict(m) for m in measured]
    _write_decision(store, key, entry)
    return entries[index][3][:n]


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


def _onnx_path(r: _Request) -> Path:
    folder = Path(r.cache_dir) if r.cache_dir is not None else Path(tempfile.gettempdir()) / "chronicon-runtime"
    return folder / "onnx" / f"{_safe_name(r.name)}-{_safe_name(r.fingerprint)}.onnx"


def _build_onnxruntime(r: _Request) -> Built:
    int8 = r.precision == "int8"
    if int8 and device_type(r.device) != "cpu":
        raise RuntimeError(f"int8 runs on the CPU only, not on {r.device}")
    forward, onnx_path = _onnxruntime(r.module, r.example, r.device, _onnx_path(r), r.threads, int8=int8)
    return "onnxruntime", "int8" if int8 else "fp32", forward, {"onnx_path": onnx_path}


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
