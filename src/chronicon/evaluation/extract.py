"""Structured-extraction scoring: exact match for categorical fields, embedding cosine for free text, after a
terminology map turns synonyms into their canonical terms."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chronicon.evaluation.captions import EvalError

Embed = Callable[[list[str]], Any]


@dataclass
class FieldScore:
    name: str
    kind: str  # "categorical" or "text"
    score: float  # accuracy (categorical) or mean cosine (text), 0..1
    compared: int
    missing: int  # items whose prediction lacks the field (scored 0)


@dataclass
class ExtractionReport:
    fields: list[FieldScore]
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per item and field

    @property
    def overall(self) -> float:
        return float(np.mean([f.score for f in self.fields])) if self.fields else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "overall": round(self.overall, 4),
            "fields": [vars(f) | {"score": round(f.score, 4)} for f in self.fields],
            "items": self.rows,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, ["id", "field", "kind", "truth", "prediction", "score"])
        writer.writeheader()
        writer.writerows(self.rows)
        for f in self.fields:
            writer.writerow({"id": "(all)", "field": f.name, "kind": f.kind, "score": round(f.score, 4)})
        writer.writerow({"id": "(all)", "field": "(overall)", "score": round(self.overall, 4)})
        return out.getvalue()


def terminology_lookup(terms: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """{canonical: [synonyms]} -> {lower-case synonym or canonical: canonical}."""
    lookup: dict[str, str] = {}
    for canonical, synonyms in terms.items():
        lookup[str(canonical).strip().lower()] = str(canonical)
        for synonym in synonyms or []:
            lookup[str(synonym).strip().lower()] = str(canonical)
    return lookup


def normalise(value: Any, lookup: Mapping[str, str]) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return lookup.get(text.lower(), text)


def load_truth(path: Path, id_column: str = "id") -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise EvalError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not rows or id_column not in rows[0]:
        raise EvalError(f"{path}: expected a CSV with a header row and an {id_column!r} column")
    return {str(r[id_column]): {k: v for k, v in r.items() if k != id_column} for r in rows}


def load_predictions(path: Path, id_key: str = "id") -> dict[str, dict[str, Any]]:
    """pred.json: a list of objects with an id, or an object {id: {field: value}}; or pred.csv shaped like the
    truth file (a header row with the id column)."""
    if path.suffix.lower() == ".csv":
        return load_truth(path, id_key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from exc
    if isinstance(data, dict):
        return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)}
    if isinstance(data, list):
        out = {}
        for item in data:
            if isinstance(item, dict) and id_key in item:
                out[str(item[id_key])] = {k: v for k, v in item.items() if k != id_key}
        return out
    raise EvalError(f"{path}: expected a list of objects with {id_key!r}, or an object keyed by id")


# A value of this many words or more reads as a phrase or sentence, not a label ("two cars collide at ...").
SENTENCE_WORDS = 3


def infer_kinds(truth: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Each field's kind, from its truth values alone (see `kind_reasons` for why)."""
    return {name: kind for name, (kind, _why) in kind_reasons(truth).items()}


def kind_reasons(truth: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str]]:
    """Free text when the values are sentences (the median value has several words and most values differ),
    whatever the number of items; categorical (exact match) for labels, numbers and repeated values.

    Counting distinct values alone cannot tell them apart on a small set: three descriptions of three dashcam
    clips are three distinct values, as three colours are, but only the descriptions should be scored by
    meaning rather than by exact match."""
    fields = sorted({f for row in truth.values() for f in row})
    kinds: dict[str, tuple[str, str]] = {}
    for name in fields:
        values = [v for v in (str(row.get(name) or "").strip().lower() for row in truth.values()) if v]
        if not values:
            kinds[name] = ("categorical", "no values")
            continue
        words = sorted(len(v.split()) for v in values)
        median = words[len(words) // 2]
        distinct = len(set(values)) / len(values)
        if median >= SENTENCE_WORDS and distinct >= 0.5:
            kinds[name] = ("text", f"sentences: median {median} words, {distinct:.0%} distinct")
        else:
            why = f"labels: median {median} words" if median < SENTENCE_WORDS else f"repeated: {distinct:.0%} distinct"
            kinds[name] = ("categorical", why)
    return kinds


def score_extraction(
    truth: Mapping[str, Mapping[str, str]],
    predictions: Mapping[str, Mapping[str, Any]],
    *,
    kinds: Mapping[str, str],
    terms: Mapping[str, Sequence[str]] | None = None,
    embed: Embed | None = None,
) -> ExtractionReport:
    """Per-field and overall scores over the items that have a truth row; a missing prediction scores 0."""
    lookup = terminology_lookup(terms or {})
    report = ExtractionReport(fields=[])
    for name, kind in kinds.items():
        pairs: list[tuple[str, str, str | None]] = []
        for item_id, row in truth.items():
            predicted = predictions.get(item_id, {}).get(name)
            pairs.append(
                (item_id, normalise(row.get(name), lookup), None if predicted is None else normalise(predicted, lookup))
            )
        scores: list[float] = []
        if kind == "categorical":
            scores = [float(p is not None and t.lower() == p.lower()) for _, t, p in pairs]
        else:
            if embed is None:
                raise EvalError(f"field {name!r} is free text: scoring it needs a text embedder")
            present = [(t, p) for _, t, p in pairs if p is not None]
            sims: Iterator[float] = iter([])
            if present:
                vectors = np.asarray(embed([t for t, _ in present] + [p for _, p in present]), dtype=np.float32)
                half = len(present)
                sims = iter(float(np.clip(np.dot(vectors[i], vectors[half + i]), 0.0, 1.0)) for i in range(half))
            scores = [next(sims) if p is not None else 0.0 for _, _, p in pairs]
        for (item_id, t, p), s in zip(pairs, scores, strict=True):
            report.rows.append(
                {"id": item_id, "field": name, "kind": kind, "truth": t, "prediction": p, "score": round(s, 4)}
            )
        missing = sum(1 for _, _, p in pairs if p is None)
        report.fields.append(FieldScore(name, kind, float(np.mean(scores)) if scores else 0.0, len(pairs), missing))
    return report
