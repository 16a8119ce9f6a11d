"""Photos: EXIF metadata without decoding pixels, and guarded full decoding for the content pass."""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from chronicon.errors import MediaError

_heif_lock = threading.Lock()
# Chronicon's own limit replaces Pillow's (see register_heif); the lock keeps registration single.
_heif_registered = False


def register_heif() -> None:
    """Set Pillow up for scanning; safe to call many times.

    Registers HEIC/HEIF (pillow-heif, when installed) and turns off Pillow's own pixel limit, which would
    refuse even to read the header of a big image: `open_image` applies `scan.max_image_pixels` itself,
    before decoding, and metadata reading never decodes pixels.
    """
    global _heif_registered
    with _heif_lock:
        if _heif_registered:
            return
        Image.MAX_IMAGE_PIXELS = None
        try:
            import pillow_heif
        except ImportError:
            return
        pillow_heif.register_heif_opener()
        _heif_registered = True


_DECODE_ERRORS = (
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    IndexError,
    TypeError,
    Image.DecompressionBombError,
)


_ACCESS_ERRORS = (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _open(path: str) -> Image.Image:
    if os.path.getsize(path) == 0:
        raise MediaError("empty file")
    try:
        return Image.open(path)
    except UnidentifiedImageError as exc:
        raise MediaError("not a readable image: Pillow cannot identify its format") from exc
    except OSError as exc:
        if isinstance(exc, _ACCESS_ERRORS):
            raise
        raise MediaError(f"not a readable image: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise MediaError(f"not a readable image: {exc}") from exc


# -- EXIF ------------------------------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    try:
        if isinstance(value, tuple) and len(value) == 2:
            return float(value[0]) / float(value[1]) if float(value[1]) else None
        result = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return result if result == result and abs(result) != float("inf") else None  # no NaN / inf


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def _int(value: Any) -> int | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    number = _num(value)
    return int(number) if number is not None else None


_EXIF_DATE = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def _exif_datetime(value: Any, subsec: Any = None, offset: Any = None) -> str | None:
    text = _text(value)
    if not text:
        return None
    match = _EXIF_DATE.match(text)
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
        return None
    out = moment.isoformat()
    sub = _text(subsec)
    if sub and sub.isdigit():
        out += "." + sub
    off = _text(offset)
    if off and _OFFSET.match(off):
        sign, hours, minutes = _OFFSET.match(off).groups()  # type: ignore[union-attr]
        out += f"{sign}{hours}:{minutes}"
    return out


def _gps_coord(value: Any, ref: Any) -> float | None:
    try:
        degrees, minutes, seconds = (_num(v) for v in value)
    except (TypeError, ValueError):
        return None
    if degrees is None or minutes is None or seconds is None:
        return None
    coord = degrees + minutes / 60 + seconds / 3600
    if _text(ref) in ("S", "W"):
        coord = -coord
    return round(coord, 7)


def read_photo_metadata(path: str) -> dict[str, Any]:
    """Format, oriented size, date, camera, exposure and GPS from a photo's header (no pixel decoding)."""
    with _open(path) as img:
        try:
            exif = img.getexif()
            exif_ifd = dict(exif.get_ifd(ExifTags.IFD.Exif))
            gps_ifd = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
        except Exception:  # malformed EXIF must never make the photo unreadable
            exif, exif_ifd, gps_ifd = Image.Exif(), {}, {}
        width, height = img.size
        fmt = img.format
    tags = ExifTags.Base
    orientation = _int(exif.get(tags.Orientation))
    if orientation not in range(1, 9):
        orientation = None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    taken = (
        _exif_datetime(
            exif_ifd.get(tags.DateTimeOriginal),
            exif_ifd.get(tags.SubsecTimeOriginal),
            exif_ifd.get(tags.OffsetTimeOriginal),
        )
        or _exif_datetime(
            exif_ifd.get(tags.DateTimeDigitized),
            exif_ifd.get(tags.SubsecTimeDigitized),
            exif_ifd.get(tags.OffsetTimeDigitized),
        )
        or _exif_datetime(exif.get(tags.DateTime), exif_ifd.get(tags.SubsecTime), exif_ifd.get(tags.OffsetTime))
    )
    lens = _text(exif_ifd.get(tags.LensModel))
    if lens is None and _text(exif_ifd.get(tags.LensMake)):
        lens = _text(exif_ifd.get(tags.LensMake))
    iso = _int(exif_ifd.get(tags.ISOSpeedRatings)) or _int(exif_ifd.get(0x8833))  # ISOSpeed
    gps = ExifTags.GPS
    lat = _gps_coord(gps_ifd.get(gps.GPSLatitude), gps_ifd.get(gps.GPSLatitudeRef))
    lon = _gps_coord(gps_ifd.get(gps.GPSLongitude), gps_ifd.get(gps.GPSLongitudeRef))
    alt = _num(gps_ifd.get(gps.GPSAltitude))
    if alt is not None and gps_ifd.get(gps.GPSAltitudeRef) in (1, b"\x01"):
        alt = -alt
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = alt = None
    exposure = exif_ifd.get(tags.ExposureTime)
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "orientation": orientation,
        "taken_at": taken,
        "camera_make": _text(exif.get(tags.Make)),
        "camera_model": _text(exif.get(tags.Model)),
        "lens": lens,
        "iso": iso,
        "f_number": _round(_num(exif_ifd.get(tags.FNumber)), 3),
        "exposure_time": _round(_num(exposure), 9),
        "focal_length": _round(_num(exif_ifd.get(tags.FocalLength)), 3),
        "gps_lat": lat,
        "gps_lon": lon,
        "gps_alt": _round(alt, 3),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- decoding --------------------------------------------------------------------------------------------
def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    if img.mode == "F":
        return img.convert("L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def open_image(path: str, *, max_pixels: int, draft_size: int | None = None) -> Image.Image:
    """Decode a photo to upright RGB, refusing images that declare more than max_pixels before decoding."""
    img = _open(path)
    try:
        width, height = img.size
        if width * height > max_pixels:
            raise MediaError(
                f"image declares {width}×{height} ({width * height / 1e6:.1f} MP), above the limit of "
                f"{max_pixels / 1e6:.1f} MP (scan.max_image_pixels); not decoded"
            )
        if draft_size and img.format == "JPEG":
            img.draft("RGB", (draft_size, draft_size))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
        upright = ImageOps.exif_transpose(img) or img
        return _to_rgb(upright)
    except MediaError:
        img.close()
        raise
    except Image.DecompressionBombWarning as exc:
        img.close()
        raise MediaError(f"decompression bomb guard: {exc}") from exc
    except OSError as exc:
        img.close()
        if isinstance(exc, _ACCESS_ERRORS):
            raise
        raise MediaError(f"truncated or corrupt image: {exc}") from exc
    except _DECODE_ERRORS as exc:
        img.close()
        raise MediaError(f"truncated or corrupt image: {exc}") from exc
