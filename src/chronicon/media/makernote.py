"""Apple's MakerNote (iPhones): one text tag of its IFD, e.g. the BurstUUID (0x000B) or the Live Photo
ContentIdentifier (0x0011). exiv2 does not decode these tags, so the bytes Pillow hands over are walked here."""

from __future__ import annotations

import struct

APPLE_HEADER = b"Apple iOS\x00"  # then 2 bytes of version and the byte order; offsets count from the note's start
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_MAX_ENTRIES = 512
_MAX_TEXT = 4096


def apple_text_tag(note: bytes, tag: int) -> str | None:
    """The text of `tag` in an Apple MakerNote ("Apple iOS\\0", version, "MM" or "II", then a TIFF IFD whose
    offsets count from the note's first byte), up to its first NUL; None when the note is not Apple's, lacks the
    tag, holds it as something other than ASCII/UNDEFINED bytes, or is malformed."""
    if not note.startswith(APPLE_HEADER) or len(note) < 16:
        return None
    order = note[12:14]
    if order not in (b"MM", b"II"):
        return None
    end = ">" if order == b"MM" else "<"
    (count,) = struct.unpack_from(end + "H", note, 14)
    for index in range(min(count, _MAX_ENTRIES)):
        at = 16 + index * 12
        if at + 12 > len(note):
            return None
        found, kind, number, where = struct.unpack_from(end + "HHII", note, at)
        if found != tag:
            continue
        if kind not in (2, 7) or not 0 < number <= _MAX_TEXT:  # ASCII or UNDEFINED bytes
            return None
        start = at + 8 if number * _TYPE_SIZES[kind] <= 4 else where
        if start + number > len(note):
            return None
        text = note[start : start + number].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
        return text or None
    return None
