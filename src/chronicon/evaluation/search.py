"""Search quality against labelled queries: top-1, top-3, MRR, nDCG@k, negatives and the relevance cutoff.

A queries file (`evaluation/search_queries.yaml`) lists plain-language queries, each with the file names
(basenames) of the photos that answer it; `expect: []` marks a negative, a query nothing in the library
answers. `score_search` runs every query through a search function and scores the ranked hits:

- rank of the first relevant file, top-1 and top-3 (is it first / in the first three), reciprocal rank (1/rank,
  0 when it is not in the first k) and nDCG@k with binary gains (ideal DCG from len(expect) relevant files);
- the cutoff: a hit whose `weak` attribute is true is one the default relevance cutoff would hide. For a
  positive query: are all / any of the relevant files kept, and which fraction of the unrelated files of the
  library does it hide (files not returned at all count as hidden); for a negative: is nothing kept.

Positive-query figures are averaged over positive queries only; negatives are counted apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chronicon.evaluation.captions import EvalError

TOP_KEYS = {"library", "queries", "description"}
QUERY_KEYS = {"query", "expect", "note"}


@dataclass(frozen=True)
class LabelledQuery:
    """One labelled query: its text and the basenames of the files that answer it (empty: a negative)."""

    query: str
    expect: tuple[str, ...]

    @property
    def negative(self) -> bool:
        return not self.expect


def load_queries(path: str | os.PathLike[str]) -> list[LabelledQuery]:
    """Read a queries file: `queries:` (or a bare list) of `{query: str, expect: [basename, ...]}`.

    Raises EvalError for a file that cannot be read or parsed, a missing or empty query, an `expect` that is not a
    list of file names, unknown keys, and the same query twice (compared without case and outer spaces).
    """
    where = Path(path)
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EvalError(f"cannot read {where}: {exc}") from exc
    if isinstance(data, dict):
        unknown = set(data) - TOP_KEYS
        if unknown:
            raise EvalError(f"{where}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))} "
                            f"(known: {', '.join(sorted(TOP_KEYS))})")  # fmt: skip
        items = data.get("queries")
    else:
        items = data
    if not isinstance(items, list) or not items:
        raise EvalError(f"{where}: expected a non-empty list `queries:` of {{query, expect}}")
    queries: list[LabelledQuery] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise EvalError(f"{where}: query {n} is not a mapping {{query, expect}}")
        unknown = set(item) - QUERY_KEYS
        if unknown:
            raise EvalError(f"{where}: query {n} has unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                            f"(known: {', '.join(sorted(QUERY_KEYS))})")  # fmt: skip
        text = item.get("query")
        if not isinstance(text, str) or not text.strip():
            raise EvalError(f"{where}: query {n} has no `query` text")
        text = text.strip()
        if "expect" not in item:
            raise EvalError(f"{where}: query {n} ({text!r}) has no `expect` list (use `expect: []` for a negative)")
        expect = item["expect"]
        if not isinstance(expect, list) or not all(isinstance(e, str) and e.strip() for e in expect):
            raise EvalError(f"{where}: query {n} ({text!r}): `expect` must be a list of file names")
        names = [e.strip() for e in expect]
        for name in names:
            if "/" in name or "\\" in name:
                raise EvalError(f"{where}: query {n} ({text!r}): {name!r} is a path; give the file name only")
        if len(set(names)) != len(names):
            raise EvalError(f"{where}: query {n} ({text!r}) lists the same file twice in `expect`")
        key = text.casefold()
        if key in seen:
            raise EvalError(f"{where}: query {n} ({text!r}) repeats query {seen[key]}")
        seen[key] = n
        queries.append(LabelledQuery(text, tuple(names)))
    return queries


def _name(path: Any) -> str:
    return os.path.basename(os.fsdecode(path)) if path is not None else ""


def _ranked(hits: Iterable[Any]) -> tuple[list[str], dict[str, float | None], set[str], bool]:
    """The distinct file names in rank order (a video's segments count once, at its best rank), each one's best
    score, the names kept by the cutoff (any of its hits not weak), and whether the hits carried `weak` at all."""
    names: list[str] = []
    scores: dict[str, float | None] = {}
    kept: set[str] = set()
    flagged = False
    for hit in hits:
        name = _name(getattr(hit, "path", None))
        flagged = flagged or hasattr(hit, "weak")
        if name not in scores:
            names.append(name)
            scores[name] = getattr(hit, "score", None)
        if not getattr(hit, "weak", False):
            kept.add(name)
    return names, scores, kept, flagged


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: sum of gain_i / log2(i + 1), i from 1."""
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, 1))


def _round(score: float | None) -> float | None:
    return None if score is None else round(float(score), 4)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def score_search(
    search_fn: Callable[[str], Iterable[Any]],
    queries: Sequence[LabelledQuery],
    *,
    k: int = 10,
    library: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Run each query through `search_fn` (query -> hits best first, each with `.path`, `.score` and optionally
    `.weak`) and score the rankings; returns {"k", "library_size", "summary", "items", "missing"}.

    `library`: the paths (or names) of every asset that could be found, for the fraction of unrelated files the
    cutoff hides; None takes every name seen in the hits and the labels. Names in `expect` that are not in it are
    listed under "missing" (a library written without one of its photos scores that query as a miss).
    """
    if k < 1:
        raise EvalError("k must be at least 1")
    if not queries:
        raise EvalError("no queries to evaluate")
    runs = [(q, *_ranked(search_fn(q.query))) for q in queries]
    if library is not None:
        universe = {_name(p) for p in library}
    else:
        universe = {n for _q, names, *_ in runs for n in names} | {e for q in queries for e in q.expect}
    items: list[dict[str, Any]] = []
    flagged = False
    for q, names, scores, kept, has_flag in runs:
        flagged = flagged or has_flag
        relevant = set(q.expect)
        unrelated = universe - relevant
        hidden_unrelated = len(unrelated - kept)
        item: dict[str, Any] = {
            "query": q.query,
            "expect": list(q.expect),
            "negative": q.negative,
            "hits": [
                {"name": n, "score": _round(scores[n]), "relevant": n in relevant, "kept": n in kept} for n in names[:k]
            ],
            "kept": len(kept),
            "unrelated": len(unrelated),
            "unrelated_hidden": hidden_unrelated,
            "hides_unrelated": _ratio(hidden_unrelated, len(unrelated)),
        }
        if q.negative:
            item["empty"] = not kept
        else:
            first = next((i for i, n in enumerate(names, 1) if n in relevant), None)
            gains = [1.0 if n in relevant else 0.0 for n in names[:k]]
            ideal = dcg([1.0] * min(len(relevant), k))
            item.update(
                first_rank=first,
                top1=first == 1,
                top3=first is not None and first <= 3,
                rr=1.0 / first if first is not None and first <= k else 0.0,
                ndcg=dcg(gains) / ideal,
                keeps_all=relevant <= kept,
                keeps_any=bool(relevant & kept),
            )
        items.append(item)
    positives = [i for i in items if not i["negative"]]
    negatives = [i for i in items if i["negative"]]
    p, n = len(positives), len(negatives)
    hidden_total = sum(i["unrelated_hidden"] for i in positives)
    unrelated_total = sum(i["unrelated"] for i in positives)
    summary: dict[str, Any] = {
        "queries": len(items),
        "positives": p,
        "negatives": n,
        "top1": sum(i["top1"] for i in positives),
        "top3": sum(i["top3"] for i in positives),
        "top1_rate": _ratio(sum(i["top1"] for i in positives), p),
        "top3_rate": _ratio(sum(i["top3"] for i in positives), p),
        "mrr": _ratio(sum(i["rr"] for i in positives), p),
        "ndcg": _ratio(sum(i["ndcg"] for i in positives), p),
        "negatives_empty": sum(i["empty"] for i in negatives),
        "negatives_empty_rate": _ratio(sum(i["empty"] for i in negatives), n),
        "cutoff_keeps_all": sum(i["keeps_all"] for i in positives),
        "cutoff_keeps_any": sum(i["keeps_any"] for i in positives),
        # pooled over the positive queries: hidden unrelated files / unrelated files
        "cutoff_hides_unrelated": _ratio(hidden_total, unrelated_total),
        "cutoff_flag_seen": flagged,  # False: no hit carried `weak`, so every returned hit counted as kept
    }
    missing = sorted({e for q in queries for e in q.expect} - universe) if library is not None else []
    return {"k": k, "library_size": len(universe), "summary": summary, "items": items, "missing": missing}


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})" if total else f"{count}/0"


def summary_line(result: dict[str, Any]) -> str:
    """One line: "top-1 21/30 (70%)  top-3 ...  MRR 0.78  nDCG@10 0.81  negatives empty 6/8  cutoff keeps ..."."""
    s = result["summary"]
    p = s["positives"]
    parts = [f"top-1 {_share(s['top1'], p)}", f"top-3 {_share(s['top3'], p)}"]
    if p:
        parts += [f"MRR {s['mrr']:.2f}", f"nDCG@{result['k']} {s['ndcg']:.2f}"]
    if s["negatives"]:
        parts.append(f"negatives empty {s['negatives_empty']}/{s['negatives']}")
    hides = s["cutoff_hides_unrelated"]
    cutoff = f"cutoff keeps {s['cutoff_keeps_all']}/{p}"
    cutoff += f", hides {hides:.0%} of unrelated" if hides is not None else ""
    if not s["cutoff_flag_seen"]:
        cutoff += " (no relevance cutoff: every returned hit counted as kept)"
    return "  ".join([*parts, cutoff])
