"""Camera RAW files (DNG, CR2/CR3, NEF, ARW, RAF, ORF, RW2, ...): EXIF through exiv2, pixels through LibRaw.

Metadata comes from exiv2 (pyexiv2: EXIF, GPS, maker notes), keyed by EXIF tag number as Pillow keys them, so
`photo.read_photo_metadata` turns it into the same columns as a JPEG's; the size and orientation come from LibRaw
(rawpy), which knows where each maker hides them. Pixels: the embedded preview (a JPEG, decoded at reduced DCT
scale, or a bitmap) when it is large enough for what the scan asks, else LibRaw's demosaic (at half size when
that is enough). Either way the result is upright 8-bit sRGB, like `photo.open_image`'s.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from chronicon.errors import MediaError
from chronicon.media.exiv import EXIV_LOCK
from chronicon.media.sniff import RAW_FORMATS, sniff_file

# A preview whose long side is at least this share of the RAW's counts as full size: cameras' full-size
# previews are often a few pixels short of the sensor's active area (6000×4000 for 6024×4020).
FULL_PREVIEW_SHARE = 0.9

# LibRaw's `flip` (dcraw's bit mask: 1 mirror, 2 upside down, 4 transposed) as an EXIF orientation.
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
# The same table as ImageOps.exif_transpose (photo.py has its own; this module stays below it).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
# exiv2's groups, as the IFDs Pillow reads them from.
_GROUPS = {"Exif.Image": "base", "Exif.Photo": "exif", "Exif.GPSInfo": "gps"}
_INTEGER_TYPES = frozenset({"Byte", "SByte", "Short", "SShort", "Long", "SLong", "Long8", "SLong8"})
_RATIONAL_TYPES = frozenset({"Rational", "SRational"})

_exiv2_lock = EXIV_LOCK  # exiv2's global state (its log handler, BMFF switch) is not thread-safe: one lock for all
_exiv2_ready = False


def raw_format(path: str | os.PathLike[str]) -> str | None:
    """The RAW format sniffing gives this file ("dng", "cr3", "nef", ...), or None when it is not a RAW file."""
    sniffed = sniff_file(path)
    return sniffed.format if sniffed is not None and sniffed.format in RAW_FORMATS else None


# -- LibRaw ----------------------------------------------------------------------------------------------
def _rawpy() -> Any:
    import rawpy

    return rawpy


def _reason(exc: BaseException) -> str:
    """LibRaw's message (rawpy passes it as bytes), short."""
    first = exc.args[0] if exc.args else ""
    text = (first.decode("utf-8", "replace") if isinstance(first, bytes) else str(exc)).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@contextmanager
def _libraw(path: str) -> Iterator[Any]:
    """The file opened by LibRaw (metadata parsed, nothing unpacked). OSErrors about the file itself propagate
    (the scan retries those); content LibRaw cannot read is a MediaError."""
    rawpy = _rawpy()
    with open(path, "rb") as fh:  # the OS's refusals (missing, no permission) as OSError, before LibRaw's own
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise MediaError("empty file")
        try:
            try:
                raw = rawpy.imread(path)
            except UnicodeEncodeError:  # a name that is not UTF-8: LibRaw reads the bytes instead
                raw = rawpy.imread(fh)
        except rawpy.LibRawFileUnsupportedError as exc:
            raise MediaError(f"not a RAW file LibRaw can read: {_reason(exc)}") from exc
        except rawpy.LibRawError as exc:
            raise MediaError(f"damaged RAW file: {_reason(exc)}") from exc
    try:
        yield raw
    except rawpy.LibRawError as exc:
        raise MediaError(f"truncated or corrupt RAW data: {_reason(exc)}") from exc
    finally:
        raw.close()


def _orientation(raw: Any) -> int:
    return _FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1)


# -- metadata --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawTags:
    """A RAW file's header: its format, stored (not rotated) size, and EXIF by tag number, IFD by IFD."""

    format: str  # "DNG", "CR3", ... (upper case, like Pillow's format names)
    size: tuple[int, int]
    base: dict[int, Any] = field(default_factory=dict)  # IFD0 (Orientation from LibRaw)
    exif: dict[int, Any] = field(default_factory=dict)  # the EXIF IFD (TIFF/EP tags of IFD0 as fallbacks)
    gps: dict[int, Any] = field(default_factory=dict)


def _exiv2() -> Any:
    global _exiv2_ready
    import pyexiv2

    if not _exiv2_ready:
        pyexiv2.set_log_level(4)  # failures come back as exceptions; maker-note warnings would flood a scan
        _exiv2_ready = True
    return pyexiv2


def _value(type_name: str, text: str) -> Any:
    """One exiv2 value as Pillow gives it: numbers as int/float (a tuple for several), text as str."""
    if type_name in _INTEGER_TYPES or type_name in _RATIONAL_TYPES:
        parts: list[Any] = []
        for token in text.split():
            numerator, _, denominator = token.partition("/")
            try:
                if type_name in _INTEGER_TYPES:
                    parts.append(int(token))
                else:
                    parts.append(int(numerator) / int(denominator) if int(denominator) else float("nan"))
            except ValueError:
                return None
        return parts[0] if len(parts) == 1 else tuple(parts)
    return text


def _exif_detail(path: str) -> dict[str, dict[str, Any]]:
    """exiv2's EXIF of the file ({} when it cannot read it: LibRaw's values stand in)."""
    with _exiv2_lock:
        pyexiv2 = _exiv2()
        try:
            try:
                image = pyexiv2.Image(path)
            except UnicodeEncodeError:  # a name that is not UTF-8: exiv2 reads the bytes instead
                with open(path, "rb") as fh:
                    image = pyexiv2.ImageData(fh.read())
            try:
                try:
                    detail: dict[str, dict[str, Any]] = image.read_exif_detail()
                except UnicodeDecodeError:
                    detail = image.read_exif_detail(encoding="latin-1")
            finally:
                image.close()
        except OSError:
            raise
        except Exception:  # exiv2 does not know this maker's layout, or the EXIF is damaged
            return {}
    return detail


def read_raw_tags(path: str) -> RawTags:
    """Size, orientation and EXIF of a RAW file, without unpacking its pixels (MediaError when LibRaw refuses it)."""
    with _libraw(path) as raw:
        sizes = raw.sizes
        size = (int(sizes.width), int(sizes.height))
        orientation = _orientation(raw)  # (not `raw.other` or `raw.lens`: rawpy unpacks the whole RAW for those)
    fmt = (raw_format(path) or "raw").upper()
    ifds: dict[str, dict[int, Any]] = {"base": {}, "exif": {}, "gps": {}}
    for key, entry in _exif_detail(path).items():
        group = _GROUPS.get(key.rpartition(".")[0])
        number = entry.get("tagNumber")
        if group is None or not isinstance(number, int):
            continue
        value = _value(str(entry.get("typeName", "")), str(entry.get("value", "")))
        if value is not None:
            ifds[group][number] = value
    base, exif, gps = ifds["base"], ifds["exif"], ifds["gps"]
    # TIFF/EP (and many DNGs) write DateTimeOriginal, FNumber, ... in IFD0: the EXIF IFD's win where both do.
    exif = {**base, **exif}
    base[_ORIENTATION_TAG] = orientation
    return RawTags(format=fmt, size=size, base=base, exif=exif, gps=gps)


# -- pixels ----------------------------------------------------------------------------------------------
@dataclass
class RawPicture:
    """A decoded RAW: upright RGB, and whether it is the embedded preview or LibRaw's demosaic."""

    image: Image.Image
    source: Literal["preview", "demosaic"]


def _preview(raw: Any, side: int | None, full: tuple[int, int], max_pixels: int) -> Image.Image | None:
    """The embedded preview when it is large enough: `side` on its shorter side, or (no `side`: the full picture
    is wanted) about the RAW's own size. None when there is none, it is smaller, or it cannot be decoded."""
    rawpy = _rawpy()
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:  # a damaged preview: the RAW data itself may still be fine
        return None
    image: Image.Image
    if thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            image = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
        except Exception:
            return None
    elif thumb.format == rawpy.ThumbFormat.BITMAP:
        image = Image.fromarray(thumb.data)
    else:
        return None
    width, height = image.size
    full_size = max(width, height) >= FULL_PREVIEW_SHARE * max(full)
    if width * height > max_pixels or not (full_size or (side is not None and min(width, height) >= side)):
        return None
    try:
        if side and image.format == "JPEG":
            image.draft("RGB", (side, side))  # DCT scaling: a 24 MP preview decodes at 1/2, 1/4 or 1/8 size
        image.load()
    except Exception:  # a truncated preview: LibRaw's demosaic may still read the RAW data
        return None
    return image if image.mode == "RGB" else image.convert("RGB")


def decode_raw(path: str, *, max_pixels: int, draft_size: int | None = None) -> RawPicture:
    """A RAW file's picture as upright 8-bit sRGB, at least `draft_size` on its shorter side when the RAW allows
    (None: full size). The embedded preview when it is large enough (fast), else LibRaw's demosaic with the
    camera's white balance (at half size when that still meets `draft_size`). Refuses, before decoding, a RAW
    whose sensor image has more than `max_pixels` pixels."""
    rawpy = _rawpy()
    with _libraw(path) as raw:
        width, height = int(raw.sizes.width), int(raw.sizes.height)
        if width * height > max_pixels:
            raise MediaError(
                f"RAW image declares {width}×{height} ({width * height / 1e6:.1f} MP), above the limit of "
                f"{max_pixels / 1e6:.1f} MP (scan.max_image_pixels)"
            )
        if width <= 0 or height <= 0:
            raise MediaError("RAW file declares no image size")
        preview = _preview(raw, draft_size, (width, height), max_pixels)
        if preview is not None:
            orientation = _orientation(raw)
            upright = preview.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else preview
            return RawPicture(upright, "preview")
        half = bool(draft_size) and min(width, height) // 2 >= (draft_size or 0)
        try:
            pixels = raw.postprocess(
                half_size=half,
                use_camera_wb=True,
                output_bps=8,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),  # the sRGB curve (LibRaw's default is BT.709's)
            )
        except MemoryError:
            raise
        except (rawpy.LibRawError, ValueError, RuntimeError) as exc:
            raise MediaError(f"truncated or corrupt RAW data: {_reason(exc)}") from exc
        # LibRaw applied the orientation itself (its `flip`).
        return RawPicture(Image.fromarray(pixels), "demosaic")
