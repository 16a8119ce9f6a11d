"""Built-in pass `shots`: splits each video into shots (or uniform / per-second windows) with frames and thumbnails.

The ML passes then embed and label every segment, so a search hit inside a video carries its time.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.inputs import FRAMES_CACHE_KEY
from chronicon.config import Section, Setting
from chronicon.hookspecs import hookimpl
from chronicon.media.imaging import write_thumbnail
from chronicon.media.motion import stored_motion
from chronicon.media.shots import DETECTORS, MODES, SamplingOptions, sample_video
from chronicon.runtime.backends import RUNTIME_SETTINGS
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
        max_frames_per_segment=config.int("max_frames_per_segment"),
        frame_gap=config.float("frame_gap"),
        frame_change=config.float("frame_change"),
        frame_side=config.int("frame_side"),
        refine=config.bool("refine_cuts"),
        detector=config.str("detector"),
        transition_threshold=config.float("transition_threshold"),
        model_fps=config.float("model_fps"),
        spike_cuts=config.bool("spike_cuts"),
        max_keyframe_gap=config.float("max_keyframe_gap"),
    )


class ShotsPass(PerItemAnalyzer):
    """Finds the shots of a video and keeps a thumbnail and one or more frames per shot (by duration and change);
    also of the video inside a motion photo (the live pass found it), stored on the photo."""

    name: ClassVar[str] = "shots"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.VIDEO, MediaKind.IMAGE})
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
        "max_frames_per_segment": Setting(
            "int", 6, minimum=1, maximum=16, help="shots: frames for a long or changing shot (1: one per shot)"
        ),
        "frame_gap": Setting("float", 8.0, minimum=0.5, help="shots: at most this many seconds between two frames"),
        "frame_change": Setting(
            "float", 0.12, minimum=0.0, maximum=1.0, help="shots: grey-level change (0..1) that starts a new frame"
        ),
        "frame_side": Setting("int", 320, minimum=32, maximum=4096),
        "refine_cuts": Setting("bool", False),
        "detector": Setting(
            "str",
            "accurate",
            choices=DETECTORS,
            help="accurate: TransNetV2 on every frame (fades, dissolves, same-colour cuts); fast: keyframe histograms",
        ),
        "transition_threshold": Setting("float", 0.5, minimum=0.01, maximum=0.99),
        "model_fps": Setting(
            "float",
            30.0,
            minimum=1.0,
            maximum=240.0,
            help="accurate: frames a second TransNetV2 sees (every n-th decoded frame)",
        ),
        "max_keyframe_gap": Setting(
            "float",
            2.5,
            minimum=0.1,
            help="fast: keyframes further apart than this (median, seconds) are too sparse to find shots by, so "
            "every frame is decoded instead (5-10x realtime at 1080p); raise it to stay on keyframes (fast, coarse)",
        ),
        "spike_cuts": Setting(
            "bool",
            True,
            help="accurate: also a cut where one frame jumps out of a still neighbourhood and the picture does not "
            "come back (same-colour cuts TransNetV2 misses; flashes are not cuts)",
        ),
        **RUNTIME_SETTINGS,
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.boundaries: Any = None
        # Checked once (not per video): why the accurate detector cannot run here, when it is the one asked for.
        self._problem = self._accurate_problem() if self.config.str("detector") == "accurate" else None
        options = sampling_options(self.config)
        self._sampling = replace(options, detector="fast") if self._problem else options

    def _options(self) -> SamplingOptions:
        return self._sampling

    @staticmethod
    def _accurate_problem() -> str | None:
        from chronicon.embed.transnet import transnet_problem

        return transnet_problem()

    def runtime_models(self) -> tuple[str, ...]:
        options = self._options()
        return ("transnetv2",) if options.mode == "shots" and options.detector == "accurate" else ()

    def limitations(self) -> list[str]:
        return [f"{self._problem}; shots are found by the fast detector"] if self._problem else []

    def fingerprint(self) -> str:
        o = self._options()
        knobs: tuple[Any, ...] = (o.mode, o.count, o.fps, o.threshold, o.min_shot, o.max_shot, o.max_segments,
                                  o.frames_per_segment, o.refine)  # fmt: skip
        if o.mode == "shots" and o.detector == "accurate":  # (the fast detector's fingerprint stays what it was)
            knobs = (*knobs, "transnetv2", o.transition_threshold, o.model_fps, *(("spikes",) if o.spike_cuts else ()))
        if o.mode == "shots" and o.max_keyframe_gap != 2.5:
            knobs = (*knobs, f"gap{o.max_keyframe_gap}")
        if o.mode == "shots" and o.max_frames_per_segment > 1:  # several frames per shot (1: as before)
            knobs = (*knobs, "frames", o.max_frames_per_segment, o.frame_gap, o.frame_change)
        return f"{self.version}:" + ",".join(str(k) for k in knobs)

    def _load(self) -> None:
        options = self._options()
        if options.mode != "shots" or options.detector != "accurate":
            return
        from chronicon.embed.transnet import ShotBoundaryModel

        choice = self.runtime_choice("transnetv2")
        self.boundaries = ShotBoundaryModel(
            device=choice.device, backend=choice.backend, precision=choice.precision,
            batch_size=choice.batch_size or 1, threads=choice.threads, cache_dir=self.context.model_cache_dir,
        )  # fmt: skip

    def applies_to(self, item: AssetItem) -> bool:
        return item.kind == MediaKind.VIDEO or stored_motion(item.path, item.row) is not None

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        source = stored_motion(item.path, item.row) if item.kind == MediaKind.IMAGE else item.path
        assert source is not None  # (applies_to)
        result = sample_video(source, self._options(), self.boundaries)
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
        method = f"shots/{result.method}" if result.method in ("keyframes", "decode", "transnetv2") else result.method
        if result.partial:
            method += f"; partial: {result.partial}"
        return {"segments": json.dumps(out), "sampling": method}


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [ShotsPass]
