"""The XMP and IPTC dates embedded in a photo, read with pyexiv2 (Exiv2): metadata segments only, never written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# DateTags field -> Exiv2 key.
XMP_KEYS = {
    "xmp_original": "Xmp.exif.DateTimeOriginal",
    "xmp_date_created": "Xmp.photoshop.DateCreated",
    "xmp_create": "Xmp.xmp.CreateDate",
}
IPTC_KEYS = {
    "iptc_date": "Iptc.Application2.DateCreated",
    "iptc_time": "Iptc.Application2.TimeCreated",
}

# One file at a time: each reading takes well under a millisecond, and Exiv2's XMP toolkit has process-wide
# state that is not documented as safe to use from several threads at once.
_lock = threading.Lock()
_quiet = False


def read_embedded_dates(path: str) -> dict[str, Any]:
    """DateTags field name -> raw text of the XMP and IPTC dates in the file at `path`.

    Empty when it has none, when Exiv2 does not know the format or gives up on damaged metadata, or when the
    path is not UTF-8 (pyexiv2 takes UTF-8 paths only): this never raises for what the file holds."""
    global _quiet
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return {}
    try:
        import pyexiv2
    except ImportError:
        return {}
    found: dict[str, Any] = {}
    with _lock:
        if not _quiet:
            pyexiv2.set_log_level(4)  # Exiv2 would print its warnings about odd files to stderr
            _quiet = True
        try:
            image = pyexiv2.Image(path)
        except Exception:  # unknown format, damaged header, unreadable file (Pillow read it just before)
            return {}
        try:
            found.update(_pick(image.read_xmp, XMP_KEYS))
            found.update(_pick(image.read_iptc, IPTC_KEYS))
        finally:
            image.close()
    return found


def _pick(read: Callable[..., dict[str, Any]], keys: dict[str, str]) -> dict[str, str]:
    """The wanted keys that hold text; a block that Exiv2 cannot decode gives nothing."""
    try:
        try:
            values = read()
        except UnicodeDecodeError:  # some other tag holds bytes that are not UTF-8
            values = read(encoding="latin-1")
    except Exception:
        return {}
    out: dict[str, str] = {}
    for field, key in keys.items():
        value = values.get(key)
        if isinstance(value, list) and value:  # a repeated IPTC dataset: the first one
            value = value[0]
        if isinstance(value, str) and value.strip():
            out[field] = value
    return out
