"""What passes contribute to search (`chronicon_register_spaces`): vector spaces with their query encoders, and the
extra ranked lists (vectors of what was said or written, full-text columns) fused into searches with words."""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem
from chronicon.embed.text import normalise
from chronicon.errors import MediaError, QueryError
from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes

_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED_KINDS = frozenset({"auto"})


class WeightedText(Protocol):
    """A query term: its words and weight (`chronicon.search.query.QueryTerm`; negative = "not this")."""

    @property
    def text(self) -> str: ...

    @property
    def weight(self) -> float: ...


class TextEmbedder(Protocol):
    """Anything that embeds sentences into unit vectors of one space (the text model a pass used)."""

    def embed(self, texts: list[str]) -> NDArray[np.float32]: ...


def combine(vectors: NDArray[np.float32], weights: Sequence[float]) -> NDArray[np.float32]:
    """Σ weight × vector, normalised (rclip-style arithmetic on unit vectors)."""
    total = (np.asarray(list(weights), dtype=np.float32)[:, None] * vectors).sum(axis=0, keepdims=True)
    out: NDArray[np.float32] = normalise(total)[0]
    return out


class SpaceEncoder(ABC):
    """Turns queries into vectors of one space, using the same models (and code) the scan used."""

    kind: str  # what users pick with --space ("clip")
    space: str  # the catalog's vector table ("clip-vit-b-32-laion2b-s34b-b79k")

    def __init__(self, analyzer: Analyzer | None) -> None:
        self.analyzer = analyzer  # the pass whose models (and code path) made the stored vectors

    def unavailable(self) -> str | None:
        """Why queries cannot be encoded here (the model is missing), or None."""
        return self.analyzer.unavailable() if self.analyzer is not None else None

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]: ...

    def encode_terms(self, terms: Sequence[WeightedText]) -> NDArray[np.float32]:
        vectors = self.encode_texts([t.text for t in terms])
        return combine(vectors, [t.weight for t in terms])

    def encode_image(self, path: str) -> NDArray[np.float32]:
        """The vector the scan would store for this file (it need not be in the catalog): the pass runs on it."""
        analyzer = self.analyzer
        if analyzer is None:
            raise QueryError(f"the {self.kind} space cannot be searched by image")
        item = query_item(path)
        analyzer.load()
        try:
            item.cache[analyzer.input_key] = analyzer.prepare(item)
            outcome = analyzer.run([item])[0]
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

    def explain(self, query: NDArray[np.float32], row: dict[str, Any], segment: int) -> list[str]:
        """What about this asset (or its video segment) brought it close to the query, best first; may be empty."""
        return []


@dataclass(frozen=True)
class VectorSpace:
    """A searchable vector space a pass fills: `--space KIND` (and the web's space selector) picks it.

    `encoder` builds the query encoder from the owner pass (enabled in this library), or returns None when the
    pass's config has this space turned off. With `--space auto` the first space (lowest `priority`) that has
    vectors in the catalog and a usable model is searched."""

    kind: str
    owner: str
    encoder: Callable[[Any], SpaceEncoder | None]
    help: str = ""
    priority: int = 50


@dataclass(frozen=True)
class RankedHit:
    """What a text list's `describe` is told about one of its entries."""

    row: dict[str, Any]  # the asset's result columns
    segment: int  # the segment (video segment, transcript sentence) the entry is for; 0 = the whole asset
    score: float | None  # cosine similarity for vector lists; None for full-text matches
    rank: int  # 1-based, within this list
    words: list[str]  # the query's positive words, lower-case


@dataclass(frozen=True)
class TextList:
    """A ranked list fused (reciprocal-rank fusion) into searches that have words.

    Either a vector list (`embedder` gives the owner pass's (space, text embedder): the words are embedded and
    matched against that space, e.g. transcript sentences), or a full-text list (`column`, an assets column with a
    full-text index, e.g. `labels_text`). `describe` says, for a hit, why this list found it. `moments`: whether the
    list's segments are visual segments of the video (a transcript sentence is not: it keeps the times only)."""

    name: str
    describe: Callable[[RankedHit], str]
    owner: str | None = None  # the pass that must be enabled (None: used whenever its column exists)
    embedder: Callable[[Any], tuple[str, TextEmbedder] | None] | None = None
    column: str | None = None
    columns: tuple[str, ...] = ()  # assets columns `describe` reads (besides the result columns)
    min_score: float | None = None  # vector lists: entries below are not matches (None: search.speech_min_score)
    moments: bool = True


def validate_contribution(item: Any) -> str | None:
    """Why a plugin's `chronicon_register_spaces` answer item is unusable, or None."""
    if isinstance(item, VectorSpace):
        if not _KIND.match(item.kind) or item.kind in RESERVED_KINDS:
            return f"space kind {item.kind!r} must be lower-case letters, digits, - and _ (and not 'auto')"
        if not callable(item.encoder):
            return f"space {item.kind!r}: encoder must be callable"
        return None
    if isinstance(item, TextList):
        if not _KIND.match(item.name):
            return f"text list name {item.name!r} must be lower-case letters, digits, - and _"
        if (item.embedder is None) == (item.column is None):
            return f"text list {item.name!r} needs exactly one of `embedder` (vectors) or `column` (full text)"
        return None
    return f"{item!r} is not a VectorSpace or TextList"


def query_item(path: str) -> AssetItem:
    """A file given as a query (`similar PATH`, an uploaded image) as an item a pass can run on."""
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
