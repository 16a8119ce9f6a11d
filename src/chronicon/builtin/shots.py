"""Built-in pass `shots`: splits each video into shots (or uniform / per-second windows) with frames and thumbnails.

The ML passes then embed and label every segment, so a search hit inside a video carries its time.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.inputs import FRAMES_CACHE_KEY
from chronicon.config import Section, Setting
from chronicon.hookspecs import hookimpl
from chronicon.media.imaging import write_thumbnail
from chronicon.media.shots import MODES, SamplingOptions, sample_video
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "shots"


def sampling_options(config: Section) -> SamplingOptions:
    return SamplingOptions(
        mode=config.str("mode"),
        count=config.int("count"),
        fps=config.float("fps"),
        threshold=config.float("threshold"),
        min_shot=config.float("min_shot"),
        max_shot=config.float("max_shot"),
        max_segments=config.int("max_segments"),
        frames_per_segment=config.int("frames_per_segment"),
        frame_side=config.int("frame_side"),
        refine=config.bool("refine_cuts"),
    )


class ShotsPass(PerItemAnalyzer):
    """Finds the shots of a video (cut detection on keyframes) and keeps a frame and a thumbnail per shot."""

    name: ClassVar[str] = "shots"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.VIDEO})
    columns: ClassVar[dict[str, pa.DataType]] = {
        # JSON [{"index", "t_start", "t_end", "frame_times", "thumbnail"}], in time order; index 1..n
        "segments": pa.string(),
        "sampling": pa.string(),  # how: "shots/keyframes", "shots/decode", "uniform", "fps" (+ "partial: ...")
    }
    settings: ClassVar[dict[str, Setting]] = {
        "mode": Setting("str", "shots", choices=MODES),
        "count": Setting("int", 8, minimum=1, maximum=10_000),
        "fps": Setting("float", 1.0, minimum=0.001, maximum=120.0),
        "threshold": Setting("float", 0.45, minimum=0.01, maximum=1.0),
        "min_shot": Setting("float", 1.0, minimum=0.0),
        "max_shot": Setting("float", 30.0, minimum=0.1),
        "max_segments": Setting("int", 64, minimum=1, maximum=10_000),
        "frames_per_segment": Setting("int", 1, minimum=1, maximum=16),
        "frame_side": Setting("int", 320, minimum=32, maximum=4096),
        "refine_cuts": Setting("bool", False),
    }

    def fingerprint(self) -> str:
        o = sampling_options(self.config)
        knobs = (o.mode, o.count, o.fps, o.threshold, o.min_shot, o.max_shot, o.max_segments, o.frames_per_segment,
                 o.refine)  # fmt: skip
        return f"{self.version}:" + ",".join(str(k) for k in knobs)

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        result = sample_video(item.path, sampling_options(self.config))
        frames: dict[int, list[Any]] = {}
        out: list[dict[str, Any]] = []
        for segment in result.segments:
            thumb = f"thumbnails/{item.id[:2]}/{item.id}-s{segment.index}.webp"
            if segment.frames:
                write_thumbnail(segment.frames[0], self.context.catalog_dir / thumb, size=256, quality=75)
            frames[segment.index] = segment.frames
            out.append(
                {
                    "index": segment.index,
                    "t_start": round(segment.t_start, 3),
                    "t_end": round(segment.t_end, 3),
                    "frame_times": [round(t, 3) for t in segment.frame_times],
                    "thumbnail": thumb if segment.frames else None,
                }
            )
        item.cache[FRAMES_CACHE_KEY] = frames
        method = f"shots/{result.method}" if result.method in ("keyframes", "decode") else result.method
        if result.partial:
            method += f"; partial: {result.partial}"
        return {"segments": json.dumps(out), "sampling": method}


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [ShotsPass]
