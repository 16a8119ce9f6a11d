"""The duplicates plugin: `chronicon duplicates` lists near-duplicate groups from pHash and embeddings."""

from __future__ import annotations

import click

from chronicon.api import Setting, hookimpl

PLUGIN_NAME = "duplicates"
__version__ = "0.2.0"


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
        "duplicates.rank_by": Setting(
            "list",
            ["resolution", "sharpness", "aesthetic", "size"],
            help="order that picks the best member: resolution, sharpness, aesthetic, size",
        ),
    }


@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    from .commands import duplicates

    cli.add_command(duplicates)
