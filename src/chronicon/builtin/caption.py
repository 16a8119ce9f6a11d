"""Built-in ML pass `caption`: a VLM caption per photo and per video shot, embedded and full-text indexed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import segment_pictures
from chronicon.config import Setting
from chronicon.embed.captioner import DEFAULT_PROMPT, DEFAULT_VLM, weights_problem
from chronicon.embed.packaged import package_dir
from chronicon.embed.text import DEFAULT_TEXT_MODEL, resolve_text_model, shared_text_embedder
from chronicon.errors import ModelUnavailableError
from chronicon.hookspecs import hookimpl
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "caption"
CAPTION_SUFFIX = ":caption"  # caption vectors live in the text model's space, in a table of their own


def caption_space(text_space: str) -> str:
    return text_space + CAPTION_SUFFIX


class CaptionPass(Analyzer):
    """Captions photos and the frames of each video shot with a vision-language model."""

    name: ClassVar[str] = "caption"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    batch_size: ClassVar[int] = 8
    columns: ClassVar[dict[str, pa.DataType]] = {
        "caption": pa.string(),  # the photo, or the video's poster frame
        "segment_captions": pa.string(),  # videos: JSON {"<segment index>": caption}
        "caption_text": pa.string(),  # every caption of the asset, for full-text search
    }
    settings: ClassVar[dict[str, Setting]] = {
        "model": Setting("str", DEFAULT_VLM),
        "prompt": Setting("str", DEFAULT_PROMPT),
        "max_new_tokens": Setting("int", 48, minimum=1, maximum=1024),
        "resize": Setting("int", 384, minimum=32, maximum=4096),
        "quantization": Setting("str", "auto", choices=("auto", "4bit", "none")),
        "lora": Setting("str", None, nullable=True),
        "device": Setting("str", "auto"),
        "batch_size": Setting("int", 4, minimum=1, maximum=256),
        "text_model": Setting("str", DEFAULT_TEXT_MODEL),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.captioner: Any = None
        self.text: Any = None

    def unavailable(self) -> str | None:
        for module, what in (("torch", "torch"), ("transformers", "transformers")):
            if package_dir(module) is None:
                return f"captions need {what} (pip install 'chronicon[ml]')"
        model = str(self.config.get("model", DEFAULT_VLM))
        problem = weights_problem(model)
        if problem is None:
            from chronicon.embed.clip import DownloadMemo

            failure = DownloadMemo(self.context.model_cache_dir, "vlm-" + model.replace("/", "--")).recent_failure()
            if failure:
                problem = f"the captioning model could not be loaded ({failure}); retried after a day"
        return problem + "; set caption.model to a local model folder, or caption.enabled: false" if problem else None

    def fingerprint(self) -> str:
        c = self.config
        text_space = resolve_text_model(str(c.get("text_model", DEFAULT_TEXT_MODEL)))[1]
        return (
            f"{self.version}:{c.get('model')}:{c.get('lora')}:{c.get('prompt')}:{c.get('max_new_tokens')}:{text_space}"
        )

    def _load(self) -> None:
        from chronicon.embed.captioner import Captioner
        from chronicon.embed.clip import DownloadMemo

        model = str(self.config.get("model", DEFAULT_VLM))
        memo = DownloadMemo(self.context.model_cache_dir, "vlm-" + model.replace("/", "--"))
        try:
            self.captioner = Captioner(
                model,
                device=str(self.config.get("device", "auto")),
                quantization=str(self.config.get("quantization", "auto")),
                lora=self.config.get("lora"),
                max_new_tokens=int(self.config.get("max_new_tokens", 48)),
                prompt=str(self.config.get("prompt", DEFAULT_PROMPT)),
            )
        except ModelUnavailableError as exc:
            if "needs about" not in str(exc):  # a memory shortfall is not a download problem
                memo.failed(str(exc)[:300])
            raise
        memo.clear()
        self.text = shared_text_embedder(
            str(self.config.get("text_model", DEFAULT_TEXT_MODEL)), cache_dir=self.context.model_cache_dir
        )

    def prepare(self, item: AssetItem) -> Any:
        side = int(self.config.get("resize", 384))
        limit = int(self.context.scan.get("max_image_pixels", 250_000_000))
        pictures = segment_pictures(item, side, max_pixels=limit)
        for pic in pictures:
            pic.image = pic.image.copy()
            pic.image.thumbnail((side, side))
        return pictures

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        assert self.captioner is not None
        frames = [(n, pic) for n, item in enumerate(items) for pic in item.cache[self.input_key]]
        captions = self.captioner.caption(
            [pic.image for _, pic in frames], batch_size=int(self.config.get("batch_size", 4))
        )
        outcomes: list[Outcome] = []
        for n, item in enumerate(items):
            mine = [(pic, text) for (m, pic), text in zip(frames, captions, strict=True) if m == n]
            by_segment: dict[int, tuple[Any, str]] = {}
            for pic, text in mine:  # several frames of one shot (shots.frames_per_segment): their captions, joined
                first, joined = by_segment.get(pic.index, (pic, ""))
                if text and text not in joined:
                    joined = f"{joined}; {text}" if joined else text
                by_segment[pic.index] = (first, joined)
            poster = by_segment.get(0, (None, ""))[1]
            shots = {str(i): t for i, (_, t) in sorted(by_segment.items()) if i > 0}
            columns: dict[str, Any] = {
                "caption": poster or None,
                "segment_captions": json.dumps(shots) if item.kind == MediaKind.VIDEO else None,
                "caption_text": " ".join([poster, *shots.values()]).strip() or None,
            }
            texts = [(i, pic, t) for i, (pic, t) in sorted(by_segment.items()) if t]
            if texts and self.text is not None:
                from chronicon.catalog.vectors import VectorRow

                vectors = self.text.embed([t for _, _, t in texts])
                digest = item.row.get("content_hash")
                rows = [
                    VectorRow(item.id, np.asarray(v, dtype=np.float32), segment=i, t_start=pic.t_start,
                              t_end=pic.t_end, content_hash=str(digest) if digest else None)
                    for (i, pic, _), v in zip(texts, vectors, strict=True)
                ]  # fmt: skip
                columns[VECTORS_KEY] = {caption_space(self.text.space): (int(vectors.shape[1]), rows)}
            outcomes.append(columns)
        return outcomes


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [CaptionPass]
