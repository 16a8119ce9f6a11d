"""The duplicates plugin: `chronicon duplicates` lists near-duplicate groups from pHash and embeddings, and for
videos from a frame signature its `duplicates` pass stores (a pHash every second, matched over the timeline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from chronicon.api import Setting, hookimpl

if TYPE_CHECKING:
    from chronicon.api import Analyzer

PLUGIN_NAME = "duplicates"
__version__ = "0.3.0"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    from .analyzer import VideoSignaturePass

    return [VideoSignaturePass]


@hookimpl
def chronicon_register_settings() -> dict[str, Setting]:
    return {
        "duplicates.phash_distance": Setting(
            "int", 8, minimum=0, maximum=32, help="most differing bits of the 64-bit pHash for a candidate pair"
        ),
        "duplicates.min_cosine": Setting(
            "float", 0.9, minimum=-1.0, maximum=1.0, help="CLIP-space cosine that confirms a pHash pair"
        ),
        "duplicates.max_color_distance": Setting(
            "float",
            40.0,
            minimum=0.0,
            help="most RGB distance between the dominant colours of a pHash pair (the pHash sees only luminance)",
        ),
        "duplicates.cosine_alone": Setting(
            "float",
            0.97,
            minimum=-1.0,
            maximum=1.01,
            help="in a CLIP space, a cosine this high pairs assets without a pHash match (above 1: never)",
        ),
        "duplicates.cosine_neighbors": Setting(
            "int", 10, minimum=1, maximum=1000, help="nearest neighbours looked at per asset for cosine-only pairs"
        ),
        "duplicates.cosine_probes": Setting(
            "int",
            3,
            minimum=1,
            maximum=64,
            help="over 20k vectors: k-means lists of the vector index searched per asset for cosine-only pairs "
            "(more: higher recall, slower)",
        ),
        "duplicates.video_frame_distance": Setting(
            "int", 12, minimum=0, maximum=32, help="most differing bits for two sampled video frames to match"
        ),
        "duplicates.video_min_coverage": Setting(
            "float",
            0.8,
            minimum=0.0,
            maximum=1.0,
            help="share of the shorter video's sampled frames that must match the other at the best time offset",
        ),
        "duplicates.video_max_trim": Setting(
            "float", 5.0, minimum=0.0, help="seconds two videos' durations may differ by (a trimmed copy)"
        ),
        "duplicates.video_max_trim_ratio": Setting(
            "float",
            0.2,
            minimum=0.0,
            maximum=1.0,
            help="share of the longer video's duration they may differ by, when that allows more than video_max_trim",
        ),
        "duplicates.rank_by": Setting(
            "list",
            ["resolution", "duration", "sharpness", "aesthetic", "size"],
            help="order that picks the best member: resolution, duration (videos), sharpness, aesthetic, size",
        ),
    }


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    from .commands import duplicates

    cli.add_command(duplicates)
