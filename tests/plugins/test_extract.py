"""The extract plugin: schema checks, answer repair, terminology, and the pass end to end on a tiny random SmolVLM
through the real transformers loader (json mode flags nonsense, constrained mode only yields allowed values),
the `--field` filter, and `extract export` scored by `chronicon eval extract`."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chronicon.search.extensions import ExtensionError
from chronicon_extract.repair import AnswerError, parse_answer, repair
from chronicon_extract.results import rows_to_csv
from chronicon_extract.schema import SchemaError, example_schema_path, load_schema, parse_schema
from chronicon_extract.terms import check, load_terms, readable
from ml_switches import NO_ML

CLI = [sys.executable, "-m", "chronicon"]
# Values the tiny model's word-level vocabulary knows, so the likelihoods of the options really differ.
COLOUR_SCHEMA = {
    "name": "colours",
    "prompt": "Say which colour and animal fit the picture.",
    "fields": [
        {"name": "colour", "type": "categorical", "values": ["red", "blue", "green"], "description": "main colour",
         "required": True},
        {"name": "animal", "type": "categorical", "values": ["cat", "dog", "man"], "description": "who is there"},
        {"name": "outdoor", "type": "boolean", "description": "is it outside"},
        {"name": "count", "type": "number", "description": "how many animals"},
        {"name": "note", "type": "text", "description": "a few words"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from vlmfactory import make_tiny_vlm

    return make_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny-smolvlm")


def write_schema(folder: Path, data: dict[str, Any], name: str = "schema.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- schema -------------------------------------------------------------------------------------------------
def test_the_shipped_example_schema_is_valid() -> None:
    schema = load_schema(example_schema_path())
    event = schema.field("event_type")
    assert event is not None and event.values == ("crash", "near_miss", "normal") and event.required
    assert {f.type for f in schema.fields} == {"categorical", "number", "boolean", "text"}
    assert schema.signature.startswith("incident@") and len(schema.digest) == 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["fields"][0].update(type="colour"), r"field 'colour': type 'colour' is not one of"),
        (lambda d: d["fields"][0].update(values=[]), r"field 'colour': a categorical field needs a non-empty list"),
        (lambda d: d["fields"][0].update(values=["Red", "red"]), r"field 'colour': values repeat"),
        (lambda d: d["fields"][1].update(name="colour"), r"field 'colour' is defined more than once"),
        (lambda d: d["fields"][3].update(values=["1"]), r"field 'count': only categorical fields take values"),
        (lambda d: d["fields"][2].update(required="yes"), r"field 'outdoor': required must be true or false"),
        (lambda d: d["fields"][4].update(name="my note"), r"field 'my note': a field name is letters"),
        (lambda d: d["fields"][4].update(colour="x"), r"field 'note': unknown keys colour"),
        (lambda d: d.update(fields=[]), r"fields must be a non-empty list"),
        (lambda d: d.pop("name"), r"name: expected a non-empty text"),
    ],
)
def test_schema_errors_name_the_field(change: Any, message: str) -> None:
    data = json.loads(json.dumps(COLOUR_SCHEMA))
    change(data)
    with pytest.raises(SchemaError, match=message):
        parse_schema(data, "s.yaml")


def test_schema_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot read the schema"):
        load_schema(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_schema(bad)
    changed = json.loads(json.dumps(COLOUR_SCHEMA))
    changed["fields"][0]["values"].append("black")
    assert parse_schema(changed).digest != parse_schema(COLOUR_SCHEMA).digest


# -- repair -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('```json\n{"weather": "rain", "n": 2}\n```', {"weather": "rain", "n": 2}),
        ('Sure, here it is:\n{"weather": "rain"}\nHope this helps!', {"weather": "rain"}),
        ("{'weather': 'rain', 'road': \"urban\"}", {"weather": "rain", "road": "urban"}),
        ('{"weather": "rain", "tags": ["a", "b",],}', {"weather": "rain", "tags": ["a", "b"]}),
        ('{weather: "rain", time_of_day: night}', {"weather": "rain", "time_of_day": "night"}),
        ("{'ok': True, 'bad': False, 'none': None}", {"ok": True, "bad": False, "none": None}),
        ('{"event_type": "crash", "description": "a car hits', {"event_type": "crash", "description": "a car hits"}),
        ('{"a": 1, "b": [1, 2', {"a": 1, "b": [1, 2]}),
        ('{"a": 1, "b":', {"a": 1}),
        ('{"a": 1, "b"', {"a": 1}),
        ('{"event_type": near miss, "count": -3.5}', {"event_type": "near miss", "count": -3.5}),
        ('"weather": "fog", "road_type": "rural"', {"weather": "fog", "road_type": "rural"}),
        ('{"d": "say \\"hi\\""} and {"other": 1}', {"d": 'say "hi"'}),
        ("{'d': 'line one\nline two'}", {"d": "line one\nline two"}),
    ],
)
def test_repair_fixes_broken_answers(answer: str, expected: dict[str, Any]) -> None:
    parsed = parse_answer(answer)
    assert parsed.data == expected and parsed.repaired


def test_valid_json_is_not_marked_repaired_and_hopeless_answers_raise() -> None:
    assert parse_answer(' {"a": [1, {"b": null}]} ') == parse_answer('{"a": [1, {"b": null}]}')
    assert not parse_answer('{"a": 1}').repaired
    for hopeless in ("a red car on the road", "", "[1, 2, 3]", "{{{{"):
        with pytest.raises(AnswerError):
            repair(hopeless)


# -- terminology, coercion, flags ---------------------------------------------------------------------------
def test_values_are_normalised_mapped_matched_or_flagged(tmp_path: Path) -> None:
    terms = tmp_path / "terms.yaml"
    terms.write_text("green: [verdant, olive]\ncat: [kitty, feline]\n", encoding="utf-8")
    lookup, digest = load_terms(terms)
    assert digest and lookup["verdant"] == "green"
    schema = parse_schema(COLOUR_SCHEMA)
    cases = {
        "  RED ": ("red", None),  # case and whitespace
        "Verdant!": ("green", None),  # terminology map, after normalising
        "greeen": ("green", None),  # close match
        "bleu": ("bleu", "colour: 'bleu' not allowed"),  # too far from blue
        "purple": ("purple", "colour: 'purple' not allowed"),  # kept, flagged
    }
    for given, (value, flag) in cases.items():
        values, flags = check(schema, {"colour": given}, lookup)
        assert values["colour"] == value and (flags == [flag] if flag else flags == [])
    values, flags = check(
        schema, {"Animal": "kitty", "OUTDOOR": "yes", "count": "3 cats", "note": ["a", "b"], "extra": 1}, lookup
    )
    assert values == {"colour": None, "animal": "cat", "outdoor": True, "count": 3, "note": '["a", "b"]'}
    assert flags == ["ignored unknown field 'extra'", "colour: missing (required)"]
    values, flags = check(schema, {"colour": "blue", "outdoor": "perhaps", "count": "many"}, lookup)
    assert values["outdoor"] == "perhaps" and values["count"] == "many"
    assert flags == ["outdoor: 'perhaps' is not true or false", "count: 'many' is not a number"]
    assert readable({"colour": "red", "outdoor": False, "count": None}) == "colour: red\noutdoor: false\ncount: null"


def test_a_bad_terminology_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "terms.yaml"
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="expected a mapping"):
        load_terms(bad)
    assert load_terms(None) == ({}, "")


# -- the pass, end to end -----------------------------------------------------------------------------------
@pytest.fixture
def photos(tmp_path: Path, sample_photos: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg", "rocket.jpg", "horse.jpg"):
        shutil.copy(sample_photos / name, folder / name)
    return folder


def _extracted(library: Any) -> dict[str, dict[str, Any]]:
    rows = library.catalog.rows(columns=["path", "extracted", "extract_flags", "extract_schema", "extract_text"])
    return {Path(r["path"]).name: r for r in rows}


def test_json_mode_records_flags_and_retries_on_nonsense(
    photos: Path, tiny_vlm: Path, tmp_path: Path, make_plugin_library: Any
) -> None:
    schema = write_schema(tmp_path, COLOUR_SCHEMA)
    settings = {"extract.schema": str(schema), "extract.model": str(tiny_vlm), "extract.mode": "json",
                "extract.max_new_tokens": 12, "extract.device": "cpu"}  # fmt: skip
    summary = make_plugin_library(enable=("extract",), **settings).scan([photos])
    assert summary.counts["new"] == 4 and not summary.failures, summary.failures
    rows = _extracted(make_plugin_library(enable=("extract",), **settings))
    for row in rows.values():
        values = json.loads(row["extracted"])
        assert list(values) == [f["name"] for f in COLOUR_SCHEMA["fields"]]
        flags = row["extract_flags"]
        # the random model never writes '{': every answer is unreadable, re-asked twice, the required field missing
        assert any(f.startswith("no JSON") for f in flags) and "retried 2" in flags
        assert "colour: missing (required)" in flags and values["colour"] is None
        assert row["extract_schema"] == parse_schema(COLOUR_SCHEMA).signature
        assert "colour: null" in row["extract_text"]


def test_constrained_mode_only_yields_allowed_values(
    photos: Path, tiny_vlm: Path, tmp_path: Path, make_plugin_library: Any
) -> None:
    from mediafactory import make_mp4

    make_mp4(photos / "clip.mp4", seconds=3.0, fps=10, size=(96, 64), cuts=[1.5])
    schema = write_schema(tmp_path, COLOUR_SCHEMA)
    settings = {"extract.schema": str(schema), "extract.model": str(tiny_vlm), "extract.max_new_tokens": 6,
                "extract.device": "cpu"}  # fmt: skip
    summary = make_plugin_library(enable=("extract",), **settings).scan([photos])
    assert summary.counts["new"] == 5 and not summary.failures, summary.failures
    library = make_plugin_library(enable=("extract",), **settings)
    rows = _extracted(library)
    assert set(rows) == {"chelsea.jpg", "coffee.jpg", "rocket.jpg", "horse.jpg", "clip.mp4"}
    for row in rows.values():
        values = json.loads(row["extracted"])
        assert values["colour"] in ("red", "blue", "green") and values["animal"] in ("cat", "dog", "man")
        assert isinstance(values["outdoor"], bool)
        assert not [f for f in row["extract_flags"] if f.startswith(("colour", "animal", "outdoor"))]
    # the --field filter finds exactly the assets with that value
    chosen = json.loads(rows["chelsea.jpg"]["extracted"])["colour"]
    hits = library.browse(limit=50, field=f"colour={chosen.upper()}")
    expected = {n for n, r in rows.items() if json.loads(r["extracted"])["colour"] == chosen}
    assert {Path(h.path).name for h in hits} == expected
    assert not library.browse(limit=50, field="colour=purple")
    with pytest.raises(ExtensionError, match="expected FIELD=VALUE"):
        library.browse(limit=50, field="colour")


def test_constrained_scores_pick_the_likeliest_value_whatever_the_order(tiny_vlm: Path) -> None:
    from PIL import Image

    from chronicon.embed.captioner import Captioner
    from chronicon_extract.extractor import Extractor

    captioner = Captioner(str(tiny_vlm), device="cpu")
    image = [Image.new("RGB", (64, 48), (30, 160, 40))]
    results = []
    for values in (["red", "blue", "green"], ["green", "red", "blue"], ["blue", "green", "red"]):
        data = json.loads(json.dumps(COLOUR_SCHEMA))
        data["fields"] = [{"name": "colour", "type": "categorical", "values": values}]
        extractor = Extractor(captioner, parse_schema(data), {}, mode="constrained")
        scores = extractor.score(image, "which colour?", values)
        assert len(set(scores)) == 3  # the options really are told apart
        results.append(extractor.extract(image).values["colour"])
    assert len(set(results)) == 1


def test_without_a_schema_or_disabled_scans_still_work(photos: Path, make_plugin_library: Any) -> None:
    library = make_plugin_library(enable=("extract",))
    summary = library.scan([photos])
    assert summary.counts["new"] == 4 and not summary.failures
    assert any("set extract.schema to a schema file" in n for n in summary.notes), summary.notes
    assert all(r["extracted"] is None for r in library.catalog.rows(columns=["extracted"]))
    disabled = make_plugin_library(disabled=("extract",))
    assert disabled.scan([photos]).counts["unchanged"] == 4
    assert "field" not in disabled.search_filters


# -- commands -----------------------------------------------------------------------------------------------
def _cli_env(tmp_path: Path, catalog: Path, model_cache: Path, **settings: Any) -> dict[str, str]:
    config = {
        "catalog": str(catalog),
        "model_cache": str(model_cache),
        "plugins": {"disabled": ["faces", "aesthetic", "albums", "duplicates"]},
        **{k.split(".")[0]: {k.split(".")[1]: v} for k, v in NO_ML.items()},
        "extract": settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    return env | {"CHRONICON_CONFIG": str(path), "HF_HUB_OFFLINE": "1"}


def run(*args: str, env: dict[str, str], codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in codes, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_export_is_scored_by_eval_extract(
    photos: Path, tiny_vlm: Path, tmp_path: Path, make_plugin_library: Any, catalog_dir: Path, model_cache: Path
) -> None:
    schema = write_schema(tmp_path, COLOUR_SCHEMA)
    settings = {"schema": str(schema), "model": str(tiny_vlm), "max_new_tokens": 4, "device": "cpu"}
    make_plugin_library(enable=("extract",), **{f"extract.{k}": v for k, v in settings.items()}).scan([photos])
    env = _cli_env(tmp_path, catalog_dir, model_cache, **settings)
    pred = tmp_path / "pred.json"
    run("extract", "export", "--out", str(pred), env=env)
    rows = json.loads(pred.read_text(encoding="utf-8"))
    assert sorted(Path(r["id"]).name for r in rows) == ["chelsea.jpg", "coffee.jpg", "horse.jpg", "rocket.jpg"]
    truth = tmp_path / "truth.csv"
    with open(truth, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["id", "colour", "animal"])
        writer.writeheader()
        writer.writerows({"id": r["id"], "colour": r["colour"], "animal": r["animal"]} for r in rows)
    scored = json.loads(run("eval", "extract", "--truth", str(truth), "--pred", str(pred), "--json", env=env).stdout)
    assert scored["overall"] == 1.0 and {f["name"] for f in scored["fields"]} == {"colour", "animal"}
    # one colour changed in the truth: that field drops to 3/4
    first = rows[0]
    other = next(c for c in ("red", "blue", "green") if c != first["colour"])
    lines = truth.read_text(encoding="utf-8").splitlines()
    lines[1] = f"{first['id']},{other},{first['animal']}"
    truth.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scored = json.loads(run("eval", "extract", "--truth", str(truth), "--pred", str(pred), "--json", env=env).stdout)
    colour = next(f for f in scored["fields"] if f["name"] == "colour")
    assert colour["score"] == 0.75 and scored["overall"] < 1.0
    labelled = rows_to_csv(rows).splitlines()  # `extract export --format csv`: the shape of a truth file
    assert labelled[0] == "id,colour,animal,outdoor,count,note" and len(labelled) == 5


def test_run_command_reports_each_file_and_changes_nothing(
    photos: Path, tiny_vlm: Path, tmp_path: Path, catalog_dir: Path, model_cache: Path
) -> None:
    schema = write_schema(tmp_path, COLOUR_SCHEMA)
    env = _cli_env(tmp_path, catalog_dir, model_cache, model=str(tiny_vlm), max_new_tokens=4, device="cpu")
    (photos / "broken.jpg").write_bytes(b"not an image at all")
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    args = [str(photos / "chelsea.jpg"), str(photos / "broken.jpg"), str(photos / "nothing.jpg")]
    out = run("extract", "run", "--schema", str(schema), "--mode", "json", "--json", *args, env=env, codes=(1,))
    results = {Path(r["path"]).name: r for r in json.loads(out.stdout)["results"]}
    assert "retried 2" in results["chelsea.jpg"]["flags"] and len(results["chelsea.jpg"]["answers"]) == 3
    assert set(results["chelsea.jpg"]["values"]) == {"colour", "animal", "outdoor", "count", "note"}
    assert "not a recognised photo or video" in results["broken.jpg"]["error"]
    assert "no such file" in results["nothing.jpg"]["error"]
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before
    missing = run("extract", "run", args[0], env=env, codes=(2,))
    assert "set extract.schema to a schema file" in missing.stderr


def test_schema_check_command(tmp_path: Path, catalog_dir: Path, model_cache: Path) -> None:
    env = _cli_env(tmp_path, catalog_dir, model_cache)
    shown = json.loads(run("extract", "schema-check", "--json", str(example_schema_path()), env=env).stdout)
    assert shown["name"] == "incident" and shown["signature"].startswith("incident@")
    data = json.loads(json.dumps(COLOUR_SCHEMA))
    data["fields"][0]["type"] = "enum"
    bad = run("extract", "schema-check", str(write_schema(tmp_path, data)), env=env, codes=(2,))
    assert "field 'colour': type 'enum' is not one of" in bad.stderr


# -- typed settings -----------------------------------------------------------------------------------------
def test_settings_fall_back_on_other_sections_as_sections(tmp_path: Path) -> None:
    from chronicon.api import Section
    from chronicon.api.models import DEFAULT_VLM
    from chronicon_extract.extract_pass import ExtractPass, resolve_settings, with_values

    declared = Section.declared("extract", ExtractPass.settings)
    plain = resolve_settings(declared)
    assert isinstance(plain, Section) and plain.str("model") == DEFAULT_VLM and plain["terminology"] is None
    terms = str(tmp_path / "terms.yaml")
    fallback = resolve_settings(declared, {"caption.model": "some/vlm", "eval.terminology": terms})
    assert fallback.str("model") == "some/vlm" and fallback.optional_str("terminology") == terms
    own = resolve_settings(with_values(declared, model="own/vlm"), {"caption.model": "some/vlm"})
    assert own.str("model") == "own/vlm" and own.int("frames") == 4 and own.setting("frames") is not None
    assert declared["model"] is None  # with_values makes a new section


def test_field_filter_narrows_without_sql(photos: Path, make_plugin_library: Any) -> None:
    """`--field` values with quotes or LIKE wildcards neither break the query nor match more than they say."""
    from chronicon_extract.results import matching_ids

    library = make_plugin_library(enable=("extract",))
    library.scan([photos])
    ids = {Path(r["path"]).name: r["id"] for r in library.catalog.rows(columns=["id", "path"])}
    library.catalog.update_columns([
        {"id": ids["chelsea.jpg"], "extracted": json.dumps({"weather": "it's 100% rain"})},
        {"id": ids["coffee.jpg"], "extracted": json.dumps({"weather": "IT'S 100 % rain!"})},
        {"id": ids["horse.jpg"], "extracted": json.dumps({"weather": "Sunny"})},
    ])  # fmt: skip
    assert matching_ids(library.catalog, "weather=it's 100% rain") == {ids["chelsea.jpg"], ids["coffee.jpg"]}
    assert matching_ids(library.catalog, "weather=SUNNY") == {ids["horse.jpg"]}
    assert matching_ids(library.catalog, "weather=sun") == set()
    assert matching_ids(library.catalog, "weather=%") == set()
    library.catalog.update_columns([{"id": ids["horse.jpg"], "missing": True}])
    assert matching_ids(library.catalog, "weather=sunny") == set()
