"""Metadata through exiv2 (pyexiv2): the XMP packet and IPTC records of any format exiv2 reads, read-only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chronicon.errors import MediaError

# exiv2 reads these for metadata (BMFF = HEIC/AVIF/CR3, read-only); JPEG's XMP is read faster by media.xmp itself.
EXIV_FORMATS = frozenset({"jpeg", "png", "tiff", "webp", "heif", "avif", "dng", "cr2", "cr3", "nef", "arw", "raf",
                          "orf", "rw2", "pef", "srw"})  # fmt: skip
# One file at a time: each reading takes well under a millisecond, and exiv2's XMP toolkit has process-wide state
# that is not documented as safe to use from several threads at once.
EXIV_LOCK = threading.Lock()
_quiet = False


@dataclass
class ExivTags:
    """What exiv2 found: the raw XMP packet (None: none) and the IPTC records (key -> value or list of values)."""

    xmp_packet: str | None = None
    iptc: dict[str, Any] = field(default_factory=dict)


@contextmanager
def exiv_image(path: str) -> Iterator[Any | None]:
    """The file opened by pyexiv2 (read-only use; closed after), under the one exiv2 lock; None when pyexiv2 is not
    installed. pyexiv2 takes UTF-8 paths only: a file whose name is not UTF-8 is read into memory and given to
    exiv2 as bytes. Raises MediaError when exiv2 cannot open the file (an unknown type, a damaged header)."""
    global _quiet
    try:
        import pyexiv2
    except ImportError:
        yield None
        return
    with EXIV_LOCK:
        if not _quiet:
            pyexiv2.set_log_level(4)  # exiv2 would print its warnings about odd files on stderr
            _quiet = True
        try:
            try:
                image = pyexiv2.Image(path)
            except UnicodeEncodeError:
                with open(path, "rb") as fh:
                    image = pyexiv2.ImageData(fh.read())
        except Exception as exc:  # RuntimeError from exiv2, OSError, ...
            text = str(exc).replace(path, "").strip(": ") or type(exc).__name__
            raise MediaError(f"exiv2 cannot read the metadata: {text[:160]}") from exc
        try:
            yield image
        finally:
            image.close()


def read_exiv(path: str, *, xmp: bool = True, iptc: bool = True) -> ExivTags:
    """The XMP packet and IPTC records of the file at `path` (never written). Raises MediaError when exiv2 cannot
    read the file; empty tags when pyexiv2 is missing or the path is not UTF-8."""
    with exiv_image(path) as image:
        if image is None:
            return ExivTags()
        try:
            packet = image.read_raw_xmp() if xmp else None
            records = read_iptc(image) if iptc else {}
        except (RuntimeError, ValueError) as exc:
            raise MediaError(f"exiv2 cannot read the metadata: {str(exc)[:160]}") from exc
    return ExivTags(packet or None, dict(records or {}))


def read_iptc(image: Any) -> dict[str, Any]:
    """An open image's IPTC records; text that is not UTF-8 is read as Latin-1 (what old IPTC writers used)."""
    try:
        return dict(image.read_iptc())
    except UnicodeDecodeError:
        return dict(image.read_iptc(encoding="latin-1"))
