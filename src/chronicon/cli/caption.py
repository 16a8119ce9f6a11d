"""The `caption` command: describe one photo or video with the caption pass's model (nothing is written)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from chronicon.api.cli import AppState, CannotRun, UsageError, print_json
from chronicon.config import Section
from chronicon.embed.captioner import DEFAULT_PROMPT, Captioner
from chronicon.errors import MediaError, ModelUnavailableError
from chronicon.media.timecode import clock
from chronicon.types import MediaKind

Pictures = list[tuple[float | None, Any]]  # (time in the video or None for a photo, PIL image)


@click.command()
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
@click.option(
    "--save", metavar="FILE", type=click.Path(dir_okay=False), help="Also write the whole result as JSON to FILE."
)
@click.option("--no-save", is_flag=True, hidden=True, help="Nothing is saved without --save (kept for old scripts).")
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
    save: str | None,
    no_save: bool,
    as_json: bool,
) -> None:
    """Describe one photo or video with the captioning model (nothing is written to the catalog).

    A video is sampled at --frames evenly spaced frames; each gets a caption, and the description lists
    them with their times. The model and its settings are the caption pass's (the `caption.*` config keys);
    the options override them for this run. --save FILE writes the result (model, device, quantized, timings)
    as JSON.
    """
    started = time.perf_counter()
    options = {"model": model, "prompt": prompt, "resize": resize, "max_new_tokens": max_tokens, "lora": lora,
               "device": device, "quantization": "none" if no_quantization else None}  # fmt: skip
    settings, max_pixels = _caption_settings(state, options)
    side = settings.int("resize")
    kind = _media_kind(path)
    pictures = _pictures(path, kind, frames=frames, side=side, max_pixels=max_pixels)
    captioner = build_captioner(settings)
    t0 = time.perf_counter()
    texts = captioner.caption([im for _, im in pictures], batch_size=settings.int("batch_size"))
    inference = time.perf_counter() - t0
    result = _result(path, kind, captioner, pictures, texts, inference=inference, started=started)
    if save:
        result["saved"] = _save(result, Path(save))
    if as_json:
        print_json(result)
        return
    click.echo(result["description"])
    if verbose:
        t = result["timing"]
        click.echo(
            f"model {result['model']} on {result['device']}{' (4-bit)' if result['quantized'] else ''}: load "
            f"{t['model_load_s']}s, inference {t['inference_s']}s ({t['per_frame_s']}s/frame), total {t['total_s']}s",
            err=True,
        )
    if save:
        click.echo(f"saved {result['saved']}", err=True)


def _caption_settings(state: AppState, options: dict[str, Any]) -> tuple[Section, int]:
    """The caption pass's settings with the options given over them (checked like any `caption.*` key), and the
    scan's pixel limit for photos."""
    for key, value in options.items():
        if value is not None and value != "":
            state.overrides[f"caption.{key}"] = value
    library = state.library()
    settings = library.config.section("caption")
    if "model" not in settings:
        raise UsageError("the caption pass is not loaded here (is its plugin disabled in plugins.disabled?)")
    return settings, library.config.section("scan").int("max_image_pixels")


def build_captioner(settings: Section) -> Captioner:
    """The Captioner of these caption settings, built as the caption pass builds it; exit 3 when it cannot load."""
    try:
        return Captioner(
            settings.str("model"),
            device=settings.str("device"),
            quantization=settings.str("quantization"),
            lora=settings.optional_str("lora"),
            max_new_tokens=settings.int("max_new_tokens"),
            prompt=settings.str("prompt"),
        )
    except ModelUnavailableError as exc:
        raise CannotRun(str(exc)) from exc


def _media_kind(path: str) -> MediaKind:
    from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes

    try:
        with open(path, "rb") as fh:
            sniffed = sniff_bytes(fh.read(SNIFF_BYTES))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if sniffed is None:
        raise UsageError(f"{path} is not a recognised photo or video")
    return sniffed.kind


def _pictures(path: str, kind: MediaKind, *, frames: int, side: int, max_pixels: int) -> Pictures:
    """The photo, or `frames` evenly spaced frames of the video with their times, at most `side` pixels a side."""
    from chronicon.media.photo import open_image, register_heif
    from chronicon.media.shots import SamplingOptions, sample_video

    try:
        pictures: Pictures
        if kind == MediaKind.VIDEO:
            sampled = sample_video(path, SamplingOptions(mode="uniform", count=frames, frame_side=side))
            pictures = [(s.frame_times[0], s.frames[0]) for s in sampled.segments]
        else:
            register_heif()
            pictures = [(None, open_image(path, max_pixels=max_pixels, draft_size=side))]
    except MediaError as exc:
        raise UsageError(f"{path}: {exc}") from exc
    for _, image in pictures:
        image.thumbnail((side, side))
    return pictures


def _result(path: str, kind: MediaKind, captioner: Captioner, pictures: Pictures, texts: list[str], *,
            inference: float, started: float) -> dict[str, Any]:  # fmt: skip
    """What `--json` prints and `--save` writes: model, device, frames with their captions, description, timings."""
    items: list[dict[str, Any]] = [
        {"time": when, "caption": text} for (when, _), text in zip(pictures, texts, strict=True)
    ]
    if kind == MediaKind.VIDEO:
        description = "\n".join(f"[{clock(i['time'])}] {i['caption']}" for i in items)
    else:
        description = texts[0]
    info = captioner.info
    return {
        "path": path,
        "kind": kind.value,
        "model": info.model,
        "device": info.device,
        "quantized": info.quantized,
        "lora": info.lora,
        "prompt": captioner.prompt,
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


def _save(result: dict[str, Any], out: Path) -> str:
    """Write the result as JSON to `out` (`--save`); the path written, absolute."""
    try:
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return str(out.absolute())
