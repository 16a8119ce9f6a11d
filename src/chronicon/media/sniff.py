"""Content sniffing: what a file is from its first bytes, whatever its extension says."""

from __future__ import annotations

import string
from dataclasses import dataclass

from chronicon.types import MediaKind

SNIFF_BYTES = 64

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".webp",
        ".tif",
        ".tiff",
        ".gif",
        ".bmp",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
    }
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".3g2"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# DIB header sizes of real BMPs (core, OS/2 v2, v3, v4, v5 and the Adobe variants).
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say the file is."""

    kind: MediaKind
    format: str


def _isobmff(head: bytes) -> Sniffed | None:
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), size) if size >= 16 else len(head)
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _HEIF_BRANDS or major in _AVIF_BRANDS:
        # An image container; a "msf1"/"hevs" sequence is still a still-image format for our purposes.
        return Sniffed(MediaKind.IMAGE, "avif" if major in _AVIF_BRANDS else "heif")
    if major == b"qt  ":
        return Sniffed(MediaKind.VIDEO, "mov")
    if major.startswith(b"3g"):
        return Sniffed(MediaKind.VIDEO, "3gp")
    if major in _M4V_BRANDS:
        return Sniffed(MediaKind.VIDEO, "m4v")
    if brands & (_HEIF_BRANDS | _AVIF_BRANDS) and not brands & {b"isom", b"mp41", b"mp42", b"avc1", b"qt  "}:
        return Sniffed(MediaKind.IMAGE, "avif" if brands & _AVIF_BRANDS else "heif")
    if major.isascii() and major.strip():
        return Sniffed(MediaKind.VIDEO, "mp4")
    return None


def sniff_bytes(head: bytes) -> Sniffed | None:
    """Recognise a media file from its first SNIFF_BYTES bytes; None when it is not one we index."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(MediaKind.IMAGE, "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(MediaKind.IMAGE, "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(MediaKind.IMAGE, "gif")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed(MediaKind.IMAGE, "tiff")
    if head.startswith(b"BM") and len(head) >= 18:
        reserved = head[6:10]
        dib = int.from_bytes(head[14:18], "little")
        if reserved == b"\x00\x00\x00\x00" and dib in _BMP_DIB_SIZES:
            return Sniffed(MediaKind.IMAGE, "bmp")
    if head.startswith(b"RIFF") and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return Sniffed(MediaKind.IMAGE, "webp")
        if head[8:12] == b"AVI ":
            return Sniffed(MediaKind.VIDEO, "avi")
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _isobmff(head)
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return Sniffed(MediaKind.VIDEO, "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed(MediaKind.VIDEO, "webm" if b"webm" in head else "matroska")
    return None


def sniff_file(path: str) -> Sniffed | None:
    """Read a file's head and sniff it (OSError propagates)."""
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(SNIFF_BYTES))


_PRINTABLE = set(string.printable.encode())


def describe_head(head: bytes) -> str:
    """A short description of unrecognised content, for error messages."""
    if not head:
        return "empty"
    sample = head[:24]
    if all(b in _PRINTABLE for b in sample):
        text = sample.decode("ascii").replace("\n", " ").strip()
        return f"text (starts {text!r})"
    return "binary (starts " + " ".join(f"{b:02x}" for b in head[:8]) + ")"
