"""CLIP image and text towers through open_clip: model by name + pretrained tag, a local checkpoint, or a folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.text import normalise, slug
from chronicon.errors import ModelUnavailableError

log = logging.getLogger(__name__)

DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"
RETRY_DOWNLOAD_AFTER_S = 24 * 3600


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP: `model` is an open_clip architecture name, `hf-hub:org/repo` or `local-dir:/folder`
    (a folder with open_clip_config.json and weights); `pretrained` is a tag of that architecture or a
    checkpoint file (ignored for the hf-hub and local-dir forms)."""

    model: str = DEFAULT_CLIP_MODEL
    pretrained: str | None = DEFAULT_CLIP_PRETRAINED

    @property
    def local_dir(self) -> Path | None:
        return Path(self.model[len("local-dir:") :]).expanduser() if self.model.startswith("local-dir:") else None

    @property
    def checkpoint_file(self) -> Path | None:
        if self.local_dir is None and self.pretrained and not self.model.startswith("hf-hub:"):
            path = Path(self.pretrained).expanduser()
            if path.suffix or os.sep in self.pretrained:
                return path
        return None

    @property
    def space(self) -> str:
        """The vector space these weights define: equal only for the same weights."""
        local = self.local_dir or self.checkpoint_file
        if local is not None:
            try:
                st = local.stat()
                stamp = f"{local.resolve()}|{st.st_size}|{st.st_mtime_ns}"
            except OSError:
                stamp = str(local)
            name = local.name if self.local_dir is not None else f"{self.model}-{local.stem}"
            return f"clip-{slug(name)}-{hashlib.sha1(stamp.encode()).hexdigest()[:8]}"
        if self.model.startswith("hf-hub:"):
            return f"clip-{slug(self.model[len('hf-hub:') :])}"
        return f"clip-{slug(self.model)}-{slug(self.pretrained or 'random')}"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def weights_problem(spec: ClipSpec) -> str | None:
    """Why these weights are not on this machine (None when they are, or when a download will be tried)."""
    local = spec.local_dir or spec.checkpoint_file
    if local is not None:
        if spec.local_dir is not None and not (local / "open_clip_config.json").is_file():
            return f"{local} is not an open_clip model folder (open_clip_config.json missing)"
        return None if local.exists() else f"the CLIP checkpoint {local} does not exist"
    if not spec.pretrained and not spec.model.startswith("hf-hub:"):
        return None  # random weights on purpose (benchmarks)
    cached = _hub_cached(spec)
    if cached:
        return None
    what = spec.model if spec.model.startswith("hf-hub:") else f"{spec.model} / {spec.pretrained}"
    if hub_offline():
        return f"CLIP weights {what} are not on this machine and HF_HUB_OFFLINE is set"
    from chronicon.embed.hub import hub_unreachable

    unreachable = hub_unreachable()
    return f"CLIP weights {what} are not on this machine and {unreachable}" if unreachable else None


def _hub_cached(spec: ClipSpec) -> bool:
    try:
        import open_clip
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    if spec.model.startswith("hf-hub:"):
        repo, filename = spec.model[len("hf-hub:") :], "open_clip_config.json"
    else:
        pretrained = open_clip.get_pretrained_cfg(spec.model, spec.pretrained or "")
        hub = str(pretrained.get("hf_hub", "")) if pretrained else ""
        if not hub:
            return False
        repo, filename = os.path.split(hub.rstrip("/"))[0], os.path.split(hub)[1] or "open_clip_pytorch_model.bin"
    return isinstance(try_to_load_from_cache(repo, filename), str)


class DownloadMemo:
    """Remembers a failed weights download under the model cache, so an offline machine pays for it once a day."""

    def __init__(self, cache_dir: Path, space: str) -> None:
        self.path = cache_dir / "downloads" / f"{space}.failed.json"

    def recent_failure(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if time.time() - float(data.get("at", 0)) > RETRY_DOWNLOAD_AFTER_S:
            return None
        return str(data.get("reason", "download failed"))

    def failed(self, reason: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"at": time.time(), "reason": reason}), encoding="utf-8")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class ClipModel:
    """An open_clip model: batched image vectors through the runtime layer, text vectors for queries."""

    def __init__(
        self,
        spec: ClipSpec,
        *,
        device: str = "auto",
        backend: str = "eager",
        precision: str = "auto",
        cache_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        alternatives: Sequence[tuple[str, str]] | None = None,
        measure: bool = True,
    ) -> None:
        """`threads`, `batch_size` and `alternatives` (measured against the chosen backend on the first batch,
        see runtime.runner.prepare_model) default to those of the recorded runtime choice of "clip-image" that
        has this device, backend and precision (runtime.models.choose), if any."""
        self.spec = spec
        self.space = spec.space
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise ModelUnavailableError("CLIP needs torch and open_clip_torch (pip install 'chronicon[ml]')") from exc
        from chronicon.runtime.device import choose_device

        self.device = choose_device(device)
        problem = weights_problem(spec)
        if problem:
            raise ModelUnavailableError(problem)
        memo = DownloadMemo(cache_dir, self.space) if cache_dir is not None else None
        failure = memo.recent_failure() if memo is not None and not _is_local(spec) else None
        if failure:
            raise ModelUnavailableError(f"CLIP weights could not be downloaded earlier ({failure}); retried daily")
        pretrained = None if spec.local_dir is not None or spec.model.startswith("hf-hub:") else spec.pretrained
        try:
            model, _, _ = open_clip.create_model_and_transforms(
                spec.model, pretrained=pretrained, device="cpu", pretrained_text=False
            )
        except (RuntimeError, OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if memo is not None and not _is_local(spec):
                memo.failed(reason)
            raise ModelUnavailableError(f"cannot load CLIP {spec.model}: {reason}") from exc
        if memo is not None:
            memo.clear()
        model.eval()
        self._torch = torch
        self.model = model
        self.tokenizer = open_clip.get_tokenizer(spec.model)
        preprocess = open_clip.get_model_preprocess_cfg(model)
        size = preprocess.get("size", 224)
        self.image_size = int(size[0] if isinstance(size, (list, tuple)) else size)
        self.mean = np.array(preprocess.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)
        self.std = np.array(preprocess.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)
        self.backend = backend
        self.precision = precision
        self.threads = threads
        self.batch_size = batch_size
        self.alternatives = alternatives
        self.measure = measure  # False: use a decision measured before, measure nothing new
        self._image_runner: Any = None
        self.dim = int(getattr(model, "embed_dim", 0) or self._probe_dim())

    def _probe_dim(self) -> int:
        return int(self.encode_texts(["a"]).shape[1])

    def image_runner(self) -> Any:
        """The image tower prepared by the runtime layer (device, backend, precision), built on first use."""
        with self._lock:
            if self._image_runner is None:
                from chronicon.runtime.runner import prepare_model

                torch = self._torch
                model = self.model

                class ImageTower(torch.nn.Module):  # type: ignore[name-defined,misc]
                    def __init__(self) -> None:
                        super().__init__()
                        self.clip = model

                    def forward(self, x: Any) -> Any:
                        return torch.nn.functional.normalize(self.clip.encode_image(x), dim=-1)

                from chronicon.runtime.models import recorded_choice

                recorded = recorded_choice(
                    "clip-image", device=self.device, backend=self.backend, precision=self.precision
                )
                threads = self.threads if self.threads is not None else recorded.threads if recorded else 0
                batch = self.batch_size if self.batch_size is not None else recorded.batch_size if recorded else None
                alternatives = self.alternatives
                if alternatives is None:
                    alternatives = recorded.alternatives if recorded else ()
                example = torch.zeros(1, 3, self.image_size, self.image_size)
                self._image_runner = prepare_model(
                    ImageTower(),
                    name="clip-image",
                    fingerprint=self.space,
                    example=example,
                    device=self.device,
                    backend=self.backend,
                    precision=self.precision,
                    cache_dir=self.cache_dir,
                    threads=threads,
                    alternatives=alternatives,
                    batch_size=batch,
                    measure=self.measure,
                )
                self._settle(self._image_runner)
            return self._image_runner

    @staticmethod
    def _settle(runner: Any) -> None:
        """Tell the runtime registry what the image tower runs with (and, once measured, the figures why)."""
        from chronicon.runtime.models import add_note, settle

        note = runner.notes[-1] if runner.notes else ""  # (says why, where the measurement changed the backend)
        settle("clip-image", device=runner.device, backend=runner.backend, precision=runner.precision, note=note)
        for note in runner.notes:
            add_note("clip-image", note)

    def pixels(self, images: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """Center-cropped RGB uint8 images (image_size²) -> the normalised NCHW float32 batch the tower takes."""
        batch = np.stack(images).astype(np.float32) / 255.0
        batch = (batch - self.mean) / self.std
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def encode_images(self, images: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        runner = self.image_runner()
        deciding = runner.deciding
        out = runner(self.pixels(images))
        if deciding and not runner.deciding:  # the first batch measured the alternatives: record the outcome
            self._settle(runner)
        return normalise(np.asarray(out, dtype=np.float32))

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        torch = self._torch
        tokens = self.tokenizer(list(texts))
        with torch.inference_mode():
            out = self.model.encode_text(tokens)
        return normalise(out.float().numpy())


def _is_local(spec: ClipSpec) -> bool:
    return spec.local_dir is not None or spec.checkpoint_file is not None
