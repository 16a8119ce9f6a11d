"""Burst facts a photo records: the burst id (Apple MakerNote BurstUUID, XMP GCamera:BurstID) and sub-second time."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from chronicon.media.makernote import apple_text_tag
from chronicon.media.xmp import MAX_PACKET_BYTES, jpeg_xmp

APPLE_BURST_UUID = 0x000B  # the MakerNote tag every frame of an iPhone burst shares
GCAMERA_NS = "http://ns.google.com/photos/1.0/camera/"  # Google Camera's XMP namespace (GCamera:BurstID)
_EXIF_IFD, _MAKERNOTE, _DATETIME_ORIGINAL, _SUBSEC_ORIGINAL = 0x8769, 0x927C, 0x9003, 0x9291
_EXIF_DATE = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_MAX_ID = 128  # characters of a burst id kept at most


@dataclass(frozen=True)
class BurstFacts:
    """What one photo says about a burst: the id it records and where from (None: none), and its capture time as
    seconds on the camera's clock (DateTimeOriginal, plus SubSecTimeOriginal when `subsec`)."""

    burst_id: str | None = None
    source: str | None = None
    time: float | None = None
    subsec: bool = False


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.split(b"\x00", 1)[0].decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 \t\r\n")
    return text[:_MAX_ID] or None


def apple_burst_uuid(note: bytes) -> str | None:
    """Tag 0x000B (BurstUUID) of an Apple MakerNote; None when it is absent or the bytes are malformed."""
    found = apple_text_tag(note, APPLE_BURST_UUID)
    return _text(found)


def gcamera_burst_id(packet: bytes) -> str | None:
    """`GCamera:BurstID` of an XMP packet, as an attribute or an element of any rdf:Description."""
    if len(packet) > MAX_PACKET_BYTES or b"BurstID" not in packet or b"<!" in packet.replace(b"<![CDATA[", b""):
        return None
    try:
        root = ET.fromstring(packet.strip(b"\x00 \t\r\n"))
    except ET.ParseError:
        return None
    name = f"{{{GCAMERA_NS}}}BurstID"
    for element in root.iter():
        found = _text(element.get(name)) or (_text(element.text) if element.tag == name else None)
        if found:
            return found
    return None


def _capture_time(exif_ifd: dict[int, Any]) -> tuple[float | None, bool]:
    text = _text(exif_ifd.get(_DATETIME_ORIGINAL))
    match = _EXIF_DATE.match(text) if text else None
    if not match:
        return None, False
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)  # the camera's clock: gaps matter
    except ValueError:
        return None, False
    sub = exif_ifd.get(_SUBSEC_ORIGINAL)
    digits = str(sub) if isinstance(sub, int) and not isinstance(sub, bool) else (_text(sub) or "")
    if not digits.isdigit():
        return moment.timestamp(), False
    return moment.timestamp() + int(digits[:6]) / 10 ** len(digits[:6]), True


def read_burst_facts(path: str) -> BurstFacts:
    """The burst id and capture time of a photo, from its headers (pixels are not decoded); empty facts when the
    file says nothing or says it in a malformed way (never an error for bad metadata)."""
    burst_id = source = None
    time: float | None = None
    subsec = False
    try:
        with Image.open(path) as img:
            exif_ifd = dict(img.getexif().get_ifd(_EXIF_IFD))
    except Exception:  # an unreadable header: no facts; the metadata pass reports the file
        exif_ifd = {}
    time, subsec = _capture_time(exif_ifd)
    note = exif_ifd.get(_MAKERNOTE)
    if isinstance(note, bytes):
        try:
            burst_id = apple_burst_uuid(note)
        except struct.error:
            burst_id = None
        source = "apple" if burst_id else None
    if burst_id is None:
        try:
            packet = jpeg_xmp(path)
        except OSError:
            packet = None
        burst_id = gcamera_burst_id(packet) if packet else None
        source = "gcamera" if burst_id else None
    return BurstFacts(burst_id, source, time, subsec)
