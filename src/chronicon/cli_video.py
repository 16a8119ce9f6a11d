"""The `transcript` and `export` commands: a video's speech as text/SRT/WebVTT, and its analysis as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def video_report(row: dict[str, Any]) -> dict[str, Any]:
    """A video's analysis in the shape video-captioning tools write: shots with times and descriptions, frames
    analysed, summary, title, transcript, average inference time and turnaround time."""
    from chronicon.analyzers.inputs import stored_segments
    from chronicon.builtin.summarize import _segment_labels, _transcript

    segments = stored_segments(row)
    labels = _segment_labels(row)
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
        "labels": row.get("labels") or [],
        "average_inference_time": round(ml_seconds / frames, 4) if seconds else None,
        "turnaround_time": round(sum(seconds.values()), 4) if seconds else None,
        "pass_seconds": seconds,
    }


def register_video_commands(cli: click.Group) -> None:
    from chronicon.cli import AppState, UsageError, _print_json, catalog_row
    from chronicon.schemas import stamp

    def video_row(state: AppState, path: str) -> dict[str, Any]:
        row = catalog_row(state, path)
        if row.get("kind") != "video":
            raise UsageError(f"{path} is not a video")
        return row

    @cli.command()
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
        """What is said in the video PATH, with timestamps (from the `transcribe` pass)."""
        from chronicon.builtin.summarize import _transcript
        from chronicon.embed.speech import to_srt, to_vtt
        from chronicon.media.timecode import clock

        row = video_row(state, path)
        if row.get("transcript") is None:
            raise UsageError(f"{path} has no transcript yet: the transcribe pass has not run on it (see doctor)")
        segments = _transcript(row)
        if fmt == "json":
            _print_json({"path": row["path"], "language": row.get("language"), "segments": segments})
        elif fmt == "srt":
            click.echo(to_srt(segments), nl=False)
        elif fmt == "vtt":
            click.echo(to_vtt(segments), nl=False)
        else:
            if not segments:
                click.echo("(no speech)", err=True)
            for s in segments:
                click.echo(f"[{clock(s['start'])} - {clock(s['end'])}] {s['text']}")

    @cli.command("export")
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
            _print_json(report)
        sys.stdout.flush()


def register_caption_command(cli: click.Group) -> None:
    from chronicon.cli import AppState, CannotRun, UsageError, _print_json
    from chronicon.embed.captioner import DEFAULT_PROMPT

    @cli.command()
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--frames", type=click.IntRange(1, 256), default=8, show_default=True,
                  help="Videos: frames evenly spaced over the video, captioned in batches.")  # fmt: skip
    @click.option("--prompt", default=None, help=f'What to ask the model (default: "{DEFAULT_PROMPT}").')
    @click.option("--resize", type=click.IntRange(32, 4096), default=None, help="Longest side fed to the model.")
    @click.option("--max-tokens", type=click.IntRange(1, 1024), default=None, help="New tokens per caption.")
    @click.option("--model", default=None, help="Model name or local folder (default: the caption pass's).")
    @click.option("--lora", type=click.Path(exists=True), default=None, help="A LoRA adapter folder (peft).")
    @click.option("--no-quantization", is_flag=True, help="Never load 4-bit, even on CUDA.")
    @click.option("--device", default=None, help="auto, cpu, cuda, cuda:N or mps.")
    @click.option("--verbose", is_flag=True, help="Also print the timings and each frame's caption.")
    @click.option("--no-save", is_flag=True, help="Do not write <name>.caption.json in the current folder.")
    @click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
    @click.pass_obj
    def caption(
        state: AppState,
        /,
        path: str,
        frames: int,
        prompt: str | None,
        resize: int | None,
        max_tokens: int | None,
        model: str | None,
        lora: str | None,
        no_quantization: bool,
        device: str | None,
        verbose: bool,
        no_save: bool,
        as_json: bool,
    ) -> None:
        """Describe one photo or video with the captioning model (nothing is written to the catalog).

        A video is sampled at --frames evenly spaced frames; each gets a caption, and the description lists
        them with their times. The result (model, device, quantized, timings) is saved as JSON unless
        --no-save.
        """
        import json
        import time

        from chronicon.embed.captioner import Captioner
        from chronicon.errors import MediaError, ModelUnavailableError
        from chronicon.media.photo import open_image, register_heif
        from chronicon.media.shots import SamplingOptions, sample_video
        from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes
        from chronicon.media.timecode import clock
        from chronicon.types import MediaKind

        started = time.perf_counter()
        config = state.library().config.section("caption")
        side = resize or int(config.get("resize", 384))
        try:
            with open(path, "rb") as fh:
                sniffed = sniff_bytes(fh.read(SNIFF_BYTES))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if sniffed is None:
            raise UsageError(f"{path} is not a recognised photo or video")
        try:
            pictures: list[tuple[float | None, Any]]
            if sniffed.kind == MediaKind.VIDEO:
                sampled = sample_video(path, SamplingOptions(mode="uniform", count=frames, frame_side=side))
                pictures = [(s.frame_times[0], s.frames[0]) for s in sampled.segments]
            else:
                register_heif()
                pictures = [(None, open_image(path, max_pixels=250_000_000, draft_size=side))]
        except MediaError as exc:
            raise UsageError(f"{path}: {exc}") from exc
        for _, image in pictures:
            image.thumbnail((side, side))
        try:
            model_obj = Captioner(
                model or str(config.get("model")),
                device=device or str(config.get("device", "auto")),
                quantization="none" if no_quantization else str(config.get("quantization", "auto")),
                lora=lora or config.get("lora"),
                max_new_tokens=max_tokens or int(config.get("max_new_tokens", 48)),
                prompt=prompt or str(config.get("prompt", DEFAULT_PROMPT)),
            )
        except ModelUnavailableError as exc:
            raise CannotRun(str(exc)) from exc
        t0 = time.perf_counter()
        texts = model_obj.caption([im for _, im in pictures], batch_size=int(config.get("batch_size", 4)))
        inference = time.perf_counter() - t0
        items: list[dict[str, Any]] = [
            {"time": when, "caption": text} for (when, _), text in zip(pictures, texts, strict=True)
        ]
        if sniffed.kind == MediaKind.VIDEO:
            description = "\n".join(f"[{clock(i['time'])}] {i['caption']}" for i in items)
        else:
            description = texts[0]
        info = model_obj.info
        result: dict[str, Any] = {
            "path": path,
            "kind": sniffed.kind.value,
            "model": info.model,
            "device": info.device,
            "quantized": info.quantized,
            "lora": info.lora,
            "prompt": model_obj.prompt,
            "frames": items,
            "description": description,
            "timing": {
                "model_load_s": round(info.load_seconds, 3),
                "inference_s": round(inference, 3),
                "per_frame_s": round(inference / max(1, len(items)), 3),
                "total_s": round(time.perf_counter() - started, 3),
            },
            "notes": info.notes,
        }
        if not no_save:
            out = Path.cwd() / (Path(path).name + ".caption.json")
            out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            result["saved"] = str(out)
        if as_json:
            _print_json(result)
            return
        click.echo(description)
        if verbose:
            t = result["timing"]
            click.echo(
                f"model {info.model} on {info.device}{' (4-bit)' if info.quantized else ''}: load {t['model_load_s']}s,"
                f" inference {t['inference_s']}s ({t['per_frame_s']}s/frame), total {t['total_s']}s",
                err=True,
            )
        if not no_save:
            click.echo(f"saved {result['saved']}", err=True)
