"""Videos end to end: shots of a slideshow of real photos and synthesised speech, searched by what is shown and
said, with the right timestamps; transcripts, summary, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("faster_whisper")

from chronicon.cli.video import video_report
from chronicon.embed.speech import to_srt, to_vtt
from ci_skips import provided_reason
from mediafactory import add_audio, espeak_available, make_slideshow, make_speech_audio

FPS = 12
SPOKEN = "Happy birthday to you. Let us raise a glass to the bride and groom."


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path, model_cache: Path) -> Any:
    from chronicon.library import Library

    root = tmp_path_factory.mktemp("video-lib")
    lib = root / "library"
    lib.mkdir()
    pictures = [sample_photos / f"{name}.jpg" for name in ("coffee", "chelsea", "rocket")]
    silent = root / "silent.mp4"
    cuts = make_slideshow(silent, pictures, seconds_each=3.0, fps=FPS)
    speech_end = None
    if espeak_available():
        make_speech_audio(SPOKEN, root / "speech.wav")
        speech_end = add_audio(silent, root / "speech.wav", lib / "party.mp4", start=1.0)
    else:
        silent.rename(lib / "party.mp4")
    settings = {"clip.enabled": False, "model_cache": str(model_cache), "tags.enabled": True}
    library = Library(root / "catalog", overrides=settings, environ={}, entry_points=False)
    summary = library.scan([lib])
    assert summary.counts["new"] == 1 and not summary.failures, summary.failures
    return library, lib / "party.mp4", cuts, speech_end


def test_shots_follow_the_cuts(scanned: Any) -> None:
    library, video, cuts, _ = scanned
    row = library.info(video)
    segments = json.loads(row["segments"])
    assert [s["t_start"] for s in segments[1:]] == pytest.approx(cuts, abs=1 / FPS + 0.26)
    assert all((library.catalog_dir / s["thumbnail"]).is_file() for s in segments)
    per_segment = json.loads(row["segment_labels"])
    assert "cup" in [label for label, _ in per_segment["1"]]
    assert any("cat" in label for label, _ in per_segment["2"])
    detections = json.loads(row["segment_detections"])
    assert "cup" in [d["label"] for d in detections["1"]] and "cat" in [d["label"] for d in detections["2"]]
    assert {"cup#1", "cat#1"} <= set(row["object_counts"])


@pytest.mark.parametrize(("query", "shot"), [("a cup of coffee", 0), ("a cat", 1), ("rocket", 2)])
def test_search_finds_the_shot_with_its_timestamp(scanned: Any, query: str, shot: int) -> None:
    library, video, cuts, _ = scanned
    hits = library.search(query, limit=1, hybrid=False)
    assert hits and Path(hits[0].path) == video
    start = ([0.0, *cuts])[shot]
    assert hits[0].t_start == pytest.approx(start, abs=1 / FPS + 0.26), hits[0].why
    assert hits[0].segment == shot + 1


@pytest.mark.skipif(not espeak_available(), reason=provided_reason("espeak-ng is not installed (.ci/run installs it)"))
def test_speech_is_transcribed_with_times_and_searchable(scanned: Any) -> None:
    library, video, _, speech_end = scanned
    row = library.info(video)
    segments = json.loads(row["transcript"])
    text = " ".join(s["text"] for s in segments).lower()
    assert "birthday" in text and "bride" in text and row["language"] == "en"
    assert segments[0]["start"] >= 0.5 and segments[-1]["end"] <= speech_end + 1.0
    assert [Path(h.path) for h in library.search("anything", has_speech=True, show_all=True)] == [video]
    hit = library.search("where she says happy birthday", limit=1)[0]
    assert Path(hit.path) == video and any(w.startswith("said") for w in hit.why)
    assert 0.5 <= hit.t_start <= speech_end


@pytest.mark.skipif(not espeak_available(), reason=provided_reason("espeak-ng is not installed (.ci/run installs it)"))
def test_transcript_and_export_commands_on_real_speech(scanned: Any) -> None:
    """`chronicon transcript` in its four formats and `chronicon export`, as processes, on the spoken toast."""
    import os
    import subprocess
    import sys

    library, video, _, speech_end = scanned
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICON_")}
    base = [sys.executable, "-m", "chronicon", "--catalog", str(library.catalog_dir)]

    def cli(*args: str) -> str:
        proc = subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    stored = json.loads(library.info(video)["transcript"])
    as_json = json.loads(cli("transcript", str(video), "--format", "json"))
    assert as_json["language"] == "en" and [s["text"] for s in as_json["segments"]] == [s["text"] for s in stored]
    text = cli("transcript", str(video))
    assert "birthday" in text.lower() and text.startswith("[00:00:0")  # "[start - end] words" lines
    srt = cli("transcript", str(video), "--format", "srt")
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "birthday" in srt.lower()
    assert srt.count(" --> ") == len(stored)
    vtt = cli("transcript", str(video), "--format", "vtt")
    assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(stored)
    export = json.loads(cli("export", str(video)))
    assert [s["index"] for s in export["shots"]] == [1, 2, 3] and export["language"] == "en"
    spoken = " ".join(s["text"] for s in export["transcript"]).lower()
    assert "birthday" in spoken and all(s["end"] <= speech_end + 1.0 for s in export["transcript"])
    refused = subprocess.run([*base, "transcript", str(video.with_name("nope.mp4"))], capture_output=True,
                             text=True, env=env, timeout=120)  # fmt: skip
    assert refused.returncode in (2, 3) and "nope.mp4" in refused.stderr


def test_summary_title_and_export(scanned: Any) -> None:
    library, video, _, _ = scanned
    row = library.info(video)
    assert row["title"] and row["summary"] and "3 shots" in row["summary"]
    report = video_report(row)
    assert [s["index"] for s in report["shots"]] == [1, 2, 3]
    assert report["frames_analyzed"] == 4 and report["turnaround_time"] > 0
    assert report["title"] == row["title"] and isinstance(report["transcript"], list)


def test_srt_and_vtt_formats() -> None:
    segments = [{"start": 0.5, "end": 2.25, "text": "Hello"}, {"start": 3661.0, "end": 3662.5, "text": "there"}]
    assert to_srt(segments) == "1\n00:00:00,500 --> 00:00:02,250\nHello\n\n2\n01:01:01,000 --> 01:01:02,500\nthere\n"
    assert to_vtt(segments).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello\n")


def test_bad_videos_give_clear_errors_or_partial_results(tmp_path: Path, make_ml_library: Any) -> None:
    from mediafactory import make_audio_only, make_mp4, make_no_frames, make_truncated

    lib = tmp_path / "lib"
    lib.mkdir()
    make_mp4(lib / "silent.mp4", seconds=3.0, audio=False, cuts=[1.5])
    make_mp4(lib / "rotated.mov", seconds=1.0, rotation=90)
    make_audio_only(lib / "voice-memo.mp4")
    make_no_frames(lib / "no-frames.mp4")
    (lib / "zero.mp4").write_bytes(b"")
    make_mp4(tmp_path / "whole.mp4", seconds=3.0, cuts=[1.5])
    make_truncated(tmp_path / "whole.mp4", lib / "truncated.mp4", keep_fraction=0.5)
    summary = make_ml_library(**{"transcribe.enabled": True}).scan([lib])
    failed = {Path(f.path).name: f.reason for f in summary.failures}
    assert {"voice-memo.mp4", "no-frames.mp4", "zero.mp4"} <= set(failed)
    assert all(reason and "Traceback" not in reason for reason in failed.values())
    library = make_ml_library()
    silent = library.info(lib / "silent.mp4")
    assert silent["status"] == "ok" and json.loads(silent["transcript"]) == []
    assert len(json.loads(silent["segments"])) == 2
    rotated = library.info(lib / "rotated.mov")
    assert rotated["status"] == "ok" and rotated["segments"]
