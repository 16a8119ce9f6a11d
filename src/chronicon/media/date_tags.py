"""The XMP and IPTC dates embedded in a photo, read with pyexiv2 (Exiv2): metadata segments only, never written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronicon.errors import MediaError
from chronicon.media.exiv import exiv_image, read_iptc

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


def read_embedded_dates(path: str) -> dict[str, Any]:
    """DateTags field name -> raw text of the XMP and IPTC dates in the file at `path`.

    Empty when it has none, when Exiv2 does not know the format or gives up on damaged metadata, or when the
    path is not UTF-8 (pyexiv2 takes UTF-8 paths only): this never raises for what the file holds."""
    found: dict[str, Any] = {}
    try:
        with exiv_image(path) as image:
            if image is None:
                return {}
            found.update(_pick(image.read_xmp, XMP_KEYS))
            found.update(_pick(lambda: read_iptc(image), IPTC_KEYS))
    except MediaError:  # unknown format, damaged header, unreadable file (Pillow read it just before)
        return {}
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
