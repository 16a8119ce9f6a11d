"""The `duplicates` pass: each video's frame signature (a pHash every `video_step` seconds), for `chronicon
duplicates` to match re-encodes, resized and trimmed copies by their whole timeline instead of one poster frame."""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from chronicon.api import AssetItem, MediaKind, PerItemAnalyzer, Phase, Setting

from .frames import read_signature, to_hex
from .videos import COLUMNS


class VideoSignaturePass(PerItemAnalyzer):
    """Samples a 64-bit perceptual hash of one frame per step of a fixed time grid (keyframes where they fall
    near it: about one decoded frame per sample on phone videos)."""

    name: ClassVar[str] = "duplicates"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.VIDEO})
    columns: ClassVar[dict[str, pa.DataType]] = {
        COLUMNS["hashes"]: pa.list_(pa.string()),  # 16 hex digits per sampled frame; "" for a flat frame
        COLUMNS["times"]: pa.list_(pa.float64()),  # seconds from the first frame, one per hash
        COLUMNS["step"]: pa.float64(),  # the grid step used (video_step, doubled for long videos)
    }
    settings: ClassVar[dict[str, Setting]] = {
        "video_step": Setting(
            "float", 1.0, minimum=0.1, maximum=60.0, help="seconds between the sampled frames of a video"
        ),
        "video_max_frames": Setting(
            "int", 300, minimum=4, maximum=10_000, help="most frames sampled per video (longer ones double the step)"
        ),
        "video_snap": Setting(
            "float",
            0.5,
            minimum=0.0,
            maximum=0.5,
            help="a keyframe this close to a sample time (a fraction of the step) is taken instead of decoding to it",
        ),
    }

    def fingerprint(self) -> str:
        keys = ("video_step", "video_max_frames", "video_snap")
        return f"{self.version}:" + ",".join(f"{self.config[k]:g}" for k in keys)

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        duration = item.row.get("duration")
        signature = read_signature(
            item.path,
            step=self.config.float("video_step"),
            max_frames=self.config.int("video_max_frames"),
            snap=self.config.float("video_snap"),
            duration=float(duration) if duration else None,
        )
        return {
            COLUMNS["hashes"]: [to_hex(h) for h in signature.hashes],
            COLUMNS["times"]: signature.times,
            COLUMNS["step"]: signature.step,
        }
