"""Text embeddings (sentence-transformers; the offline default is all-MiniLM-L6-v2 from a PyPI package)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.packaged import minilm_dir
from chronicon.errors import ModelUnavailableError

log = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "packaged:all-MiniLM-L6-v2"


def slug(text: str) -> str:
    """A short lowercase name for a model, usable in table and file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def resolve_text_model(model: str) -> tuple[str, str]:
    """(what to load, space name) for a text model setting: the packaged default, a local folder, or a hub name."""
    if model == DEFAULT_TEXT_MODEL:
        return str(minilm_dir()), "minilm-l6-v2"
    path = Path(model).expanduser()
    if path.exists():
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        return str(path), f"{slug(path.name)}-{digest}"
    return model, slug(model)


def normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    out: NDArray[np.float32] = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
    return out


class TextEmbedder:
    """Unit-length sentence vectors; one instance per process is enough (`shared_text_embedder`)."""

    def __init__(self, model: str = DEFAULT_TEXT_MODEL, *, device: str = "cpu", cache_dir: Path | None = None) -> None:
        self.source, self.space = resolve_text_model(model)
        self.device = device
        self.cache_dir = cache_dir
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            if self.cache_dir is not None:
                try:
                    self._model = OnnxSentenceEncoder.from_folder(Path(self.source), self.cache_dir / "text")
                except Exception as exc:  # the ONNX copy is an accelerator: fall back to sentence-transformers
                    log.debug("no ONNX text encoder for %s: %s", self.source, exc)
            if self._model is None:
                if Path(self.source).exists():
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelUnavailableError(
                        "text embeddings need sentence-transformers (pip install 'chronicon[ml]')"
                    ) from exc
                try:
                    self._model = SentenceTransformer(self.source, device=self.device)
                except (OSError, ValueError) as exc:
                    raise ModelUnavailableError(f"cannot load the text model {self.source!r}: {exc}") from exc
            from chronicon.runtime.models import settle

            onnx = isinstance(self._model, OnnxSentenceEncoder)
            settle("text-embedder", device="cpu" if onnx else self.device,
                   backend="onnxruntime" if onnx else "sentence-transformers", precision="fp32")  # fmt: skip
            return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        if isinstance(model, OnnxSentenceEncoder):
            return model.dim
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> NDArray[np.float32]:
        """(len(texts), dim) float32 unit vectors."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if isinstance(model, OnnxSentenceEncoder):
            return model.encode(list(texts), batch_size=batch_size)
        with self._lock:
            vectors = model.encode(
                list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                show_progress_bar=False,
            )  # fmt: skip
        return normalise(np.asarray(vectors, dtype=np.float32))

    def embed_cached(self, texts: Sequence[str], name: str) -> NDArray[np.float32]:
        """Like `embed`, for a fixed list (class names): kept on disk under the model cache after the first time."""
        key = hashlib.sha1(("\n".join(texts) + "|" + self.space).encode()).hexdigest()[:16]
        path = self.cache_dir / "text" / f"{self.space}-{name}-{key}.npy" if self.cache_dir else None
        if path is not None and path.exists():
            try:
                cached = np.load(path)
                if cached.shape[0] == len(texts):
                    return np.asarray(cached, dtype=np.float32)
            except (OSError, ValueError) as exc:
                log.debug("ignoring unreadable embedding cache %s: %s", path, exc)
        vectors = self.embed(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, vectors)
            os.replace(tmp, path)
        return vectors


_shared: dict[tuple[str, str], TextEmbedder] = {}
_shared_lock = threading.Lock()


def shared_text_embedder(model: str, *, device: str = "cpu", cache_dir: Path | None = None) -> TextEmbedder:
    """One TextEmbedder per (model, device) per process: the scan's passes and searches share its weights."""
    with _shared_lock:
        key = (model, device)
        if key not in _shared:
            _shared[key] = TextEmbedder(model, device=device, cache_dir=cache_dir)
        embedder = _shared[key]
        if embedder.cache_dir is None:
            embedder.cache_dir = cache_dir
        return embedder


class OnnxSentenceEncoder:
    """A sentence-transformers folder (Transformer + mean pooling + Normalize) run by onnxruntime.

    Exported once from the folder's weights with torch, cached beside the catalog; afterwards a query needs
    only onnxruntime and tokenizers (a fraction of a second to start, where importing torch and
    sentence-transformers takes several). Outputs equal sentence-transformers' to ~1e-6."""

    def __init__(self, onnx_path: Path, tokenizer_file: Path, max_length: int) -> None:
        import onnxruntime as ort
        import tokenizers

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()

    @classmethod
    def from_folder(cls, folder: Path, cache: Path) -> OnnxSentenceEncoder:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if kinds[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{folder} is not a mean-pooled sentence-transformers model")
        if len(kinds) > 3 or (len(kinds) == 3 and kinds[2] != "Normalize"):
            raise ValueError(f"{folder} has modules after pooling that the ONNX copy does not reproduce")
        sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        weights = next(folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).exists())
        st = weights.stat()
        stamp = hashlib.sha1(f"{folder.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        onnx_path = cache / f"{slug(folder.parent.name)}-{slug(folder.name)}-{stamp}.onnx"
        if not onnx_path.exists():
            _export_sentence_model(folder, onnx_path)
        return cls(onnx_path, folder / "tokenizer.json", int(sbert.get("max_seq_length", 256)))

    def encode(self, texts: list[str], batch_size: int = 64) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in chunk])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            with self._lock:
                result = self.session.run(None, feed)[0]
            out[chunk] = result
        return normalise(out)


def _export_sentence_model(folder: Path, target: Path) -> None:
    """Export the folder's transformer with mean pooling and normalisation folded in (atomic write)."""
    import torch
    from transformers import AutoModel

    # Said once per export and harmless here (BERT's indices are never negative; the traced shapes are
    # dynamic axes; the legacy exporter is the one that handles this model): not worth a user's attention.
    warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"transformers")  # type: ignore[attr-defined]
    model = AutoModel.from_pretrained(str(folder)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.tensor([[101, 2000, 102], [101, 2001, 102]])
    dynamic = {0: "batch", 1: "tokens"}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        torch.onnx.export(
            Pooled().eval(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "token_type_ids": dynamic,
                          "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )  # fmt: skip
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def derived_space(model: str, suffix: str, *, cache_dir: Path | None = None) -> tuple[str, TextEmbedder] | None:
    """The vector space a pass derives from a text model (its space plus `suffix`, e.g. ":speech") and the shared
    embedder of that model; None when the model is not available here."""
    try:
        space = resolve_text_model(model)[1] + suffix
    except ModelUnavailableError:
        return None
    return space, shared_text_embedder(model, cache_dir=cache_dir)
