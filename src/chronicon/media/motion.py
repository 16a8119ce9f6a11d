"""Live Photos and motion photos: Apple content identifiers of stills and MOVs, and the video a motion photo embeds."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import av
from av.container import InputContainer
from PIL import Image

from chronicon.media.makernote import apple_text_tag
from chronicon.media.photo import register_heif
from chronicon.media.video import EmbeddedVideo, _opened, read_video_metadata
from chronicon.media.xmp import _DOCTYPE, MAX_PACKET_BYTES, jpeg_xmp

# The key iPhones write in a Live Photo's MOV (a QuickTime "mdta" metadata item); PyAV lists it as is.
MOV_CONTENT_ID_KEY = "com.apple.quicktime.content.identifier"
_MAKER_NOTE = 0x927C  # Exif.Photo.MakerNote
_APPLE_CONTENT_ID = 0x0011  # the Apple MakerNote's ContentIdentifier (ASCII, a UUID), the MOV's key's twin

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_CAMERA = "{http://ns.google.com/photos/1.0/camera/}"  # GCamera: (MicroVideo, old) and Camera: (MotionPhoto)
_CONTAINER = "{http://ns.google.com/photos/1.0/container/}"
_ITEM = "{http://ns.google.com/photos/1.0/container/item/}"
_VIDEO_BRANDS_AT = 4  # an MP4/MOV starts with a box whose type, 4 bytes in, is `ftyp`


def apple_makernote_content_id(note: bytes) -> str | None:
    """The ContentIdentifier (tag 0x0011, a UUID) of an Apple MakerNote; None when it is not Apple's or has none."""
    return apple_text_tag(note, _APPLE_CONTENT_ID)


def still_content_id(path: str) -> str | None:
    """The Live Photo content identifier of a HEIC or JPEG (its Apple MakerNote), reading the headers only."""
    register_heif()
    try:
        with Image.open(path) as img:
            note = img.getexif().get_ifd(0x8769).get(_MAKER_NOTE)
    except MemoryError:
        raise
    except Exception:  # no EXIF, damaged EXIF, not an image Pillow opens: no identifier
        return None
    return apple_makernote_content_id(note) if isinstance(note, bytes) else None


def mov_content_id(metadata: dict[str, Any]) -> str | None:
    """The content identifier among a QuickTime container's metadata (PyAV's `container.metadata`)."""
    value = metadata.get(MOV_CONTENT_ID_KEY)
    return value.strip() or None if isinstance(value, str) else None


def video_content_id(path: str) -> str | None:
    """The content identifier of a MOV (None when it has none or cannot be opened)."""
    try:
        with av.open(path, mode="r", metadata_errors="replace") as container:
            return mov_content_id(dict(container.metadata))
    except (av.FFmpegError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class MotionPart:
    """Where a motion photo's video lies inside the file (bytes), and which XMP flavour announced it."""

    offset: int
    length: int
    flavour: str  # "MotionPhoto" (Camera:, with a Container:Directory) or "MicroVideo" (GCamera:, older phones)


@dataclass(frozen=True)
class MotionClaim:
    """What a photo's XMP says about an embedded video: the part when it checks out, else the problem."""

    part: MotionPart | None = None
    problem: str | None = None


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _claimed(packet: bytes) -> tuple[str, int] | None:
    """(flavour, video length counted from the end of the file) from the XMP, or None when it claims no video."""
    if _DOCTYPE.search(packet):  # DOCTYPE or entities: refused, as the xmp pass refuses them
        return None
    try:
        root = ET.fromstring(packet.strip(b"\x00 \r\n\t"))
    except ET.ParseError:
        return None
    for desc in root.iter(f"{_RDF}Description"):
        if desc.get(f"{_CAMERA}MotionPhoto") == "1":
            for item in desc.iter(f"{_CONTAINER}Item"):
                if item.get(f"{_ITEM}Semantic") == "MotionPhoto":
                    length = _int(item.get(f"{_ITEM}Length")) or 0
                    padding = _int(item.get(f"{_ITEM}Padding")) or 0
                    return "MotionPhoto", length + padding
            return "MotionPhoto", 0
        if desc.get(f"{_CAMERA}MicroVideo") == "1":
            return "MicroVideo", _int(desc.get(f"{_CAMERA}MicroVideoOffset")) or 0
    return None


def find_motion_part(path: str) -> MotionClaim:
    """The video a Google/Android motion photo (JPEG) embeds after the image, as its XMP announces it, checked by
    finding an `ftyp` box where it should start. A photo that claims none gives an empty claim."""
    try:
        packet = jpeg_xmp(path)
    except OSError as exc:
        return MotionClaim(problem=f"could not read the XMP: {exc.strerror or exc}")
    if packet is None or len(packet) > MAX_PACKET_BYTES:
        return MotionClaim()
    claim = _claimed(packet)
    if claim is None:
        return MotionClaim()
    flavour, length = claim
    size = os.path.getsize(path)
    if length <= 0 or length >= size:
        return MotionClaim(problem=f"{flavour} XMP gives no usable video length ({length} bytes in a {size}-byte file)")
    offset = size - length
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
    if head[_VIDEO_BRANDS_AT : _VIDEO_BRANDS_AT + 4] != b"ftyp":
        return MotionClaim(problem=f"{flavour} XMP says the video starts at byte {offset}, but no MP4 starts there")
    return MotionClaim(part=MotionPart(offset, length, flavour))


def motion_source(path: str, part: MotionPart) -> EmbeddedVideo:
    """The embedded video as a source the video readers open (metadata, shots, audio), straight from the photo."""
    return EmbeddedVideo(path, part.offset, part.length)


@contextmanager
def open_motion_part(path: str, part: MotionPart) -> Iterator[InputContainer]:
    """The embedded video opened with PyAV inside the photo (read-only; nothing is written next to it)."""
    with _opened(motion_source(path, part)) as container:
        yield container


def describe_motion_part(path: str, part: MotionPart) -> dict[str, Any]:
    """The embedded video's facts as the metadata pass reads a video's (duration, size, codecs, sound, ...)."""
    return read_video_metadata(motion_source(path, part))


def stored_motion(path: str, row: dict[str, Any]) -> EmbeddedVideo | None:
    """The embedded video of a motion photo as the live pass stored it in the photo's row (its byte range), so
    video passes can read it in place; None for any other asset."""
    offset, length = row.get("live_motion_offset"), row.get("live_motion_length")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
        return None
    return EmbeddedVideo(path, offset, length)
