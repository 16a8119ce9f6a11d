"""Output for scripts: `search -f` prints existing paths only (videos once), `--moments` and `-0` are exact,
`scan -q` prints the summary line and nothing from the model libraries. Real CLI processes, both streams."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clipfactory import make_tiny_clip
from mediafactory import make_mp4
from vlmfactory import make_tiny_vlm

CLI = [sys.executable, "-m", "chronicon"]
ODD_NAME = b"caf\xe9 au lait.jpg"  # Latin-1 bytes: not valid UTF-8, as old cameras and zip files write them


def run(*args: str, env: dict[str, str], codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([*CLI, *args], capture_output=True, env=env, timeout=600)
    assert proc.returncode in codes, f"exit {proc.returncode}\n{proc.stdout!r}\n{proc.stderr.decode(errors='replace')}"
    return proc


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    """Real photos (one with a name that is not UTF-8, one with a space), a video with cuts and a tone; every
    model on: the offline tagger and detector, a tiny CLIP, a tiny VLM captioner, Whisper."""
    root = tmp_path_factory.mktemp("contracts")
    lib = root / "library"
    shutil.copytree(sample_photos, lib / "photos")
    shutil.copy(sample_photos / "chelsea.jpg", os.fsencode(lib / "photos") + b"/" + ODD_NAME)
    shutil.copy(sample_photos / "coffee.jpg", lib / "photos" / "morning coffee.jpg")
    make_mp4(lib / "clip.mp4", seconds=3.0, size=(96, 64), cuts=[1.5])
    models = root / "models"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    env.update(
        CHRONICON_CATALOG=str(root / "catalog"),
        CHRONICON_MODEL_CACHE=str(model_cache),
        CHRONICON_CLIP__MODEL=f"local-dir:{make_tiny_clip(models / 'tiny-clip')}",
        CHRONICON_CAPTION__ENABLED="true",
        CHRONICON_CAPTION__MODEL=str(make_tiny_vlm(models / "tiny-vlm")),
        CHRONICON_CAPTION__MAX_NEW_TOKENS="4",
        CHRONICON_TRANSCRIBE__ENABLED="true",
        HF_HUB_OFFLINE="1",
    )
    env.pop("TQDM_DISABLE", None)  # the CLI must silence the bars itself
    scan = run("scan", "-q", str(lib), env=env)
    return lib, env, scan


def test_scan_quiet_prints_the_summary_line_and_nothing_from_the_libraries(library: Any) -> None:
    _lib, _env, scan = library
    out = scan.stdout.decode()
    assert out.startswith("scanned ") and len(out.splitlines()) == 1, out
    assert "0 failed" in out
    err = scan.stderr.decode(errors="replace")
    assert err == "", err  # no weight-loading bars, no INFO lines, no LiteRT C++ line
    lib, env, _ = library
    phases = json.loads(run("info", str(lib / "clip.mp4"), "--json", env=env).stdout)["phases"]
    ran = {name for name, record in phases.items() if record["status"] == "done"}
    assert {"tags", "clip", "caption", "transcribe"} <= ran, phases  # every model really loaded


def _paths(stdout: bytes, sep: bytes = b"\n") -> list[bytes]:
    return [p for p in stdout.split(sep) if p]


def test_files_prints_existing_paths_only_and_each_video_once(library: Any) -> None:
    _lib, env, _ = library
    proc = run("search", "a cat", "-f", "-n", "50", "--all", env=env)
    assert proc.stderr == b""
    paths = _paths(proc.stdout)
    assert all(os.path.isfile(p) for p in paths), paths
    assert len(paths) == len(set(paths))
    names = {os.path.basename(p) for p in paths}
    assert {ODD_NAME, b"morning coffee.jpg", b"clip.mp4"} <= names
    # What the docs promise: piped into xargs, every name reaches the program intact.
    listed = subprocess.run(["xargs", "-d", "\n", "ls", "-d", "--"], input=proc.stdout, capture_output=True)
    assert listed.returncode == 0 and sorted(_paths(listed.stdout)) == sorted(paths), listed.stderr


def test_null_separated_output_keeps_odd_names_exact(library: Any) -> None:
    lib, env, _ = library
    lines = _paths(run("search", "a cat", "-f", "-n", "50", "--all", env=env).stdout)
    nul = run("search", "a cat", "-f", "-0", "-n", "50", "--all", env=env).stdout
    assert nul.endswith(b"\0") and b"\n" not in nul
    assert _paths(nul, b"\0") == lines
    assert os.fsencode(lib / "photos") + b"/" + ODD_NAME in lines
    listed = subprocess.run(["xargs", "-0", "ls", "-d", "--"], input=nul, capture_output=True)
    assert listed.returncode == 0, listed.stderr


def test_moments_prints_path_start_end_moment_per_hit(library: Any) -> None:
    _lib, env, _ = library
    out = run("search", "a scene", "--moments", "--kind", "video", "-n", "10", env=env).stdout
    rows = [line.split(b"\t") for line in _paths(out)]
    assert rows and all(len(r) == 4 and os.path.isfile(r[0]) for r in rows)
    for _path, start, end, moment in rows:
        if start:  # a shot of the video: seconds, start before end, the moment inside
            assert 0.0 <= float(start) <= float(moment) < float(end) <= 3.5
    photos = _paths(run("search", "a cat", "--moments", "--kind", "image", "-n", "3", env=env).stdout)
    assert photos and all(line.endswith(b"\t\t\t") for line in photos)


def test_json_output_is_quiet_on_stderr_and_parses(library: Any) -> None:
    _lib, env, _ = library
    proc = run("search", "a cat", "--json", "-n", "3", env=env)
    assert proc.stderr == b""
    assert json.loads(proc.stdout)["results"]


def _valid(name: str, data: Any) -> None:
    """Fails with every schema error in the output, each with its JSON path."""
    import jsonschema_rs

    from chronicon.schemas import SCHEMA_VERSION, load

    errors = [f"{e.instance_path}: {e.message}" for e in jsonschema_rs.validator_for(load(name)).iter_errors(data)]
    assert not errors, f"{name}: " + "\n".join(errors)
    assert data["schema_version"] == SCHEMA_VERSION


def test_every_json_output_matches_its_published_schema(library: Any) -> None:
    lib, env, _ = library
    clip, photo = str(lib / "clip.mp4"), str(lib / "photos" / "morning coffee.jpg")

    def out(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
        return json.loads(run(*args, "--json", env=env, codes=codes).stdout)

    rescan = out("scan", str(lib))
    _valid("scan", rescan)
    assert rescan["counts"]["unchanged"] == sum(f.is_file() for f in lib.rglob("*")), rescan
    for query in ("a cat", "a sunny morning"):
        found = out("search", query, "-n", "20", "--all")
        _valid("search", found)
        assert {r["kind"] for r in found["results"]} == {"image", "video"}, found  # both shapes of hit checked
    _valid("search", out("similar", photo, "-n", "5"))
    _valid("search", out("search", "a cat", "--kind", "video", "--after", "1990-01-01"))
    for path in (clip, photo):
        _valid("info", out("info", path))
    stats = out("stats")
    _valid("stats", stats)
    assert stats["assets"] == sum(f.is_file() for f in lib.rglob("*")) and stats["vectors"], stats
    export = json.loads(run("export", clip, env=env).stdout)
    _valid("export", export)
    assert export["shots"], export
    _valid("catalog-check", out("catalog", "check"))


def test_schemas_catch_a_changed_shape() -> None:
    """The schemas are strict enough to fail: a renamed or retyped field in an output is an error."""
    import jsonschema_rs

    from chronicon.schemas import NAMES, load

    for name in NAMES:
        jsonschema_rs.meta.validate(load(name))  # each is a valid 2020-12 schema
    good = {"schema_version": 1, "query": "x", "space": "clip", "filters": {}, "seconds": 0.1, "results": []}
    validator = jsonschema_rs.validator_for(load("search"))
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "seconds": "fast"})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "results"})
    assert not validator.is_valid({**good, "schema_version": 2})
