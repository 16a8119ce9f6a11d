"""ConSE (Norouzi et al., ICLR 2014): an image vector in a text space, from the classes a tagger and a detector see.

The vector is the normalised, score-weighted sum of the text embeddings of the predicted class names, so a text
query embedded by the same text model can reach photos without any image-text model. Nothing here knows any
particular class, image or query: the class names come from the models' own label files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.text import TextEmbedder, normalise


class ConceptSpace:
    """Text vectors of a fixed vocabulary of class names, and the ConSE combination over it."""

    def __init__(self, embedder: TextEmbedder, names: Sequence[str], texts: Sequence[str], cache_name: str) -> None:
        if len(names) != len(texts):
            raise ValueError("names and texts must have the same length")
        self.embedder = embedder
        self.index = {name: i for i, name in enumerate(names)}
        self.vectors = embedder.embed_cached(list(texts), cache_name)

    def combine(self, weights: Mapping[str, float]) -> NDArray[np.float32] | None:
        """Normalised Σ weight × vector(name) over the known names with a positive weight; None if none."""
        rows = [(self.index[name], w) for name, w in weights.items() if name in self.index and w > 0]
        if not rows:
            return None
        idx = np.array([i for i, _ in rows])
        w = np.array([w for _, w in rows], dtype=np.float32)
        vector = (w[:, None] * self.vectors[idx]).sum(axis=0, keepdims=True)
        out: NDArray[np.float32] = normalise(vector)[0]
        return out


def merge_scores(*sources: Mapping[str, float]) -> dict[str, float]:
    """One score per label from several models: the highest any of them gave."""
    merged: dict[str, float] = {}
    for source in sources:
        for label, score in source.items():
            merged[label] = max(score, merged.get(label, 0.0))
    return dict(sorted(merged.items(), key=lambda kv: -kv[1]))
