"""Built-in content pass: perceptual hash, dominant colours, sharpness, brightness, WebP thumbnail or poster."""

from __future__ import annotations

from typing import Any, ClassVar

from PIL import Image

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.inputs import picture
from chronicon.config import Setting
from chronicon.hookspecs import hookimpl
from chronicon.media.imaging import (
    analysis_image,
    brightness,
    dominant_colors,
    perceptual_hash,
    sharpness,
    write_thumbnail,
)
from chronicon.media.photo import register_heif
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "content"
ANALYSIS_SIDE = 512  # metrics are computed on a copy this size, so they compare across resolutions


class ContentPass(PerItemAnalyzer):
    """Decodes each photo once (JPEG at reduced scale) and each video's poster frame once."""

    name: ClassVar[str] = "content"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    settings: ClassVar[dict[str, Setting]] = {
        "thumbnail_size": Setting("int", 320, minimum=32, maximum=4096),
        "thumbnail_quality": Setting("int", 80, minimum=1, maximum=100),
        "colors": Setting("int", 5, minimum=1, maximum=32),
        "poster_at": Setting("float", 0.1, minimum=0.0, maximum=1.0),
    }

    def _load(self) -> None:
        register_heif()

    def picture_side(self, item: AssetItem) -> int:
        return max(ANALYSIS_SIDE, self.config.int("thumbnail_size"))

    def decoded(self, item: AssetItem) -> Image.Image:
        """The photo, or the video's poster frame, decoded once per scan (at the largest size any due pass
        needs) and shared with the other passes through the item cache."""
        limit = self.context.scan_section.int("max_image_pixels")
        return picture(item, self.picture_side(item), max_pixels=limit, poster_at=self.config.float("poster_at"))

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        image = self.decoded(item)
        small = analysis_image(image, ANALYSIS_SIDE)
        colors = dominant_colors(small, self.config.int("colors"))
        relative = f"thumbnails/{item.id[:2]}/{item.id}.webp"
        size = self.config.int("thumbnail_size")
        write_thumbnail(
            small if size <= ANALYSIS_SIDE else image,
            self.context.catalog_dir / relative,
            size=size,
            quality=self.config.int("thumbnail_quality"),
        )
        return {
            "phash": perceptual_hash(small),
            "colors": [hex_ for hex_, _ in colors],
            "color_shares": [round(share, 4) for _, share in colors],
            "sharpness": float(sharpness(small)),
            "brightness": float(brightness(small)),
            "thumbnail": relative,
        }


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [ContentPass]
