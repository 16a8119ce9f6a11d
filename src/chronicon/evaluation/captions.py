"""Caption metrics from well-kept libraries: BLEU (sacrebleu), ROUGE-L (rouge-score), METEOR (NLTK)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chronicon.errors import ChroniconError


class EvalError(ChroniconError):
    """An evaluation input that cannot be used (bad file, missing fields, nothing to compare)."""


@dataclass
class CaptionCase:
    key: str  # a path or an id
    caption: str
    references: list[str]


class _NoWordNet:
    """NLTK's METEOR with exact and Porter-stem matching only, for machines without the WordNet corpus."""

    def synsets(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def wordnet_or_none() -> Any:
    """NLTK's WordNet when its corpus is installed (nltk.download('wordnet')), else None."""
    try:
        from nltk.corpus import wordnet

        wordnet.synsets("dog")
    except (LookupError, ImportError, OSError):
        return None
    return wordnet


def load_cases(path: Path, captions: dict[str, str] | None = None) -> list[CaptionCase]:
    """refs.json: a list of {"path" or "id", "references": [...], "caption" (optional: else from `captions`)}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from exc
    items = data.get("items", data) if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise EvalError(f"{path}: expected a non-empty list of {{path|id, references, caption}}")
    cases: list[CaptionCase] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise EvalError(f"{path}: item {n} is not an object")
        key = str(item.get("path") or item.get("id") or "")
        refs = item.get("references") or item.get("refs")
        if not key or not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise EvalError(f"{path}: item {n} needs a path or id and a non-empty list of reference strings")
        caption = item.get("caption")
        if caption is None and captions is not None:
            caption = captions.get(key)
        if not isinstance(caption, str):
            raise EvalError(f"{path}: item {n} ({key}) has no caption (give one, or caption the file first)")
        cases.append(CaptionCase(key, caption, list(refs)))
    return cases


def score_captions(cases: list[CaptionCase]) -> dict[str, Any]:
    """Corpus BLEU (0-100), mean ROUGE-L F1 and mean METEOR (0-1), with the per-item ROUGE-L and METEOR."""
    import sacrebleu
    from nltk.stem.porter import PorterStemmer
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    if not cases:
        raise EvalError("nothing to evaluate")
    width = max(len(c.references) for c in cases)
    streams = [[c.references[i] if i < len(c.references) else c.references[0] for c in cases] for i in range(width)]
    bleu = sacrebleu.corpus_bleu([c.caption for c in cases], streams)
    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    wordnet = wordnet_or_none()
    stemmer = PorterStemmer()
    items = []
    for case in cases:
        rouge_l = max(rouge.score(ref, case.caption)["rougeL"].fmeasure for ref in case.references)
        meteor = meteor_score(
            [ref.lower().split() for ref in case.references],
            case.caption.lower().split(),
            stemmer=stemmer,
            wordnet=wordnet if wordnet is not None else _NoWordNet(),
        )
        items.append(
            {"key": case.key, "caption": case.caption, "rouge_l": round(rouge_l, 4), "meteor": round(meteor, 4)}
        )
    return {
        "items": items,
        "bleu": round(float(bleu.score), 2),
        "rouge_l": round(sum(i["rouge_l"] for i in items) / len(items), 4),
        "meteor": round(sum(i["meteor"] for i in items) / len(items), 4),
        "meteor_synonyms": wordnet is not None,
        "count": len(items),
    }
