"""Text embeddings: the cached ONNX copy equals sentence-transformers; class-name vectors are cached on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from chronicon.embed.text import DEFAULT_TEXT_MODEL, OnnxSentenceEncoder, TextEmbedder, resolve_text_model

TEXTS = ["a cat on a sofa", "rocket", "x", "people celebrating a birthday with a cake and candles " * 3, "Ünïcödé ✓"]


def test_onnx_copy_matches_sentence_transformers(model_cache: Path) -> None:
    plain = TextEmbedder(DEFAULT_TEXT_MODEL, cache_dir=None)  # no cache: sentence-transformers itself
    fast = TextEmbedder(DEFAULT_TEXT_MODEL, cache_dir=model_cache)
    reference = plain.embed(TEXTS)
    out = fast.embed(TEXTS, batch_size=2)  # batches of mixed lengths exercise the padding
    assert isinstance(fast._load(), OnnxSentenceEncoder)
    assert out.shape == (len(TEXTS), 384) == reference.shape
    assert np.abs(out - reference).max() < 1e-4
    assert fast.dim == 384 and plain.dim == 384


def test_embed_cached_reuses_the_file(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = TextEmbedder(DEFAULT_TEXT_MODEL, cache_dir=model_cache)
    first = embedder.embed_cached(["cat", "dog"], "pets")
    monkeypatch.setattr(embedder, "embed", lambda texts, batch_size=64: pytest.fail("recomputed"))
    assert np.array_equal(embedder.embed_cached(["cat", "dog"], "pets"), first)


def test_text_model_names_make_distinct_spaces(tmp_path: Path) -> None:
    assert resolve_text_model(DEFAULT_TEXT_MODEL)[1] == "minilm-l6-v2"
    folder = tmp_path / "my-model"
    folder.mkdir()
    source, space = resolve_text_model(str(folder))
    assert source == str(folder) and space.startswith("my-model-")
    assert resolve_text_model("sentence-transformers/all-mpnet-base-v2")[1] == "sentence-transformers-all-mpnet-base-v2"
