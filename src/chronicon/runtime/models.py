"""Every model's runtime in one place: the backends and precisions each model supports, and the choice made.

A pass never picks a device or a session its own way. It names the models it runs (`Analyzer.models`), and for
each one `choose(model, section)` reads the same keys of the pass's section (`device`, `backend`, `precision`,
`batch_size`, `threads`), keeps what the model supports on this machine, replaces the rest by the model's own
automatic choice, and says why. The loaders then receive that choice (`RuntimeChoice`); every choice made in
this process is kept, for `chronicon doctor` and `scan --json`.

The registry maps a model name to a `ModelKind`: which backends run it, and with which precisions, per device
type. Backends of torch modules ("eager", "amp", "compile", "tensorrt", "onnxruntime", "openvino") are built by
`runtime.runner.prepare_model`; the others name the library that runs the model ("litert", "opencv",
"ultralytics", "ctranslate2", "transformers", "sentence-transformers", "dlib"). Plugins register their own
models with `register_model_kind`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chronicon.errors import ConfigError
from chronicon.runtime.backends import (
    RUNTIME_PRECISIONS,
    TORCH_BACKENDS,
    auto_backend,
    backend_available,
    parse_batch_size,
    resolve_precision,
)
from chronicon.runtime.device import bf16_supported_on_cpu, choose_device, device_type

ALL_PRECISIONS = RUNTIME_PRECISIONS


@dataclass(frozen=True)
class ModelKind:
    """One model a pass runs: the backends that can run it and each one's precisions, per device type.

    `backends` maps a device type ("cpu", "cuda", "mps") to {backend: precisions, first = that backend's
    default}; the first backend listed for a device is its automatic choice unless `auto` says otherwise.
    `check(backend, device)` says why a backend cannot run here ("" when it can); torch backends are checked
    by the runtime itself. `batch_cpu` is the batch size 'auto' means on a CPU (None: the pass has no batches).
    `measured` maps a device type to (backend, precision) alternatives that an automatic choice (backend and
    precision both 'auto') times against itself when the model loads, keeping one only when it is faster
    (`RuntimeChoice.alternatives`; runtime.runner.prepare_model's `alternatives` says how).
    """

    name: str
    backends: Mapping[str, Mapping[str, tuple[str, ...]]]
    batch_cpu: int | None = None
    auto: Callable[[str], str] | None = None
    check: Callable[[str, str], str] | None = None
    help: str = ""
    measured: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    torch_module: bool = False  # a torch module run by runtime.runner: its torch backends are checked there

    def on(self, device: str) -> Mapping[str, tuple[str, ...]]:
        """The backends (and their precisions) of this model on `device`."""
        return self.backends.get(device_type(device), {})


@dataclass
class RuntimeChoice:
    """What one model runs with in this process, and why; `notes` says what was asked for and not given.

    `alternatives` are the (backend, precision) pairs the loader measures against this choice on the first
    batch (only for an automatic choice); the figures and the outcome are added to `notes` when it has.
    """

    model: str
    pass_name: str
    device: str
    backend: str
    precision: str
    batch_size: int | None
    threads: int
    requested: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    alternatives: tuple[tuple[str, str], ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.notes) if self.notes else "as configured" if self._explicit() else "automatic"

    def _explicit(self) -> bool:
        return any(str(v).lower() not in ("auto", "0", "none", "") for v in self.requested.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason"] = self.reason
        return data


_KINDS: dict[str, ModelKind] = {}
_CHOICES: dict[tuple[str, str], RuntimeChoice] = {}
_lock = threading.Lock()


def register_model_kind(kind: ModelKind) -> ModelKind:
    """Add (or replace) a model in the registry; returns it, so a module can keep it as a constant."""
    with _lock:
        _KINDS[kind.name] = kind
    return kind


def model_kind(name: str) -> ModelKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; registered: {', '.join(sorted(_KINDS))}") from None


def model_kinds() -> dict[str, ModelKind]:
    """Every registered model, by name."""
    with _lock:
        return dict(_KINDS)


def choices() -> list[dict[str, Any]]:
    """Every runtime choice made in this process (one per pass and model), for reports."""
    with _lock:
        return [c.as_dict() for c in _CHOICES.values()]


def _reset_choices() -> None:
    """Forget the choices made (for tests)."""
    with _lock:
        _CHOICES.clear()


def _get(section: Mapping[str, Any], key: str, default: Any) -> Any:
    """The section's value of a runtime key; the default when the section does not declare it or leaves it unset."""
    if key not in set(section.keys()):
        return default
    value = section[key]
    return default if value is None or value == "" else value


def choose(
    model: str,
    section: Mapping[str, Any],
    *,
    pass_name: str = "",
    record: bool = True,
) -> RuntimeChoice:
    """The device, backend, precision, batch size and threads `model` runs with, from a pass's section.

    Asked-for values the model or this machine cannot do are replaced by the model's automatic choice, with
    a note saying why; nothing here raises for an unavailable device or backend (only for unknown names).
    """
    kind = model_kind(model)
    asked = {
        k: _get(section, k, d)
        for k, d in (
            ("device", "auto"),
            ("backend", "auto"),
            ("precision", "auto"),
            ("batch_size", "auto"),
            ("threads", 0),
        )
    }
    notes: list[str] = []
    if set(kind.backends) == {"cpu"}:  # (no torch import just to learn that a CPU-only model runs on the CPU)
        device = "cpu"
        if str(asked["device"]).lower() not in ("auto", "cpu"):
            notes.append(f"{model} runs on the CPU only")
    else:
        device = choose_device(str(asked["device"]))
        if str(asked["device"]).lower() not in ("auto", device):
            notes.append(f"device {asked['device']} is not available here")
    if not kind.on(device):
        notes.append(f"{model} does not run on {device_type(device)}")
        device = "cpu"
    elif device_type(device) != "cpu" and all(_unavailable(kind, b, device) for b in kind.on(device)):
        why = "; ".join(sorted({_unavailable(kind, b, device) for b in kind.on(device)}))
        notes.append(f"nothing runs {model} on {device} here ({why})")
        device = "cpu"
    options = kind.on(device)
    asked_precision = str(asked["precision"]).lower()
    backend = _backend(kind, str(asked["backend"]).lower(), device, options, notes, precision=asked_precision)
    precision = _precision(kind, backend, asked_precision, device, options[backend], notes)
    alternatives: tuple[tuple[str, str], ...] = ()
    if str(asked["backend"]).lower() == "auto" and asked_precision == "auto":
        alternatives = tuple(
            (b, p)
            for b, p in kind.measured.get(device_type(device), ())
            if (b, p) != (backend, precision) and p in options.get(b, ()) and not _unavailable(kind, b, device)
        )
    batch: int | None = None
    if kind.batch_cpu is not None:
        batch = parse_batch_size(asked["batch_size"], device=device, default_cpu=kind.batch_cpu)
    threads = int(asked["threads"] or 0)
    choice = RuntimeChoice(model, pass_name, device, backend, precision, batch, threads, asked, notes, alternatives)
    if record:
        with _lock:
            _CHOICES[(pass_name, model)] = choice
    return choice


def _unavailable(kind: ModelKind, backend: str, device: str) -> str:
    if kind.torch_module and backend in TORCH_BACKENDS:
        ok, why = backend_available(backend, device)
        if not ok:
            return why
    return kind.check(backend, device) if kind.check is not None else ""


def _auto(kind: ModelKind, device: str, options: Mapping[str, tuple[str, ...]]) -> str:
    if kind.auto is not None:
        wanted = kind.auto(device)
        if wanted in options and not _unavailable(kind, wanted, device):
            return wanted
    if "amp" in options and auto_backend(device) == "amp" and not _unavailable(kind, "amp", device):
        return "amp"
    for name in options:
        if name not in ("amp",) and not _unavailable(kind, name, device):
            return name
    return next(iter(options))


def _backend(
    kind: ModelKind,
    asked: str,
    device: str,
    options: Mapping[str, tuple[str, ...]],
    notes: list[str],
    *,
    precision: str = "auto",
) -> str:
    if asked == "auto":
        chosen = _auto(kind, device, options)
        if precision in ("auto", "fp32", "fp16", "bf16") or precision in options[chosen]:
            return chosen
        # a precision only some backends run (int8): the first of those that runs here
        for name, precisions in options.items():
            if precision in precisions and not _unavailable(kind, name, device):
                return name
        return chosen
    if asked not in options:
        fallback = _auto(kind, device, options)
        supported = ", ".join(options)
        notes.append(
            f"backend {asked} does not run {kind.name} on {device_type(device)} (it runs: {supported}); "
            f"using {fallback}"
        )
        return fallback
    why = _unavailable(kind, asked, device)
    if why:
        fallback = _auto(kind, device, {k: v for k, v in options.items() if k != asked} or options)
        notes.append(f"backend {asked} is not available: {why}; using {fallback}")
        return fallback
    return asked


def _precision(
    kind: ModelKind, backend: str, asked: str, device: str, supported: tuple[str, ...], notes: list[str]
) -> str:
    if asked not in ALL_PRECISIONS:
        raise ConfigError(f"unknown precision {asked!r}; allowed: {', '.join(ALL_PRECISIONS)}")
    if kind.torch_module and backend in TORCH_BACKENDS:
        if asked == "int8" and backend == "onnxruntime" and asked in supported and device_type(device) == "cpu":
            return asked  # the dynamic int8 quantization of the export (runtime.runner)
        torch_asked = asked if asked in ("auto", "fp32", "fp16", "bf16") else "auto"
        if torch_asked != asked:
            notes.append(f"precision {asked} is not one {backend} runs {kind.name} with; automatic instead")
        chosen = resolve_precision(torch_asked, backend, device)
        if chosen not in supported:
            chosen = supported[0]
        return chosen
    if asked == "auto":
        return supported[0]
    if asked not in supported:
        notes.append(
            f"{backend} runs {kind.name} on {device_type(device)} in {', '.join(supported)}, not {asked}; "
            f"using {supported[0]}"
        )
        return supported[0]
    return asked


def _cpu_half() -> str:
    return "bf16" if bf16_supported_on_cpu() else "fp32"


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _library_check(backend: str, device: str) -> str:
    """Why a non-torch library backend cannot run here ("" when it can)."""
    modules = {
        "litert": "ai_edge_litert",
        "opencv": "cv2",
        "ultralytics": "ultralytics",
        "ctranslate2": "ctranslate2",
        "transformers": "transformers",
        "sentence-transformers": "sentence_transformers",
        "onnxruntime": "onnxruntime",
    }
    module = modules.get(backend)
    if module is not None and not _has(module):
        return f"{module} is not installed"
    if backend == "ctranslate2" and device_type(device) == "cuda":
        try:
            import ctranslate2  # type: ignore[import-untyped, unused-ignore]

            if ctranslate2.get_cuda_device_count() < 1:
                return "CTranslate2 sees no CUDA device"
        except Exception as exc:
            return f"CTranslate2 cannot use CUDA ({type(exc).__name__})"
    return ""


TORCH_CPU = {
    "eager": ("fp32", "bf16"),
    "amp": ("bf16", "fp32"),
    "compile": ("fp32", "bf16"),
    "onnxruntime": ("fp32",),
    "openvino": ("fp32", "bf16"),
}
TORCH_CUDA = {
    "amp": ("fp16", "bf16", "fp32"),
    "eager": ("fp32", "fp16", "bf16"),
    "compile": ("fp16", "bf16", "fp32"),
    "tensorrt": ("fp16", "fp32"),
    "onnxruntime": ("fp32",),
}
TORCH_MPS = {"amp": ("fp16", "fp32"), "eager": ("fp32", "fp16")}

CLIP_IMAGE = register_model_kind(
    ModelKind(
        "clip-image",
        {"cpu": {**TORCH_CPU, "onnxruntime": ("fp32", "int8")}, "cuda": TORCH_CUDA, "mps": TORCH_MPS},
        batch_cpu=32,
        help="open_clip image tower (torch module through runtime.prepare_model); int8: onnxruntime on the CPU",
        # int8 replaces the automatic choice only where it measures >= 1.2x faster, cosine >= 0.99 to fp32
        measured={"cpu": (("onnxruntime", "int8"),)},
        torch_module=True,
    )
)
TAGGER = register_model_kind(
    ModelKind(
        "imagenet-tagger",
        {"cpu": {"litert": ("int8",)}},
        batch_cpu=16,
        check=_library_check,
        help="EfficientNet-Lite3 int8 TFLite, LiteRT interpreter (CPU only)",
    )
)
SSD_DETECTOR = register_model_kind(
    ModelKind(
        "ssd-detector",
        {"cpu": {"opencv": ("fp32",)}},  # (OpenCV's PyPI wheels have no CUDA; the detector sets no target)
        batch_cpu=16,
        check=_library_check,
        help="SSD-MobileNet-v2 COCO, OpenCV dnn (CPU)",
    )
)
YOLO_DETECTOR = register_model_kind(
    ModelKind(
        "yolo-detector",
        {
            "cpu": {"ultralytics": ("fp32",)},
            "cuda": {"ultralytics": ("fp16", "fp32"), "tensorrt": ("fp16",)},
            "mps": {"ultralytics": ("fp32",)},
        },
        batch_cpu=1,
        check=lambda b, d: (
            _library_check("ultralytics", d)
            or ("" if b != "tensorrt" or _has("tensorrt") else "tensorrt is not installed")
        ),
        help="ultralytics YOLO; a TensorRT engine exported on CUDA",
    )
)
TEXT_EMBEDDER = register_model_kind(
    ModelKind(
        "text-embedder",
        {"cpu": {"onnxruntime": ("fp32",), "sentence-transformers": ("fp32",)}},
        batch_cpu=64,
        check=_library_check,
        help="MiniLM sentence embedder, one per process shared by passes and searches (CPU: short texts)",
    )
)


def _ocr_check(backend: str, device: str) -> str:
    """Why RapidOCR's onnxruntime sessions cannot run on `device` ("" when they can)."""
    problem = _library_check(backend, device)
    if problem or device_type(device) != "cuda":
        return problem
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    return ""


OCR = register_model_kind(
    ModelKind(
        "ocr",
        {"cpu": {"onnxruntime": ("fp32",)}, "cuda": {"onnxruntime": ("fp32",)}},
        batch_cpu=8,
        check=_ocr_check,
        help="RapidOCR PP-OCRv4 detector, direction classifier and recogniser (onnxruntime), behind a detector gate",
    )
)
SHOT_BOUNDARIES = register_model_kind(
    ModelKind(
        "transnetv2",
        {
            "cpu": {"eager": ("fp32",)},
            "cuda": {"amp": ("fp16", "fp32"), "eager": ("fp32",)},
            "mps": {"eager": ("fp32",)},
        },
        batch_cpu=1,  # (100-frame windows; measured on 2 cores: 1 window a call runs 103 frames/s, 4 a call 56)
        help="TransNetV2 shot boundaries (the accurate shot detector), torch module through runtime.prepare_model",
        torch_module=True,
    )
)
CAPTIONER = register_model_kind(
    ModelKind(
        "captioner",
        {
            "cpu": {"transformers": ("fp32",)},
            "cuda": {"transformers": ("4bit", "fp16", "bf16", "fp32")},
            "mps": {"transformers": ("fp16", "fp32")},
        },
        batch_cpu=4,
        check=_library_check,
        help="vision-language captioner (transformers); 4-bit NF4 through bitsandbytes on CUDA",
    )
)
WHISPER_CT2 = register_model_kind(
    ModelKind(
        "whisper",
        {"cpu": {"ctranslate2": ("int8", "fp32")}, "cuda": {"ctranslate2": ("fp16", "int8_fp16", "int8", "fp32")}},
        batch_cpu=1,
        check=_library_check,
        help="faster-whisper (CTranslate2)",
    )
)
WHISPER_TORCH = register_model_kind(
    ModelKind(
        "openai-whisper",
        {"cpu": {"eager": ("fp32",)}, "cuda": {"eager": ("fp16", "fp32")}, "mps": {"eager": ("fp32",)}},
        batch_cpu=1,
        help="openai-whisper (torch)",
    )
)


def recorded_choice(model: str, *, device: str, backend: str, precision: str) -> RuntimeChoice | None:
    """The latest choice recorded for `model` that runs it with this device, backend and precision (None if none)."""
    with _lock:
        found = [
            c
            for (_, name), c in _CHOICES.items()
            if name == model and (c.device, c.backend, c.precision) == (device, backend, precision)
        ]
    return found[-1] if found else None


def add_note(model: str, note: str) -> None:
    """Add `note` (once) to every recorded choice of `model`: what its loader found out (e.g. measured figures)."""
    with _lock:
        for (_, name), choice in _CHOICES.items():
            if name == model and note and note not in choice.notes:
                choice.notes.append(note)


def settle(model: str, *, device: str, backend: str, precision: str, note: str = "") -> None:
    """What a loader actually runs `model` with (after its own fallbacks): updates the recorded choices, and
    records one (pass "") when nothing chose for it before (a shared model such as the text embedder)."""
    with _lock:
        found = [c for (_, name), c in _CHOICES.items() if name == model]
        if not found:
            _CHOICES[("", model)] = RuntimeChoice(
                model, "", device, backend, precision, None, 0, {}, [note] if note else []
            )
            return
        for choice in found:
            if (choice.device, choice.backend, choice.precision) != (device, backend, precision):
                choice.notes.append(
                    note or f"ran with {backend} {precision} on {device} (asked {choice.backend} {choice.precision})"
                )
                choice.device, choice.backend, choice.precision = device, backend, precision
