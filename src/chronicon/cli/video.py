"""The `transcript` and `export` commands: a video's speech as text/SRT/WebVTT, and its analysis as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from chronicon.api.cli import AppState, UsageError, print_json
from chronicon.cli.core import catalog_row
from chronicon.schemas import stamp


def video_report(row: dict[str, Any]) -> dict[str, Any]:
    """A video's analysis in the shape video-captioning tools write: shots with times and descriptions, frames
    analysed, summary, title, transcript, average inference time and turnaround time."""
    from chronicon.analyzers.inputs import stored_segments
    from chronicon.builtin.summarize import _segment_labels, _transcript

    segments = stored_segments(row)
    labels = _segment_labels(row)
    try:  # the text read in the poster and the shots (ocr pass)
        text_lines = [line for line in json.loads(row.get("ocr_lines") or "[]") if isinstance(line, dict)]
    except ValueError:
        text_lines = []
    phases = json.loads(row.get("phases") or "{}")
    seconds = {name: float(rec["seconds"]) for name, rec in phases.items() if rec.get("seconds") is not None}
    frames = sum(len(s.get("frame_times") or []) for s in segments) + 1  # + the poster
    ml_seconds = sum(v for k, v in seconds.items() if k not in ("metadata", "content"))
    shots = [
        {
            "batch": n,
            "index": int(s["index"]),
            "start": s["t_start"],
            "end": s["t_end"],
            "frames": s.get("frame_times") or [],
            "description": ", ".join(lab for lab, _ in labels.get(int(s["index"]), [])) or None,
            "labels": [{"label": lab, "score": score} for lab, score in labels.get(int(s["index"]), [])],
            "thumbnail": s.get("thumbnail"),
            "text": [line for line in text_lines if line.get("segment") == int(s["index"])],
        }
        for n, s in enumerate(segments, 1)
    ]
    return {
        "video": row.get("path"),
        "duration": row.get("duration"),
        "title": row.get("title"),
        "summary": row.get("summary"),
        "language": row.get("language"),
        "sampling": row.get("sampling"),
        "frames_analyzed": frames,
        "shots": shots,
        "transcript": _transcript(row),
        "text": text_lines,
        "labels": row.get("labels") or [],
        "average_inference_time": round(ml_seconds / frames, 4) if seconds else None,
        "turnaround_time": round(sum(seconds.values()), 4) if seconds else None,
        "pass_seconds": seconds,
    }


def video_row(state: AppState, path: str) -> dict[str, Any]:
    """The catalog row of a video given on the command line (a usage error for a photo or an unknown file)."""
    row = catalog_row(state, path)
    if row.get("kind") != "video":
        raise UsageError(f"{path} is not a video")
    return row


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "srt", "vtt", "json"]),
    default="text",
    show_default=True,
    help="Plain text with times, SubRip, WebVTT or JSON.",
)
@click.pass_obj
def transcript(state: AppState, /, path: str, fmt: str) -> None:
    """What is said in the video PATH (or the video inside a motion photo), with timestamps (from the `transcribe`
    pass)."""
    from chronicon.builtin.summarize import _transcript
    from chronicon.embed.speech import to_srt, to_vtt
    from chronicon.media.timecode import clock

    row = catalog_row(state, path)
    if row.get("kind") != "video" and row.get("motion_part") != "embedded":
        raise UsageError(f"{path} is not a video (nor a motion photo with a video inside)")
    if row.get("transcript") is None:
        raise UsageError(f"{path} has no transcript yet: the transcribe pass has not run on it (see doctor)")
    segments = _transcript(row)
    if fmt == "json":
        print_json({"path": row["path"], "language": row.get("language"), "segments": segments})
    elif fmt == "srt":
        click.echo(to_srt(segments), nl=False)
    elif fmt == "vtt":
        click.echo(to_vtt(segments), nl=False)
    else:
        if not segments:
            click.echo("(no speech)", err=True)
        for s in segments:
            click.echo(f"[{clock(s['start'])} - {clock(s['end'])}] {s['text']}")


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, default=True, help="JSON (the only format for now).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
@click.pass_obj
def export(state: AppState, /, path: str, as_json: bool, output: str | None) -> None:
    """A video's shots, labels, transcript, summary, title and timings as JSON."""
    report = stamp(video_report(video_row(state, path)))
    if output:
        Path(output).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        print_json(report)
    sys.stdout.flush()
