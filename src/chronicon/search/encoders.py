"""Query encoders: text and images into the vector space of the pass that filled it (CLIP or ConSE)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.analyzers.base import VECTORS_KEY, AssetItem
from chronicon.embed.text import normalise
from chronicon.errors import MediaError
from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes
from chronicon.search.query import QueryTerm


def combine(vectors: NDArray[np.float32], weights: list[float]) -> NDArray[np.float32]:
    """Σ weight × vector, normalised (rclip-style arithmetic on unit vectors)."""
    total = (np.asarray(weights, dtype=np.float32)[:, None] * vectors).sum(axis=0, keepdims=True)
    out: NDArray[np.float32] = normalise(total)[0]
    return out


class SpaceEncoder(ABC):
    """Turns queries into vectors of one space, using the same models (and code) the scan used."""

    kind: str
    space: str

    def __init__(self, analyzer: Any) -> None:
        self.analyzer: Any = analyzer  # the pass whose models (and code path) made the stored vectors

    def unavailable(self) -> str | None:
        """Why queries cannot be encoded here (the model is missing), or None."""
        problem: str | None = self.analyzer.unavailable()
        return problem

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]: ...

    def encode_terms(self, terms: list[QueryTerm]) -> NDArray[np.float32]:
        vectors = self.encode_texts([t.text for t in terms])
        return combine(vectors, [t.weight for t in terms])

    def encode_image(self, path: str) -> NDArray[np.float32]:
        """The vector the scan would store for this file (it need not be in the catalog)."""
        item = _query_item(path)
        self.analyzer.load()
        try:
            item.cache[self.analyzer.input_key] = self.analyzer.prepare(item)
            outcome = self.analyzer.run([item])[0]
        except OSError as exc:
            raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if isinstance(outcome, BaseException):
            if isinstance(outcome, MediaError):
                raise outcome
            raise MediaError(f"cannot embed {path}: {outcome}") from outcome
        vectors: dict[str, tuple[int, list[Any]]] = outcome.get(VECTORS_KEY) or {}
        if self.space not in vectors or not vectors[self.space][1]:
            raise MediaError(f"{path}: nothing recognisable to search with")
        return np.asarray(vectors[self.space][1][0].vector, dtype=np.float32)

    def explain(self, query: NDArray[np.float32], labels: list[str], scores: list[float]) -> list[str]:
        """Which of an asset's labels brought it close to the query (best first); empty when unknown."""
        return []


class ClipEncoder(SpaceEncoder):
    kind = "clip"

    def __init__(self, analyzer: Any) -> None:
        super().__init__(analyzer)
        self.space = analyzer.spec.space

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        self.analyzer.load()
        out: NDArray[np.float32] = self.analyzer.clip.encode_texts(texts)
        return out


class ConseEncoder(SpaceEncoder):
    kind = "conse"

    def __init__(self, analyzer: Any, space: str) -> None:
        super().__init__(analyzer)
        self.space = space

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        self.analyzer.load_text_side()
        out: NDArray[np.float32] = self.analyzer.text.embed(texts)
        return out

    def explain(self, query: NDArray[np.float32], labels: list[str], scores: list[float]) -> list[str]:
        self.analyzer.load_text_side()
        concepts = self.analyzer.concepts
        if concepts is None:
            return []
        parts: list[tuple[float, str]] = []
        for label, score in zip(labels, scores, strict=False):
            index = concepts.index.get(label)
            if index is None:
                continue
            similarity = float(concepts.vectors[index] @ query)
            parts.append((similarity * score, f"{label} ({score:.2f})"))
        parts.sort(key=lambda p: -p[0])
        return [text for weight, text in parts[:3] if weight > 0]


class CaptionEncoder(SpaceEncoder):
    """Text queries against the captions' vectors (a space for libraries captioned but not tagged)."""

    kind = "caption"

    def __init__(self, analyzer: Any, space: str) -> None:
        super().__init__(analyzer)
        self.space = space

    def unavailable(self) -> str | None:
        return None  # only the text model is needed, not the captioning model

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        from chronicon.embed.text import shared_text_embedder

        config = self.analyzer.config
        embedder = shared_text_embedder(str(config.get("text_model")), cache_dir=self.analyzer.context.model_cache_dir)
        out: NDArray[np.float32] = embedder.embed(texts)
        return out

    def encode_image(self, path: str) -> NDArray[np.float32]:
        from chronicon.search.query import QueryError

        raise QueryError("searching by image needs the clip or conse space (enable the clip or tags pass)")


def _query_item(path: str) -> AssetItem:
    real = os.path.abspath(os.path.expanduser(path))
    try:
        with open(real, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError as exc:
        raise MediaError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise MediaError(f"{path} is a folder, not a photo or video") from exc
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    sniffed = sniff_bytes(head)
    if sniffed is None:
        raise MediaError(f"{path} is not a recognised photo or video")
    return AssetItem("query", real, sniffed.kind, sniffed.format, size, 0)
