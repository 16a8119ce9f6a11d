"""Built-in pass `summarize`: a title and a summary per video, from its shots' labels and its transcript.

Extractive and deterministic: what the shots show (labels weighted by score and shot length) and what is said.
Captions from the captioner pass, when it lands, feed the same columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import stored_segments
from chronicon.config import Setting
from chronicon.embed.speech import is_music_marker
from chronicon.hookspecs import hookimpl
from chronicon.media.timecode import clock
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "summarize"


def _segment_labels(row: dict[str, Any]) -> dict[int, list[tuple[str, float]]]:
    try:
        data = json.loads(row.get("segment_labels") or "{}")
    except ValueError:
        return {}
    return {int(k): [(str(p[0]), float(p[1])) for p in v] for k, v in data.items()} if isinstance(data, dict) else {}


def _transcript(row: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        data = json.loads(row.get("transcript") or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def _segment_captions(row: dict[str, Any]) -> dict[int, str]:
    try:
        data = json.loads(row.get("segment_captions") or "{}")
    except ValueError:
        return {}
    return {int(k): str(v) for k, v in data.items() if v} if isinstance(data, dict) else {}


def _sentence(text: str, words: int) -> str:
    parts = text.replace("?", ".").replace("!", ".").split(".")
    first = next((p.strip() for p in parts if p.strip()), text.strip())
    tokens = first.split()
    return " ".join(tokens[:words]) + ("…" if len(tokens) > words else "")


def summarize(row: dict[str, Any], top: int = 3) -> tuple[str | None, str | None]:
    """(title, summary) of a video row; (None, None) when nothing is known about it."""
    segments = stored_segments(row)
    labels = _segment_labels(row)
    captions = _segment_captions(row)
    spoken = _transcript(row)
    weight: dict[str, float] = {}
    for segment in segments:
        length = max(0.1, float(segment["t_end"]) - float(segment["t_start"]))
        for label, score in labels.get(int(segment["index"]), []):
            weight[label] = weight.get(label, 0.0) + score * length
    if not weight:
        for label, score in zip(row.get("labels") or [], row.get("label_scores") or [], strict=False):
            weight[label] = float(score)
    ranked = [label for label, _ in sorted(weight.items(), key=lambda kv: -kv[1])[:top]]
    text = " ".join(str(s.get("text", "")) for s in spoken if not is_music_marker(str(s.get("text", "")))).strip()
    if not ranked and not text and not captions and not row.get("caption"):
        return None, None
    if captions or row.get("caption"):
        # The caption of the longest shot (or of the poster) says best what the video is about.
        longest = max(segments, key=lambda s: float(s["t_end"]) - float(s["t_start"]), default=None)
        chosen = captions.get(int(longest["index"])) if longest is not None else None
        caption = chosen or row.get("caption") or next(iter(captions.values()))
        title = _sentence(str(caption), 10)
        title = title[0].upper() + title[1:]
    elif ranked:
        shown = ranked[0] if len(ranked) == 1 else ", ".join(ranked[:-1]) + " and " + ranked[-1]
        title = shown[0].upper() + shown[1:]
    else:
        title = _sentence(text, 8)
    parts: list[str] = []
    duration = float(row.get("duration") or (segments[-1]["t_end"] if segments else 0.0))
    if segments:
        shots = []
        for segment in segments:
            names = [lab for lab, _ in labels.get(int(segment["index"]), [])[:2]]
            span = f"{clock(float(segment['t_start']))}–{clock(float(segment['t_end']))}"
            said = captions.get(int(segment["index"]))
            what = ", ".join(names) if names else ""
            if said:
                what = f"{said} ({what})" if what else said
            shots.append(f"{span} {what or '(nothing recognised)'}")
        parts.append(
            f"{len(segments)} shot{'s' * (len(segments) != 1)} over {duration:.0f}s: " + "; ".join(shots) + "."
        )
    if text:
        language = f" ({row['language']})" if row.get("language") else ""
        parts.append(f"Speech{language}: “{_sentence(text, 30)}”")
    return title, " ".join(parts)


class SummarizePass(Analyzer):
    """Writes `title` and `summary` for each video from what the other passes found."""

    name: ClassVar[str] = "summarize"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.VIDEO})
    uses: ClassVar[tuple[str, ...]] = ("shots", "tags", "transcribe", "caption")
    batch_size: ClassVar[int] = 256
    columns: ClassVar[dict[str, pa.DataType]] = {"title": pa.string(), "summary": pa.string()}
    settings: ClassVar[dict[str, Setting]] = {"top_labels": Setting("int", 3, minimum=1, maximum=20)}

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        top = self.config.int("top_labels")
        outcomes: list[Outcome] = []
        for item in items:
            title, summary = summarize(item.row, top)
            outcomes.append({"title": title, "summary": summary})
        return outcomes


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [SummarizePass]
