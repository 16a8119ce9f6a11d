"""Content sniffing: what a file is from its first bytes, whatever its extension says."""

from __future__ import annotations

import os
from dataclasses import dataclass

from chronicon.types import MediaKind

# Enough for every signature below, an ftyp box with a dozen compatible brands and an EBML header.
SNIFF_BYTES = 64

# Camera RAW files that are TIFF inside: the TIFF signature alone cannot tell them from a TIFF (a DNG's
# DNGVersion tag lies past the first bytes), so a TIFF head with one of these extensions is that RAW format.
_TIFF_RAW_EXTENSIONS: dict[str, str] = {
    ".dng": "dng", ".cr2": "cr2", ".nef": "nef", ".nrw": "nef", ".arw": "arw", ".srf": "arw", ".sr2": "arw",
    ".pef": "pef", ".srw": "srw", ".3fr": "3fr", ".erf": "erf", ".iiq": "iiq", ".mos": "mos", ".kdc": "kdc",
}  # fmt: skip
# Camera RAW files (LibRaw reads their pixels and embedded previews, exiv2 their metadata: media/raw.py).
RAW_EXTENSIONS: frozenset[str] = frozenset({*_TIFF_RAW_EXTENSIONS, ".cr3", ".raf", ".orf", ".rw2", ".rwl"})
# The format names sniffing gives RAW files.
RAW_FORMATS: frozenset[str] = frozenset({*_TIFF_RAW_EXTENSIONS.values(), "cr3", "raf", "orf", "rw2"})
IMAGE_EXTENSIONS: frozenset[str] = RAW_EXTENSIONS | {
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp", ".heic", ".heif", ".hif", ".avif",
    ".jxl",
}  # fmt: skip
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".3g2"})
MEDIA_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say the file is: a media kind and a short format name."""

    kind: MediaKind
    format: str


_JPEG = Sniffed(MediaKind.IMAGE, "jpeg")
_PNG = Sniffed(MediaKind.IMAGE, "png")
_GIF = Sniffed(MediaKind.IMAGE, "gif")
_BMP = Sniffed(MediaKind.IMAGE, "bmp")
_TIFF = Sniffed(MediaKind.IMAGE, "tiff")
_WEBP = Sniffed(MediaKind.IMAGE, "webp")
_HEIF = Sniffed(MediaKind.IMAGE, "heif")
_AVIF = Sniffed(MediaKind.IMAGE, "avif")
_JXL = Sniffed(MediaKind.IMAGE, "jxl")
_MP4 = Sniffed(MediaKind.VIDEO, "mp4")
_MOV = Sniffed(MediaKind.VIDEO, "mov")
_3GP = Sniffed(MediaKind.VIDEO, "3gp")
_M4V = Sniffed(MediaKind.VIDEO, "m4v")
_MKV = Sniffed(MediaKind.VIDEO, "matroska")
_WEBM = Sniffed(MediaKind.VIDEO, "webm")
_AVI = Sniffed(MediaKind.VIDEO, "avi")
_CR2 = Sniffed(MediaKind.IMAGE, "cr2")
_CR3 = Sniffed(MediaKind.IMAGE, "cr3")
_RAF = Sniffed(MediaKind.IMAGE, "raf")
_ORF = Sniffed(MediaKind.IMAGE, "orf")
_RW2 = Sniffed(MediaKind.IMAGE, "rw2")

# ISO-BMFF brands, compared with trailing spaces stripped ("qt  " -> "qt").
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
# HEIF (ISO/IEC 23008-12) image and image-sequence brands, plus the MIAF ones shared with AVIF.
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}
)
_IMAGE_BRANDS = _AVIF_BRANDS | _HEIF_BRANDS | {b"miaf", b"MiHE", b"MiHA", b"MiHB", b"MiAB"}
# The structural brands every HEIF/AVIF lists; they say "image" but not which codec.
_GENERIC_IMAGE_BRANDS = frozenset({b"mif1", b"mif2", b"msf1", b"miaf"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41", b"mp42"}
    | {b"mp71", b"avc1", b"hvc1", b"dash", b"dsms", b"msdh", b"msix", b"mmp4", b"MSNV", b"f4v", b"f4p"}
    | {b"XAVC", b"CAEP", b"isml", b"piff", b"cmfc", b"cmf2", b"mp4v", b"NDAS", b"ndas"}
)
_M4V_BRANDS = frozenset({b"M4V", b"M4VH", b"M4VP"})
# Audio-only or JPEG 2000 formats in an ISO-BMFF wrapper: never media we index, even if they list "isom".
_NON_MEDIA_BRANDS = frozenset({b"M4A", b"M4B", b"M4P", b"F4A", b"F4B", b"jp2", b"jpx", b"jpm"})

# Leading atoms of old QuickTime files that have no ftyp.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
# DIB header sizes of real BMPs (core, OS/2 v2 short/long, v3, Adobe v3 RGB/RGBA, v4, v5).
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _video_brand(brand: bytes) -> Sniffed | None:
    if brand == b"qt":
        return _MOV
    if brand.startswith((b"3gp", b"3g2")):
        return _3GP
    if brand in _M4V_BRANDS:
        return _M4V
    if brand in _MP4_BRANDS:
        return _MP4
    return None


def _image_format(brands: list[bytes]) -> Sniffed:
    """AVIF when an AV1 brand is present and no HEVC one, else HEIF."""
    if any(b in _AVIF_BRANDS for b in brands) and not any(
        b in _HEIF_BRANDS and b not in _GENERIC_IMAGE_BRANDS for b in brands
    ):
        return _AVIF
    return _HEIF


def _isobmff(head: bytes) -> Sniffed | None:
    """Classify an ISO-BMFF file by its ftyp box: the major brand decides, compatible brands break ties."""
    size = int.from_bytes(head[0:4], "big")
    if size not in (0, 1) and size < 12:
        return None
    end = len(head) if size in (0, 1) else min(len(head), size)
    if size == 1:  # 64-bit size follows the type; brands move 8 bytes on
        return None if len(head) < 20 else _brands(head, 16, end)
    return _brands(head, 8, end)


def _brands(head: bytes, start: int, end: int) -> Sniffed | None:
    major = head[start : start + 4].rstrip(b" \x00")
    compatible = [head[i : i + 4].rstrip(b" \x00") for i in range(start + 8, end - 3, 4)]
    compatible = [b for b in compatible if b]
    if not major:
        return None
    if major in _NON_MEDIA_BRANDS:
        return None
    if major == b"crx":  # Canon CR3: a RAW in an ISO-BMFF box, "crx " whatever else it lists
        return _CR3
    if major in _IMAGE_BRANDS:
        # "mif1"/"msf1" majors are image files whatever else they claim to be compatible with.
        return _image_format([major, *compatible])
    video = _video_brand(major)
    if video is not None:
        return video
    # Unknown major brand (a camera's own): go by the compatible brands, image brands first since every
    # HEIF/AVIF lists mif1/miaf and no ordinary video does.
    if any(b in _IMAGE_BRANDS for b in compatible):
        return _image_format(compatible)
    for brand in compatible:
        video = _video_brand(brand)
        if video is not None:
            return video
    return None


def _quicktime(head: bytes) -> Sniffed | None:
    """A QuickTime file from before ftyp existed: a known atom first, with a sane size."""
    size = int.from_bytes(head[0:4], "big")
    if size not in (0, 1) and size < 8:
        return None
    # After a padding atom the next one, when it is in the head, must have a printable four-letter type.
    if 8 <= size <= len(head) - 8:
        kind = head[size + 4 : size + 8]
        if not all(0x20 <= c < 0x7F for c in kind):
            return None
    return _MOV


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of an EBML header, if it lies within the head."""

    def vint(pos: int, keep_marker: bool) -> tuple[int, int] | None:
        if pos >= len(head) or head[pos] == 0:
            return None
        first = head[pos]
        length = 8 - first.bit_length() + 1
        if pos + length > len(head):
            return None
        value = first if keep_marker else first & ((1 << (8 - length)) - 1)
        for b in head[pos + 1 : pos + length]:
            value = (value << 8) | b
        return value, pos + length

    header = vint(4, keep_marker=False)
    if header is None:
        return None
    pos = header[1]
    while pos < len(head):
        element = vint(pos, keep_marker=True)
        if element is None:
            return None
        size = vint(element[1], keep_marker=False)
        if size is None:
            return None
        data_start, data_end = size[1], size[1] + size[0]
        if element[0] == 0x4282:
            return head[data_start:data_end].rstrip(b"\x00") if data_end <= len(head) else None
        pos = data_end
    return None


def _tiff(head: bytes, name: str | os.PathLike[str] | None) -> Sniffed:
    """A TIFF, or the TIFF-based RAW its signature (Canon CR2) or, failing that, its file name says it is."""
    if head.startswith(b"II*\x00") and head[8:11] == b"CR\x02":
        return _CR2
    if name is not None:
        raw = _TIFF_RAW_EXTENSIONS.get(os.path.splitext(os.fspath(name))[1].lower())
        if raw is not None:
            return Sniffed(MediaKind.IMAGE, raw)
    return _TIFF


def sniff_bytes(head: bytes, name: str | os.PathLike[str] | None = None) -> Sniffed | None:
    """Recognise a media file from its first SNIFF_BYTES bytes; None when it is not one we index.

    `name` (the file's name or path) only tells TIFF-based RAW files (DNG, NEF, ARW, PEF, ...) from TIFFs: their
    content starts like any TIFF. Every other format, the RAW ones with a signature of their own included, is
    decided by the bytes alone."""
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):  # bare codestream, ISO-BMFF container
        return _JXL
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _GIF
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return _tiff(head, name)
    # RAW files with a TIFF-like structure under a signature of their own.
    if head.startswith((b"IIRO", b"IIRS", b"MMOR")):  # Olympus / OM System ORF
        return _ORF
    if head.startswith(b"IIU\x00"):  # Panasonic RW2, Leica RWL
        return _RW2
    if head.startswith(b"FUJIFILMCCD-RAW"):  # Fujifilm RAF
        return _RAF
    if head.startswith(b"BM") and len(head) >= 18:
        # "BM" alone is too weak (text starts with it): the DIB header size must be a real one, and the
        # reserved fields zero or the pixel-data offset past the headers.
        reserved = int.from_bytes(head[6:10], "little")
        offset = int.from_bytes(head[10:14], "little")
        dib = int.from_bytes(head[14:18], "little")
        if dib in _BMP_DIB_SIZES and (reserved == 0 or offset >= 14 + dib):
            return _BMP
        return None
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return _WEBP
        if form == b"AVI ":
            return _AVI
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _isobmff(head)
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return _quicktime(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype = _ebml_doctype(head)
        if doctype is None:
            return _WEBM if b"webm" in head else _MKV
        return _WEBM if doctype == b"webm" else _MKV
    return None


def sniff_file(path: str | os.PathLike[str]) -> Sniffed | None:
    """Read a file's head and sniff it (OSError propagates)."""
    with open(path, "rb") as fh:
        return sniff_bytes(fh.read(SNIFF_BYTES), name=path)


# Common things that are not media, named in error messages so users see why a file was refused.
_KNOWN_OTHER: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"OggS", "Ogg data"),
    (b"\x7fELF", "ELF executable"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
    (b"8BPS", "Photoshop document"),
    (b"\x00\x00\x01\x00", "Windows icon"),
)


def _label(head: bytes) -> str | None:
    for magic, name in _KNOWN_OTHER:
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "WAV audio"
    if head[4:8] == b"ftyp":
        major = head[8:12].rstrip(b" \x00")
        if major in (b"M4A", b"M4B", b"M4P", b"F4A", b"F4B"):
            return "MPEG-4 audio"
        return f"ISO media, brand {major.decode('latin-1')!r}"
    return None


def _as_text(head: bytes) -> str | None:
    """The head as text if it decodes as UTF-8 (a cut-off last character allowed) and is printable."""
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        text = text.removeprefix("\ufeff")
        if all(ch.isprintable() or ch in "\t\n\r\f\v" for ch in text):
            return text
        return None
    return None


def describe_head(head: bytes) -> str:
    """A short description of unrecognised content for error messages, e.g. "text (starts 'hello')"."""
    if not head:
        return "empty"
    if not head.strip(b"\x00"):
        return f"binary (all {len(head)} bytes zero)"
    label = _label(head)
    text = _as_text(head)
    if text is not None and text.strip():
        preview = " ".join(text.split())[:32]
        return f"{label or 'text'} (starts {preview!r})"
    hexes = " ".join(f"{b:02x}" for b in head[:8])
    return f"{label or 'binary'} (starts {hexes}{' ...' if len(head) > 8 else ''})"
