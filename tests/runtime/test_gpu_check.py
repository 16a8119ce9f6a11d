"""benchmarks/gpu_check.sh: the one-call GPU check, run here in its CPU dry mode (same code paths, tiny sizes).

The dry run of a few models (the torch runner's eager and amp, LiteRT, transformers, dlib) is fast enough for
every test run; the dry run of every model with every CPU backend (torch.compile and the ONNX exports included,
about two minutes on two busy cores) is `-m slow`. Which models the check covers is checked without running
them (`--list`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
# A model per kind of loader: ClipModel -> prepare_model (eager, amp), LiteRT, transformers, dlib; without the
# slow builds (torch.compile, ONNX export), which the slow test runs.
FAST_MODELS = ("clip-image", "imagenet-tagger", "captioner", "hog-face-detector")
FAST_SKIP = "compile,onnxruntime"
ROW_KEYS = {"model", "backend", "precision", "status", "reason", "throughput", "unit", "diff", "diff_kind"}


def _check(*args: str, timeout: float = 240) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # the dry run is the CPU's, whatever the machine
    )
    try:
        result = json.loads(proc.stdout) if "--json" in args else {}
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not JSON (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.returncode, result, proc.stdout + proc.stderr


def _cpu_models() -> set[str]:
    """Every model registered with a CPU backend, the plugins' included (imported as the check imports them)."""
    import importlib
    from importlib.metadata import entry_points

    from chronicon.runtime.models import model_kinds

    for entry in entry_points(group="chronicon.plugins"):
        importlib.import_module(entry.value.split(":")[0])
    import chronicon_faces.models  # noqa: F401  (the dlib models)

    return {name for name, kind in model_kinds().items() if kind.on("cpu")}


def _assert_rows_well_formed(result: dict[str, Any], output: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = result["rows"]
    assert rows, output
    for row in rows:
        assert ROW_KEYS <= set(row), row
        assert row["status"] in ("ok", "skipped", "FAILED"), row
        if row["status"] != "ok":
            assert row["reason"], row  # a skip or a failure always says why
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert not failed, json.dumps(failed, indent=2)
    assert result["failed"] == 0 and result["dry"] is True
    return rows


def _assert_clip_eager_is_the_reference(rows: list[dict[str, Any]]) -> None:
    clip = {(r["backend"], r["precision"]): r for r in rows if r["model"] == "clip-image"}
    eager = clip[("eager", "fp32")]
    assert eager["status"] == "ok", eager
    assert isinstance(eager["throughput"], float) and eager["throughput"] > 0, eager
    assert eager["unit"] == "images/s" and eager["diff_kind"] == "1-cos" and eager["diff"] == 0.0, eager
    assert eager["ran_as"] == "cpu eager/fp32", eager
    for row in clip.values():  # every other CPU backend that ran matches eager fp32 (they share the weights)
        if row["status"] == "ok":
            assert row["diff"] is not None and row["diff"] < 1e-2, row
            assert row["throughput"] > 0, row


def test_the_plan_covers_every_model_registered_for_the_cpu() -> None:
    rc, result, output = _check("--dry", "--list", "--json", timeout=120)
    assert rc == 0, output
    rows = result["rows"]
    assert {r["model"] for r in rows} == _cpu_models(), output
    for row in rows:
        assert row["status"] in ("planned", "skipped"), row
        assert row["backend"] != "-", row  # every one of them has a CPU backend
        if row["status"] == "skipped":
            assert row["reason"] and "no probe" not in row["reason"], row  # every model has a probe


def test_the_dry_run_runs_models_on_the_cpu_and_compares_them_with_eager() -> None:
    pytest.importorskip("open_clip")
    rc, result, output = _check("--dry", "--json", "--only", ",".join(FAST_MODELS), "--skip", FAST_SKIP)
    assert rc == 0, output
    rows = _assert_rows_well_formed(result, output)
    assert {r["model"] for r in rows} == set(FAST_MODELS)
    _assert_clip_eager_is_the_reference(rows)
    clip = {(r["backend"], r["precision"]): r for r in rows if r["model"] == "clip-image"}
    assert clip[("compile", "fp32")]["status"] == "skipped" and "--skip" in clip[("compile", "fp32")]["reason"]
    for row in rows:
        if row["status"] == "ok":
            assert row["throughput"] is not None and row["throughput"] > 0, row
            assert row["diff"] is not None, row  # every model's reference ran, so every row has a diff
    units = {r["model"]: r["unit"] for r in rows}
    assert units["captioner"] == "captions/s" and units["hog-face-detector"] == "images/s", units


@pytest.mark.slow
def test_the_full_dry_run_runs_every_cpu_backend_of_every_model() -> None:
    rc, result, output = _check("--dry", "--json", timeout=400)
    assert rc == 0, output
    rows = _assert_rows_well_formed(result, output)
    assert {r["model"] for r in rows} == _cpu_models(), output
    _assert_clip_eager_is_the_reference(rows)
    for model in _cpu_models():  # each model either ran on some backend or says why not
        mine = [r for r in rows if r["model"] == model]
        assert any(r["status"] == "ok" for r in mine) or all(r["reason"] for r in mine), mine
    speech = [r for r in rows if r["model"] in ("whisper", "openai-whisper") and r["status"] == "ok"]
    assert speech and all(r["unit"] == "RTF" and r["throughput"] > 0 for r in speech), speech


def test_without_cuda_and_without_dry_it_says_so_and_exits_2() -> None:
    rc, _, output = _check()
    assert rc == 2, output
    assert "no CUDA device: run with --dry for the CPU dry run" in output


def test_the_script_is_bash_with_strict_mode_and_runs_the_python_check() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "benchmarks/gpu_check.py" in text and os.access(SCRIPT, os.X_OK)
