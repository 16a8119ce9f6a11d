"""Built-in ML pass `ocr`: the text in photos and video shots (signs, pages, screenshots), stored, full-text indexed
and embedded in the text model's space, so the one search box finds a picture by the words it shows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import segment_pictures
from chronicon.analyzers.spaces import RankedHit, TextEmbedder, TextList, VectorSpace
from chronicon.config import Setting
from chronicon.embed.ocr import MODEL_NAME, TextLine, ocr_problem
from chronicon.embed.text import DEFAULT_TEXT_MODEL, derived_space, resolve_text_model, shared_text_embedder
from chronicon.hookspecs import hookimpl
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "ocr"
OCR_SUFFIX = ":ocr"  # the text's sentence vectors live in the text model's space, in a table of their own


class OcrPass(Analyzer):
    """Reads the text in each photo and in the sampled frames of each video shot (RapidOCR, PP-OCRv4)."""

    name: ClassVar[str] = "ocr"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    model_names: ClassVar[tuple[str, ...]] = ("ocr", "text-embedder")
    columns: ClassVar[dict[str, pa.DataType]] = {
        "ocr_text": pa.string(),  # every line read in the asset (photo, poster, shots), one per line
        # JSON [{"text", "score", "box": [x0, y0, x1, y1] (fractions), "segment", "t_start"}]
        "ocr_lines": pa.string(),
    }
    settings: ClassVar[dict[str, Setting]] = {
        # The working size of the reader (shorter side, px): text smaller than about 1/60 of it is not read.
        "resize": Setting("int", 1080, minimum=64, maximum=4096),
        # The gate's detector runs on a copy this large (longer side): no text region there, nothing more runs.
        "gate_side": Setting("int", 416, minimum=64, maximum=4096),
        "min_score": Setting("float", 0.6, minimum=0.0, maximum=1.0),
        # Video: read at most this many frames per video (poster and shots' sampled frames, evenly chosen).
        "max_frames": Setting("int", 12, minimum=1, maximum=1000),
        "text_model": Setting("str", DEFAULT_TEXT_MODEL),
        **RUNTIME_SETTINGS,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader: Any = None
        self.text: Any = None

    def unavailable(self) -> str | None:
        return ocr_problem()

    def fingerprint(self) -> str:
        c = self.config
        text_space = resolve_text_model(c.str("text_model"))[1]
        return f"{self.version}:{MODEL_NAME}:{c.int('resize')}:{c.int('gate_side')}:{c.float('min_score')}:{text_space}"

    def _load(self) -> None:
        from chronicon.embed.ocr import TextReader

        choice = self.runtime_choice("ocr")
        self.reader = TextReader(device=choice.device, threads=choice.threads, gate_side=self.config.int("gate_side"),
                                 min_score=self.config.float("min_score"))  # fmt: skip
        self.text = shared_text_embedder(self.config.str("text_model"), cache_dir=self.context.model_cache_dir)

    def picture_side(self, item: AssetItem) -> int:
        return self.config.int("resize")

    def prepare(self, item: AssetItem) -> Any:
        side = self.config.int("resize")
        limit = self.context.scan_section.int("max_image_pixels")
        pictures = segment_pictures(item, side, max_pixels=limit)
        most = self.config.int("max_frames")
        if len(pictures) > most:
            picks = sorted({int(i) for i in np.linspace(0, len(pictures) - 1, most)})
            pictures = [pictures[i] for i in picks]
        prepared = []
        for pic in pictures:
            image = pic.image.convert("RGB")
            if min(image.size) > side:  # (the shared decode may be larger; the reader works at `resize`)
                scale = side / min(image.size)
                image = image.resize((round(image.width * scale), round(image.height * scale)))
            prepared.append((pic.segment, np.asarray(image)))
        return prepared

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        assert self.reader is not None
        outcomes: list[Outcome] = []
        for item in items:
            try:
                found = [(segment, self.reader.read(rgb) if self.reader.has_text(rgb) else [])
                         for segment, rgb in item.cache[self.input_key]]  # fmt: skip
                outcomes.append(self._columns(item, found))
            except Exception as exc:  # per-item boundary
                outcomes.append(exc)
        return outcomes

    def _columns(self, item: AssetItem, found: list[tuple[Any, list[TextLine]]]) -> Outcome:
        lines: list[dict[str, Any]] = []
        by_segment: dict[int, tuple[Any, list[str]]] = {}
        for segment, read in found:
            for line in read:
                lines.append({**line.as_json(), "segment": segment.index, "t_start": segment.t_start})
                _, texts = by_segment.setdefault(segment.index, (segment, []))
                if line.text not in texts:
                    texts.append(line.text)
        every = list(dict.fromkeys(line["text"] for line in lines))
        columns: dict[str, Any] = {"ocr_text": "\n".join(every) or None, "ocr_lines": json.dumps(lines)}
        if by_segment and self.text is not None:
            from chronicon.catalog.vectors import VectorRow

            ordered = sorted(by_segment.items())
            vectors = self.text.embed([" ".join(texts) for _, (_, texts) in ordered])
            digest = item.row.get("content_hash")
            rows = [
                VectorRow(
                    item.id,
                    np.asarray(v, dtype=np.float32),
                    segment=index,
                    t_start=seg.t_start,
                    t_end=seg.t_end,
                    content_hash=str(digest) if digest else None,
                )
                for (index, (seg, _)), v in zip(ordered, vectors, strict=True)
            ]
            columns[VECTORS_KEY] = {self.text.space + OCR_SUFFIX: (int(vectors.shape[1]), rows)}
        return columns


def _ocr_embedder(owner: OcrPass) -> tuple[str, TextEmbedder] | None:
    """The text-in-pictures space and the text model that embedded it (None: no text model here)."""
    return derived_space(owner.config.str("text_model"), OCR_SUFFIX, cache_dir=owner.context.model_cache_dir)


def text_of(row: dict[str, Any], segment: int, limit: int = 60) -> str | None:
    """The text read in a segment (0 = the photo or poster; else that shot's), shortened for display."""
    try:
        lines = json.loads(row.get("ocr_lines") or "[]")
    except ValueError:
        return None
    said = " ".join(str(line.get("text")) for line in lines if int(line.get("segment") or 0) == segment)
    said = said or str(row.get("ocr_text") or "").replace("\n", " ")
    return (said[: limit - 3] + "...") if len(said) > limit else (said or None)


def _describe_vector(hit: RankedHit) -> str:
    text = text_of(hit.row, hit.segment)
    return f"text in the picture{' ' + repr(text) if text else ''} ({hit.score or 0.0:.3f}, #{hit.rank})"


def _describe_words(hit: RankedHit) -> str:
    text = text_of(hit.row, hit.segment)
    return f"its text says {text!r} (#{hit.rank})" if text else f"text match (#{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [OcrPass]


@hookimpl
def chronicon_register_spaces() -> list[VectorSpace | TextList]:
    return [
        TextList("ocr", _describe_vector, owner="ocr", embedder=_ocr_embedder, columns=("ocr_text", "ocr_lines")),
        TextList("ocr-words", _describe_words, column="ocr_text", columns=("ocr_lines",)),
    ]
