"""Built-in metadata pass: photo EXIF (Pillow), XMP and IPTC dates (Exiv2), video container facts (PyAV)."""

from __future__ import annotations

from typing import Any, ClassVar

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.catalog.schema import METADATA_FIELDS
from chronicon.hookspecs import hookimpl
from chronicon.media.photo import read_photo_metadata, register_heif
from chronicon.media.video import read_video_metadata
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "metadata"
_COLUMNS = frozenset(f.name for f in METADATA_FIELDS)


class MetadataPass(PerItemAnalyzer):
    """Reads headers only (no pixel decoding for photos, one frame for videos)."""

    name: ClassVar[str] = "metadata"
    version: ClassVar[int] = 2  # 2: the capture time from every date source, with taken_at_source/_offset
    phase: ClassVar[Phase] = Phase.METADATA
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)

    def _load(self) -> None:
        register_heif()

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        if item.kind == MediaKind.VIDEO:
            found = read_video_metadata(item.path)
        else:
            found = read_photo_metadata(item.path)
        # `format` stays the sniffed one (lower-case, same vocabulary for photos and videos).
        return {key: value for key, value in found.items() if key in _COLUMNS}


@hookimpl
def chronicon_register_analyzers() -> list[type[PerItemAnalyzer]]:
    return [MetadataPass]
