"""Built-in ML pass `caption`: a VLM caption per photo and per video shot, embedded and full-text indexed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import segment_pictures
from chronicon.analyzers.spaces import RankedHit, SpaceEncoder, TextEmbedder, TextList, VectorSpace
from chronicon.config import Setting
from chronicon.embed.captioner import DEFAULT_PROMPT, DEFAULT_VLM, weights_problem
from chronicon.embed.packaged import package_dir
from chronicon.embed.text import DEFAULT_TEXT_MODEL, derived_space, resolve_text_model, shared_text_embedder
from chronicon.errors import ModelUnavailableError, QueryError
from chronicon.hookspecs import hookimpl
from chronicon.runtime.backends import RUNTIME_SETTINGS
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
    model_names: ClassVar[tuple[str, ...]] = ("captioner", "text-embedder")
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
        "frames_per_shot": Setting(
            "int", 2, minimum=1, maximum=16, help="a video shot's frames captioned, at most (seconds a frame)"
        ),
        **RUNTIME_SETTINGS,
        "quantization": Setting(
            "str", "auto", choices=("auto", "4bit", "none"), help="(older key) 4bit = `precision: 4bit` on CUDA"
        ),
        "lora": Setting("str", None, nullable=True),
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
        model = self.config.str("model")
        problem = weights_problem(model)
        if problem is None:
            from chronicon.embed.clip import DownloadMemo

            failure = DownloadMemo(self.context.model_cache_dir, "vlm-" + model.replace("/", "--")).recent_failure()
            if failure:
                problem = f"the captioning model could not be loaded ({failure}); retried after a day"
        return problem + "; set caption.model to a local model folder, or caption.enabled: false" if problem else None

    def fingerprint(self) -> str:
        c = self.config
        text_space = resolve_text_model(c.str("text_model"))[1]
        base = f"{self.version}:{c['model']}:{c['lora']}:{c['prompt']}:{c['max_new_tokens']}:{text_space}"
        return base if c.int("frames_per_shot") == 2 else f"{base}:f{c.int('frames_per_shot')}"

    def _load(self) -> None:
        from chronicon.embed.captioner import Captioner
        from chronicon.embed.clip import DownloadMemo

        model = self.config.str("model")
        memo = DownloadMemo(self.context.model_cache_dir, "vlm-" + model.replace("/", "--"))
        choice = self.runtime_choice("captioner")
        quantization = self.config.str("quantization")  # (older key) 'none' or '4bit' still decides
        if quantization == "auto" and choice.precision != "4bit":
            quantization = "none"
        try:
            self.captioner = Captioner(
                model,
                device=choice.device,
                precision=choice.precision,
                quantization=quantization,
                lora=self.config.optional_str("lora"),
                max_new_tokens=self.config.int("max_new_tokens"),
                prompt=self.config.str("prompt"),
            )
        except ModelUnavailableError as exc:
            if "needs about" not in str(exc):  # a memory shortfall is not a download problem
                memo.failed(str(exc)[:300])
            raise
        memo.clear()
        self.text = shared_text_embedder(self.config.str("text_model"), cache_dir=self.context.model_cache_dir)

    def picture_side(self, item: AssetItem) -> int:
        return self.config.int("resize")

    def prepare(self, item: AssetItem) -> Any:
        side = self.config.int("resize")
        limit = self.context.scan_section.int("max_image_pixels")
        pictures = segment_pictures(item, side, max_pixels=limit, per_segment=self.config.int("frames_per_shot"))
        for pic in pictures:
            pic.image = pic.image.copy()
            pic.image.thumbnail((side, side))
        return pictures

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        assert self.captioner is not None
        frames = [(n, pic) for n, item in enumerate(items) for pic in item.cache[self.input_key]]
        captions = self.captioner.caption([pic.image for _, pic in frames], batch_size=self.config.int("batch_size"))
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
                    VectorRow(
                        item.id,
                        np.asarray(v, dtype=np.float32),
                        segment=i,
                        t_start=pic.t_start,
                        t_end=pic.t_end,
                        content_hash=str(digest) if digest else None,
                    )
                    for (i, pic, _), v in zip(texts, vectors, strict=True)
                ]
                columns[VECTORS_KEY] = {caption_space(self.text.space): (int(vectors.shape[1]), rows)}
            outcomes.append(columns)
        return outcomes


def _caption_embedder(owner: CaptionPass) -> tuple[str, TextEmbedder] | None:
    """The captions' space and the text model that embedded them (None: no text model here)."""
    return derived_space(owner.config.str("text_model"), CAPTION_SUFFIX, cache_dir=owner.context.model_cache_dir)


class CaptionEncoder(SpaceEncoder):
    """Text queries against the captions' vectors (a space for libraries captioned but not tagged)."""

    kind = "caption"

    def __init__(self, analyzer: CaptionPass, space: str, embedder: TextEmbedder) -> None:
        super().__init__(analyzer)
        self.space = space
        self.embedder = embedder

    def unavailable(self) -> str | None:
        return None  # only the text model is needed, not the captioning model

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        return self.embedder.embed(texts)

    def encode_image(self, path: str) -> NDArray[np.float32]:
        raise QueryError("searching by image needs the clip or conse space (enable the clip or tags pass)")


def _caption_encoder(owner: CaptionPass) -> CaptionEncoder | None:
    found = _caption_embedder(owner)
    return CaptionEncoder(owner, *found) if found is not None else None


def caption_of(row: dict[str, Any], segment: int) -> str | None:
    """The caption of a segment (0 = the photo or poster), shortened for display."""
    text: str | None = row.get("caption") if segment == 0 else None
    if segment > 0:
        try:
            text = json.loads(row.get("segment_captions") or "{}").get(str(segment))
        except (ValueError, AttributeError):
            text = None
    if text and len(text) > 80:
        text = text[:77] + "..."
    return text


def _describe_caption(hit: RankedHit) -> str:
    text = caption_of(hit.row, hit.segment)
    return f"caption{' ' + repr(text) if text else ''} ({hit.score or 0.0:.3f}, #{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [CaptionPass]


@hookimpl
def chronicon_register_spaces() -> list[VectorSpace | TextList]:
    return [
        VectorSpace(
            "caption",
            owner="caption",
            encoder=_caption_encoder,
            priority=30,
            help="the captions' sentence vectors (libraries captioned but not tagged)",
        ),
        TextList(
            "caption",
            _describe_caption,
            owner="caption",
            embedder=_caption_embedder,
            columns=("caption", "segment_captions"),
        ),
        TextList("captions", lambda hit: f"caption mentions it (#{hit.rank})", column="caption_text"),
    ]
