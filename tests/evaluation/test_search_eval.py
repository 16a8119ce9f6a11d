"""Search evaluation: the queries file, the metrics against hand-computed numbers, and `chronicon eval search`."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chronicon.evaluation.captions import EvalError
from chronicon.evaluation.search import LabelledQuery, dcg, load_queries, score_search, summary_line

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "chronicon"]


@dataclass
class Hit:
    path: str
    score: float | None = 0.5
    weak: bool = False


@dataclass
class PlainHit:  # a hit from before the cutoff landed: no `weak`
    path: str
    score: float | None = 0.5


LIBRARY = [f"/photos/{c}.jpg" for c in "abcdef"]


def fake_search(results: Mapping[str, Sequence[Any]]) -> Any:
    return lambda query: list(results[query])


def hits(spec: str) -> list[Hit]:
    """'a b? c' -> hits a, b (weak), c, best first."""
    return [Hit(f"/photos/{name.rstrip('?')}.jpg", weak=name.endswith("?")) for name in spec.split()]


QUERIES = [
    LabelledQuery("cat", ("a.jpg",)),
    LabelledQuery("dog", ("b.jpg", "c.jpg")),
    LabelledQuery("bird", ("e.jpg",)),
    LabelledQuery("snow", ()),
    LabelledQuery("cake", ()),
    LabelledQuery("boat", ()),
]
RESULTS = {
    "cat": hits("a b? c?"),
    "dog": hits("a b d? c?"),
    "bird": hits("a b c"),
    "snow": hits("a? b?"),
    "cake": hits("a c?"),
    "boat": [],
}


def test_metrics_match_hand_computation() -> None:
    result = score_search(fake_search(RESULTS), QUERIES, k=10, library=LIBRARY)
    cat, dog, bird, snow, cake, boat = result["items"]
    # cat: the one relevant photo first and kept; every unrelated one (b..f) hidden (b, c weak; d, e, f not returned)
    assert (cat["first_rank"], cat["top1"], cat["top3"], cat["rr"], cat["ndcg"]) == (1, True, True, 1.0, 1.0)
    assert cat["keeps_all"] and cat["keeps_any"] and cat["hides_unrelated"] == 1.0
    # dog: relevant at ranks 2 and 4 -> RR 1/2; DCG = 1/log2(3) + 1/log2(5), ideal DCG = 1 + 1/log2(3)
    assert (dog["first_rank"], dog["top1"], dog["top3"], dog["rr"]) == (2, False, True, 0.5)
    assert dog["ndcg"] == pytest.approx(0.650921, abs=1e-6)
    assert dog["ndcg"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    # b kept, c weak: some but not all relevant kept; unrelated a, d, e, f: a kept -> 3 of 4 hidden
    assert not dog["keeps_all"] and dog["keeps_any"] and dog["hides_unrelated"] == 0.75
    # bird: e never returned -> no rank, RR 0, nDCG 0; a, b, c kept -> 2 of 5 unrelated hidden (d, f)
    assert (bird["first_rank"], bird["rr"], bird["ndcg"], bird["keeps_any"]) == (None, 0.0, 0.0, False)
    assert bird["hides_unrelated"] == pytest.approx(2 / 5)
    assert snow["empty"] and not cake["empty"] and boat["empty"]  # all weak / one kept / no hits at all
    assert [h["name"] for h in dog["hits"]] == ["a.jpg", "b.jpg", "d.jpg", "c.jpg"]
    assert [h["relevant"] for h in dog["hits"]] == [False, True, False, True]
    assert [h["kept"] for h in dog["hits"]] == [True, True, False, False]

    s = result["summary"]
    assert (s["queries"], s["positives"], s["negatives"]) == (6, 3, 3)
    assert (s["top1"], s["top3"]) == (1, 2)
    assert s["top1_rate"] == pytest.approx(1 / 3) and s["top3_rate"] == pytest.approx(2 / 3)
    assert s["mrr"] == pytest.approx(0.5)  # (1 + 1/2 + 0) / 3
    assert s["ndcg"] == pytest.approx((1 + 0.650921 + 0) / 3, abs=1e-6)
    assert (s["negatives_empty"], s["cutoff_keeps_all"], s["cutoff_keeps_any"]) == (2, 1, 2)
    assert s["cutoff_hides_unrelated"] == pytest.approx((5 + 3 + 2) / (5 + 4 + 5))  # pooled over positives
    assert s["cutoff_flag_seen"] is True
    assert result["library_size"] == 6 and result["missing"] == [] and result["k"] == 10


def test_k_bounds_the_reciprocal_rank_and_ndcg() -> None:
    result = score_search(fake_search(RESULTS), QUERIES[:2], k=1, library=LIBRARY)
    cat, dog = result["items"]
    assert cat["rr"] == 1.0 and cat["ndcg"] == 1.0
    # the first relevant hit is at rank 2, beyond k = 1: its rank is still reported, but RR and nDCG@1 are 0
    assert dog["first_rank"] == 2 and dog["rr"] == 0.0 and dog["ndcg"] == 0.0
    assert len(dog["hits"]) == 1
    assert result["summary"]["mrr"] == pytest.approx(0.5)


def test_dcg() -> None:
    assert dcg([]) == 0.0
    assert dcg([1.0, 0.0, 1.0]) == pytest.approx(1 + 1 / 2)  # 1/log2(2) + 1/log2(4)


def test_a_file_counts_once_at_its_best_rank_and_is_kept_if_any_hit_is() -> None:
    video = "/videos/clip.mp4"
    ranked = [Hit(video, 0.9, weak=True), Hit("/photos/a.jpg", 0.8), Hit(video, 0.7, weak=False)]
    result = score_search(fake_search({"cat": ranked}), [LabelledQuery("cat", ("a.jpg",))], library=[video, "a.jpg"])
    item = result["items"][0]
    assert item["first_rank"] == 2 and item["rr"] == 0.5
    assert [(h["name"], h["score"], h["kept"]) for h in item["hits"]] == [("clip.mp4", 0.9, True), ("a.jpg", 0.8, True)]
    assert item["hides_unrelated"] == 0.0  # the clip was kept by its second segment


def test_hits_without_a_weak_flag_all_count_as_kept() -> None:
    results = {"cat": [PlainHit("/p/a.jpg"), PlainHit("/p/b.jpg", None)], "snow": [PlainHit("/p/b.jpg")]}
    queries = [LabelledQuery("cat", ("a.jpg",)), LabelledQuery("snow", ())]
    result = score_search(fake_search(results), queries)  # no library: the names seen in hits and labels
    s = result["summary"]
    assert s["cutoff_flag_seen"] is False and s["negatives_empty"] == 0 and s["cutoff_keeps_all"] == 1
    assert result["library_size"] == 2 and s["cutoff_hides_unrelated"] == 0.0
    assert result["items"][0]["hits"][1]["score"] is None
    assert "no relevance cutoff" in summary_line(result)


def test_labelled_files_missing_from_the_library_are_listed() -> None:
    queries = [LabelledQuery("cat", ("a.jpg", "zz.jpg"))]
    result = score_search(fake_search({"cat": hits("a")}), queries, library=LIBRARY)
    assert result["missing"] == ["zz.jpg"]


def test_summary_line() -> None:
    line = summary_line(score_search(fake_search(RESULTS), QUERIES, library=LIBRARY))
    assert line == (
        "top-1 1/3 (33%)  top-3 2/3 (67%)  MRR 0.50  nDCG@10 0.55  negatives empty 2/3  "
        "cutoff keeps 1/3, hides 71% of unrelated"
    )


def test_bad_arguments() -> None:
    with pytest.raises(EvalError, match="no queries"):
        score_search(fake_search({}), [])
    with pytest.raises(EvalError, match="k must be"):
        score_search(fake_search(RESULTS), QUERIES, k=0)


# -- the queries file --------------------------------------------------------------------------------------------
def test_load_queries(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(
        "library: somewhere\nqueries:\n"
        "  - query: '  a cat '\n    expect: [IMG_0004.JPG]\n"
        "  - query: a snowy mountain\n    expect: []\n    note: nothing shows snow\n"
    )
    assert load_queries(path) == [LabelledQuery("a cat", ("IMG_0004.JPG",)), LabelledQuery("a snowy mountain", ())]
    assert load_queries(path)[1].negative
    path.write_text("- query: a cat\n  expect: [a.jpg, b.jpg]\n")  # a bare list works too
    assert load_queries(path) == [LabelledQuery("a cat", ("a.jpg", "b.jpg"))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queries: [\n", "cannot read"),
        ("", "non-empty list"),
        ("queries: []\n", "non-empty list"),
        ("queries: {query: a cat}\n", "non-empty list"),
        ("queris:\n  - {query: a, expect: []}\n", "unknown top-level key"),
        ("queries:\n  - a cat\n", "query 1 is not a mapping"),
        ("queries:\n  - {expect: [a.jpg]}\n", "query 1 has no `query`"),
        ("queries:\n  - {query: '  ', expect: [a.jpg]}\n", "query 1 has no `query`"),
        ("queries:\n  - {query: 3, expect: [a.jpg]}\n", "query 1 has no `query`"),
        ("queries:\n  - {query: a cat}\n", "has no `expect` list"),
        ("queries:\n  - {query: a cat, expect: a.jpg}\n", "must be a list of file names"),
        ("queries:\n  - {query: a cat, expect: [1]}\n", "must be a list of file names"),
        ("queries:\n  - {query: a cat, expect: [a.jpg], expected: []}\n", "unknown key"),
        ("queries:\n  - {query: a cat, expect: [photos/a.jpg]}\n", "give the file name only"),
        ("queries:\n  - {query: a cat, expect: [a.jpg, a.jpg]}\n", "same file twice"),
        ("queries:\n  - {query: a cat, expect: [a.jpg]}\n  - {query: A Cat , expect: []}\n", "query 2 .* repeats"),
    ],
)
def test_malformed_query_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(EvalError, match=message):
        load_queries(path)


def test_missing_file_is_an_eval_error(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="cannot read"):
        load_queries(tmp_path / "nope.yaml")


# -- the shipped queries and library script ----------------------------------------------------------------------
def _library_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_eval_library", REPO / "scripts" / "make_eval_library.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_queries_label_photos_the_script_writes() -> None:
    queries = load_queries(REPO / "evaluation" / "search_queries.yaml")
    photos = _library_script().PHOTOS
    assert {name for q in queries for name in q.expect} <= set(photos)
    assert sum(not q.negative for q in queries) >= 30 and sum(q.negative for q in queries) >= 8


def test_the_library_script_writes_named_photos_and_a_manifest(tmp_path: Path) -> None:
    pytest.importorskip("skimage.data")
    script = _library_script()
    manifest, missing = script.write_library(tmp_path / "one")
    assert set(manifest) | set(missing) == set(script.PHOTOS) and len(manifest) >= 20
    assert json.loads((tmp_path / "one" / "MANIFEST.json").read_text()) == manifest
    assert sorted(p.name for p in (tmp_path / "one").glob("*.JPG")) == sorted(manifest)
    script.write_library(tmp_path / "two")
    for name in manifest:  # deterministic: the same bytes every time
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# -- `chronicon eval search` over a scanned library of real photos ------------------------------------------------
def _run(*args: str, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_eval_search_cli(tmp_path: Path, sample_photos: Path, model_cache: Path) -> None:
    pytest.importorskip("ai_edge_litert")  # the offline tagger (as in tests/test_search_cli.py)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(
        CHRONICON_CATALOG=str(tmp_path / "catalog"),
        CHRONICON_MODEL_CACHE=str(model_cache),
        CHRONICON_CLIP__ENABLED="false",
        HF_HUB_OFFLINE="1",
    )
    _run("scan", "--json", str(sample_photos), env=env)
    queries = tmp_path / "queries.yaml"
    queries.write_text(
        "queries:\n"
        "  - {query: a cat, expect: [chelsea.jpg]}\n"
        "  - {query: a cup of coffee, expect: [coffee.jpg]}\n"
        "  - {query: a birthday cake, expect: []}\n"
        "  - {query: a horse, expect: [not-here.jpg]}\n"
    )
    out = json.loads(_run("eval", "search", str(queries), "--json", "--limit", "5", env=env).stdout)
    assert out["k"] == 5 and out["space"] == ["minilm-l6-v2:conse"]
    assert out["library_size"] == len(list(sample_photos.iterdir())) and out["missing"] == ["not-here.jpg"]
    assert set(out["summary"]) >= {"top1", "top3", "mrr", "ndcg", "negatives_empty", "cutoff_hides_unrelated"}
    cat = out["items"][0]
    assert cat["query"] == "a cat" and cat["first_rank"] == 1 and cat["rr"] == 1.0
    assert set(cat["hits"][0]) == {"name", "score", "relevant", "kept"} and len(cat["hits"]) <= 5
    assert out["items"][2]["negative"] and "empty" in out["items"][2]
    text = _run("eval", "search", str(queries), env=env).stdout
    assert "top-1 " in text and "MRR " in text and "nDCG@10 " in text
    bad = tmp_path / "bad.yaml"
    bad.write_text("queries:\n  - {query: a cat}\n")
    assert "has no `expect` list" in _run("eval", "search", str(bad), env=env, code=2).stderr
