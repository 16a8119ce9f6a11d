"""Caption and extraction metrics against hand-computed examples, and the `eval` commands."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sacrebleu")
pytest.importorskip("rouge_score")
pytest.importorskip("nltk")

from chronicon.evaluation.captions import CaptionCase, EvalError, load_cases, score_captions
from chronicon.evaluation.extract import infer_kinds, score_extraction, terminology_lookup


def test_identical_captions_score_perfectly() -> None:
    result = score_captions([CaptionCase("a", "a dog runs on the beach", ["a dog runs on the beach"])])
    assert result["bleu"] == pytest.approx(100.0)
    assert result["rouge_l"] == pytest.approx(1.0)
    assert result["meteor"] > 0.99


def test_rouge_l_and_bleu_match_hand_computation() -> None:
    # LCS("the cat sat on the mat", "the cat is on the mat") = "the cat on the mat" = 5 of 6 and 6 words:
    # P = R = 5/6, F1 = 5/6.
    result = score_captions([CaptionCase("a", "the cat sat on the mat", ["the cat is on the mat"])])
    assert result["items"][0]["rouge_l"] == pytest.approx(5 / 6, abs=1e-4)
    # BLEU-4 with no 4-gram overlap ("the cat sat on", ...; only "on the mat" matches as a 3-gram):
    # p1 = 5/6, p2 = 3/5, p3 = 1/4, p4 = 0/3 -> sacrebleu's exp smoothing gives p4 = 1/(2*3) = 1/6.
    p = [5 / 6, 3 / 5, 1 / 4, 1 / 6]
    expected = 100 * math.exp(sum(math.log(x) for x in p) / 4)
    assert result["bleu"] == pytest.approx(expected, abs=0.01)


def test_meteor_rewards_stem_matches() -> None:
    exact = score_captions([CaptionCase("a", "dogs running", ["dogs running"])])["meteor"]
    stems = score_captions([CaptionCase("a", "dog runs", ["dogs running"])])["meteor"]
    nothing = score_captions([CaptionCase("a", "a red car", ["dogs running"])])["meteor"]
    # "dog"/"dogs" and "runs"/"running" share Porter stems: NLTK counts a stem match like an exact one.
    assert exact == pytest.approx(stems) and stems > 0.9 and nothing == 0.0


def test_bad_reference_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "refs.json"
    bad.write_text(json.dumps([{"path": "a.jpg", "references": []}]))
    with pytest.raises(EvalError, match="non-empty list"):
        load_cases(bad)
    bad.write_text(json.dumps([{"path": "a.jpg", "references": ["x"]}]))
    with pytest.raises(EvalError, match="no caption"):
        load_cases(bad)


def _fake_embed(texts: list[str]) -> np.ndarray:
    """Bag of letters: equal texts -> cosine 1, disjoint letters -> 0 (enough to check the arithmetic)."""
    out = np.zeros((len(texts), 26), np.float32)
    for i, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_extraction_scores_with_terminology_map() -> None:
    truth = {
        "1": {"vehicle": "car", "severity": "minor", "notes": "abc"},
        "2": {"vehicle": "truck", "severity": "major", "notes": "xyz"},
    }
    predictions = {"1": {"vehicle": "Automobile", "severity": "MINOR", "notes": "abc"}, "2": {"vehicle": "bus"}}
    kinds = {"vehicle": "categorical", "severity": "categorical", "notes": "text"}
    terms = {"car": ["automobile", "auto"]}
    report = score_extraction(truth, predictions, kinds=kinds, terms=terms, embed=_fake_embed)
    scores = {f.name: f for f in report.fields}
    assert scores["vehicle"].score == 0.5  # automobile -> car matches, bus != truck
    assert scores["severity"].score == 0.5 and scores["severity"].missing == 1
    assert scores["notes"].score == pytest.approx(0.5)  # identical text 1.0, missing 0.0
    assert report.overall == pytest.approx(0.5)
    csv_text = report.to_csv()
    assert "(overall)" in csv_text and csv_text.count("\n") == 2 * 3 + 3 + 2
    assert terminology_lookup({"car": ["Auto"]}) == {"car": "car", "auto": "car"}


def test_field_kinds_are_inferred_from_the_truth() -> None:
    truth = {str(i): {"colour": ["red", "blue"][i % 2], "story": f"unique text {i}"} for i in range(30)}
    assert infer_kinds(truth) == {"colour": "categorical", "story": "text"}


def test_free_text_is_told_from_labels_on_a_three_item_set() -> None:
    """Three dashcam clips: every field has three distinct values, but only the sentences are free text."""
    truth = {
        "1": {"event": "crash", "weather": "rain", "vehicles": "2", "description": "two cars collide at a crossing"},
        "2": {"event": "near miss", "weather": "clear", "vehicles": "3", "description": "a cyclist swerves in front"},
        "3": {"event": "crash", "weather": "fog", "vehicles": "1", "description": "a truck leaves the road in fog"},
    }
    assert infer_kinds(truth) == {"description": "text", "event": "categorical", "vehicles": "categorical",
                                  "weather": "categorical"}  # fmt: skip
    repeated = {str(i): {"status": "no damage visible at all"} for i in range(6)}
    assert infer_kinds(repeated) == {"status": "categorical"}  # a sentence that repeats is a category


def test_eval_extract_scores_sentences_by_meaning(tmp_path: Path) -> None:
    """The reported case: a paraphrased description scored by embedding cosine, not 0.000 by exact match."""
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "id,event,description\n"
        "1,crash,two cars collide at an intersection\n"
        "2,near miss,a cyclist swerves in front of the car\n"
        "3,crash,a truck leaves the road in heavy fog\n"
    )
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([
        {"id": "1", "event": "crash", "description": "a car hits another car at a junction"},
        {"id": "2", "event": "crash", "description": "a bicycle cuts in ahead of the vehicle"},
        {"id": "3", "event": "crash", "description": "a lorry drives off the road in the fog"},
    ]))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env["CHRONICON_CATALOG"] = str(tmp_path / "catalog")
    cmd = [sys.executable, "-m", "chronicon", "eval", "extract", "--truth", str(truth), "--pred", str(pred)]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    fields = {f["name"]: f for f in json.loads(out.stdout)["fields"]}
    assert fields["description"]["kind"] == "text" and "sentences" in fields["description"]["kind_reason"]
    assert 0.5 < fields["description"]["score"] < 1.0  # paraphrases: close in meaning, not identical
    assert fields["event"]["kind"] == "categorical" and fields["event"]["score"] == pytest.approx(2 / 3, abs=1e-3)
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert table.returncode == 0 and "sentences" in table.stdout and "labels" in table.stdout, table.stdout


def test_eval_commands(tmp_path: Path) -> None:
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps([{"id": "1", "caption": "a cat on a sofa", "references": ["a cat on the sofa"]}]))
    truth = tmp_path / "truth.csv"
    truth.write_text("id,kind\n1,car\n2,truck\n")
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"id": "1", "kind": "auto"}, {"id": "2", "kind": "truck"}]))
    terms = tmp_path / "terms.yaml"
    terms.write_text("car: [auto, automobile]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env["CHRONICON_CATALOG"] = str(tmp_path / "catalog")
    cli = [sys.executable, "-m", "chronicon", "eval"]
    out = subprocess.run([*cli, "captions", "--refs", str(refs), "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rouge_l"] > 0.7
    csv_out = tmp_path / "scores.csv"
    out = subprocess.run(
        [*cli, "extract", "--truth", str(truth), "--pred", str(pred), "--terms", str(terms), "--csv", str(csv_out)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "overall 1.0000" in out.stdout and csv_out.read_text().startswith("id,field,kind")
    bad = subprocess.run([*cli, "extract", "--truth", str(truth), "--pred", str(pred), "--text", "nope"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_predictions_load_from_json_or_a_truth_shaped_csv(tmp_path: Path) -> None:
    from chronicon.evaluation.extract import load_predictions

    as_json = tmp_path / "pred.json"
    as_json.write_text(json.dumps([{"id": "a.jpg", "weather": "rain"}, {"id": "b.jpg", "weather": "sun"}]))
    as_csv = tmp_path / "pred.csv"
    as_csv.write_text("id,weather\na.jpg,rain\nb.jpg,sun\n")
    expected = {"a.jpg": {"weather": "rain"}, "b.jpg": {"weather": "sun"}}
    assert load_predictions(as_json) == expected
    assert load_predictions(as_csv) == expected
