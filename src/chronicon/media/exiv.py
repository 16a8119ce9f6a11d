"""Metadata through exiv2 (pyexiv2): the XMP packet and IPTC records of any format exiv2 reads, read-only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from chronicon.errors import MediaError

# exiv2 reads these for metadata (BMFF = HEIC/AVIF/CR3, read-only); JPEG's XMP is read faster by media.xmp itself.
EXIV_FORMATS = frozenset({"jpeg", "png", "tiff", "webp", "heif", "avif", "dng", "cr2", "cr3", "nef", "arw", "raf",
                          "orf", "rw2", "pef", "srw"})  # fmt: skip
_lock = threading.Lock()  # pyexiv2 keeps process-wide state (its log level, the XMP parser): one reader at a time


@dataclass
class ExivTags:
    """What exiv2 found: the raw XMP packet (None: none) and the IPTC records (key -> value or list of values)."""

    xmp_packet: str | None = None
    iptc: dict[str, Any] = field(default_factory=dict)


def read_exiv(path: str, *, xmp: bool = True, iptc: bool = True) -> ExivTags:
    """The XMP packet and IPTC records of the file at `path` (never written). Raises MediaError when exiv2 cannot
    read the file (unknown type, damaged); returns empty tags when pyexiv2 is not installed."""
    try:
        import pyexiv2
    except ImportError:
        return ExivTags()
    with _lock:
        try:
            pyexiv2.set_log_level(4)  # mute exiv2's own warnings on stderr; errors still raise
            with pyexiv2.Image(path) as image:
                packet = image.read_raw_xmp() if xmp else None
                records = image.read_iptc() if iptc else {}
        except (RuntimeError, OSError, UnicodeDecodeError, ValueError) as exc:
            text = str(exc).replace(path, "").strip(": ") or type(exc).__name__
            raise MediaError(f"exiv2 cannot read the metadata: {text[:160]}") from exc
    return ExivTags(packet or None, dict(records or {}))
