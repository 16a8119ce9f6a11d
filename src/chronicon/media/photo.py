"""Photos: EXIF metadata without decoding pixels, and guarded full decoding for the content pass."""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import ExifTags, Image, JpegImagePlugin, UnidentifiedImageError

from chronicon.errors import MediaError
from chronicon.media.colour import to_srgb
from chronicon.media.date_tags import read_embedded_dates
from chronicon.media.dates import CaptureTime, DateTags, capture_time, clean_text
from chronicon.media.raw import decode_raw, raw_format, read_raw_tags

# The still-image formats Chronicon reads (the JPEG opener also returns MPO, the multi-picture JPEG of
# phones). Image.open only tries these plugins, so a file that merely claims to be a photo never reaches
# Pillow's exotic ones (EPS would start Ghostscript, for example).
PHOTO_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "HEIF", "AVIF", "JXL", "WEBP", "TIFF", "GIF", "BMP")

_setup_lock = threading.Lock()
_setup_done = False
_formats: tuple[str, ...] = PHOTO_FORMATS  # narrowed to the registered ones (AVIF needs libavif, ...)


def register_heif() -> None:
    """Set Pillow up for scanning; idempotent, cheap and thread-safe, so call it as often as you like.

    Registers the HEIC/HEIF opener of pillow-heif and the JPEG XL one of pillow-jxl-plugin (each a no-op when it
    is not installed) and lifts Pillow's own
    pixel limit, which would refuse even to read the header of a big photo: `open_image` applies
    `scan.max_image_pixels` itself, before decoding, and `read_photo_metadata` never decodes pixels.
    Both readers call this themselves.
    """
    global _setup_done, _formats
    if _setup_done:
        return
    with _setup_lock:
        if _setup_done:
            return
        Image.MAX_IMAGE_PIXELS = None
        try:
            import pillow_heif
        except ImportError:
            pass
        else:
            pillow_heif.register_heif_opener()
        with contextlib.suppress(ImportError):
            import pillow_jxl  # noqa: F401 - importing it registers Pillow's JPEG XL opener
        Image.init()
        _formats = tuple(name for name in PHOTO_FORMATS if name in Image.OPEN)
        _setup_done = True


def _reason(exc: BaseException, path: str | None = None) -> str:
    """A short, path-free description of why a decoder gave up."""
    text = str(exc).strip()
    if path:
        text = text.replace(f"'{path}'", "").replace(path, "").strip()
    if not text or isinstance(exc, (struct.error, KeyError, IndexError, TypeError, EOFError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _is_access_error(exc: OSError) -> bool:
    # The OS refused or failed to read the file (errno set): the caller classifies those. Pillow's own
    # "image file is truncated", "decoder error -2", "cannot identify image file" carry no errno.
    return exc.errno is not None


def _open(path: str) -> Image.Image:
    """Open lazily (header only); OSErrors about the file itself propagate, bad content is a MediaError."""
    register_heif()
    if os.path.getsize(path) == 0:
        raise MediaError("empty file")
    try:
        return Image.open(path, formats=_formats)
    except UnidentifiedImageError as exc:
        raise MediaError("not a readable image: unknown format or damaged header") from exc
    except OSError as exc:
        if _is_access_error(exc):
            raise
        raise MediaError(f"not a readable image: {_reason(exc, path)}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # a plugin choking on a malformed header (ValueError, struct.error, ...)
        raise MediaError(f"not a readable image: {_reason(exc, path)}") from exc


# -- EXIF ------------------------------------------------------------------------------------------------
_Tags = ExifTags.Base
_Gps = ExifTags.GPS


def _field(ifd: Mapping[int, Any], tag: int) -> Any:
    """One EXIF value, or None when it is absent or cannot even be decoded."""
    try:
        return ifd.get(tag)
    except Exception:
        return None


def _ifd(exif: Image.Exif, which: ExifTags.IFD) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(which))
    except Exception:
        return {}


def _num(value: Any) -> float | None:
    """A finite float from an int, float, IFDRational or (numerator, denominator); None otherwise."""
    try:
        if isinstance(value, (tuple, list)):
            if len(value) == 1:
                value = value[0]
            elif len(value) == 2:
                numerator, denominator = float(value[0]), float(value[1])
                return numerator / denominator if denominator else None
            else:
                return None
        if isinstance(value, (str, bytes)):
            return None
        result = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if np.isfinite(result) else None  # IFDRational(x, 0) is NaN


def _positive(value: Any, digits: int) -> float | None:
    number = _num(value)
    return round(number, digits) if number is not None and number > 0 else None


def _int(value: Any) -> int | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    number = _num(value)
    return int(number) if number is not None else None


_text = clean_text  # (one cleaner for every EXIF text: media.dates)


def _gps_time(value: Any) -> tuple[float | None, ...] | None:
    """GPSTimeStamp (three rationals) as numbers for `dates`; None when it is not three values."""
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return None
    return tuple(_num(part) for part in value)


def _capture_time(
    path: str,
    base: Mapping[int, Any],
    exif_ifd: Mapping[int, Any],
    gps_ifd: Mapping[int, Any],
    position: tuple[float | None, float | None],
) -> CaptureTime:
    """The capture time by the priority order of `dates`: EXIF through Pillow, and the XMP and IPTC dates
    through Exiv2 only when EXIF has neither DateTimeOriginal nor CreateDate (they could not win otherwise)."""
    tags = DateTags(
        exif_original=_field(exif_ifd, _Tags.DateTimeOriginal),
        exif_original_subsec=_field(exif_ifd, _Tags.SubsecTimeOriginal),
        exif_original_offset=_field(exif_ifd, _Tags.OffsetTimeOriginal),
        exif_create=_field(exif_ifd, _Tags.DateTimeDigitized),
        exif_create_subsec=_field(exif_ifd, _Tags.SubsecTimeDigitized),
        exif_create_offset=_field(exif_ifd, _Tags.OffsetTimeDigitized),
        exif_modify=_field(base, _Tags.DateTime),
        exif_modify_subsec=_field(exif_ifd, _Tags.SubsecTime),
        exif_modify_offset=_field(exif_ifd, _Tags.OffsetTime),
        exif_ifd0_original=_field(base, _Tags.DateTimeOriginal),
        gps_date=_field(gps_ifd, _Gps.GPSDateStamp),
        gps_time=_gps_time(_field(gps_ifd, _Gps.GPSTimeStamp)),
        gps_lat=position[0],
        gps_lon=position[1],
    )
    if not tags.has_exif_capture_date():
        tags = replace(tags, **read_embedded_dates(path))
    return capture_time(tags)


def _gps_coord(value: Any, ref: Any, limit: float) -> float | None:
    if isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
        parts = [_num(part) for part in value]
    else:
        parts = [_num(value)]
    if not parts or any(part is None for part in parts):
        return None
    coord = sum(part / 60**index for index, part in enumerate(parts) if part is not None)
    if (_text(ref) or "").upper()[:1] in ("S", "W"):
        coord = -abs(coord)
    return round(coord, 7) if abs(coord) <= limit else None


def _altitude(value: Any, ref: Any) -> float | None:
    altitude = _num(value)
    if altitude is None:
        return None
    if isinstance(ref, bytes):
        ref = ref[0] if ref else 0
    below_sea_level = _int(ref) == 1 or _text(ref) == "1"
    return round(-abs(altitude) if below_sea_level else altitude, 3)


def read_photo_metadata(path: str) -> dict[str, Any]:
    """Format, oriented size, date (and its source), camera, exposure and GPS from a photo's header (pixels are
    not decoded).

    Every key is always present; a value is None when the photo does not say or says something malformed.
    """
    fmt: str | None
    exif: Mapping[int, Any]
    if raw_format(path) is not None:  # a camera RAW: LibRaw's size, exiv2's EXIF by tag number (media/raw.py)
        tags = read_raw_tags(path)
        fmt, (width, height), exif, exif_ifd, gps_ifd = tags.format, tags.size, tags.base, tags.exif, tags.gps
    else:
        with _open(path) as img:
            fmt = img.format
            width, height = img.size
            try:
                exif = img.getexif()
            except Exception:  # malformed EXIF never makes the photo unreadable
                exif = Image.Exif()
            exif_ifd = _ifd(exif, ExifTags.IFD.Exif)
            gps_ifd = _ifd(exif, ExifTags.IFD.GPSInfo)
    orientation = _int(_field(exif, _Tags.Orientation))
    if orientation not in range(1, 9):
        orientation = None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    lens = _text(_field(exif_ifd, _Tags.LensModel)) or _text(_field(exif_ifd, _Tags.LensMake))
    iso = _int(_field(exif_ifd, _Tags.ISOSpeedRatings)) or _int(_field(exif_ifd, _Tags.ISOSpeed))
    lat = _gps_coord(_field(gps_ifd, _Gps.GPSLatitude), _field(gps_ifd, _Gps.GPSLatitudeRef), 90)
    lon = _gps_coord(_field(gps_ifd, _Gps.GPSLongitude), _field(gps_ifd, _Gps.GPSLongitudeRef), 180)
    taken = _capture_time(path, exif, exif_ifd, gps_ifd, (lat, lon))
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "orientation": orientation,
        "taken_at": taken.taken_at,
        "taken_at_source": taken.source,
        "taken_at_offset": taken.offset,
        "camera_make": _text(_field(exif, _Tags.Make)),
        "camera_model": _text(_field(exif, _Tags.Model)),
        "lens": lens,
        "iso": iso if iso is not None and iso > 0 else None,
        "f_number": _positive(_field(exif_ifd, _Tags.FNumber), 3),
        "exposure_time": _positive(_field(exif_ifd, _Tags.ExposureTime), 9),
        "focal_length": _positive(_field(exif_ifd, _Tags.FocalLength), 3),
        "gps_lat": lat,
        "gps_lon": lon,
        "gps_alt": _altitude(_field(gps_ifd, _Gps.GPSAltitude), _field(gps_ifd, _Gps.GPSAltitudeRef)),
    }


# -- decoding --------------------------------------------------------------------------------------------
# The same table as ImageOps.exif_transpose, applied from our own tolerant orientation reading so that a
# malformed EXIF block costs the rotation at worst, never the photo.
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(img: Image.Image) -> int:
    try:
        return _int(img.getexif().get(_Tags.Orientation)) or 1
    except Exception:
        return 1


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float greyscale to 8-bit RGB, keeping the picture recognisable."""
    data = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low = float(data.min()) if data.size else 0.0
    high = float(data.max()) if data.size else 0.0
    if img.mode.startswith("I;16"):
        data = data / 257.0  # the full 16-bit range, whatever this photo uses of it
    elif img.mode == "F" and low >= 0.0 and high <= 1.0:
        data = data * 255.0  # normalised floats
    elif low >= 0.0 and high <= 255.0:
        pass
    elif low >= 0.0 and high <= 65535.0:
        data = data / 257.0  # 16-bit samples in a 32-bit mode
    else:
        data = (data - low) * (255.0 / (high - low))
    grey = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _high_depth_to_rgb(img)
    try:
        if "transparency" in img.info and mode in ("P", "L", "RGB", "1"):
            img = img.convert("RGBA")
        if img.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return img.convert("RGB")
    except ValueError as exc:  # LAB, HSV, ... without a colour-management profile
        raise MediaError(f"cannot convert a {mode} image to RGB: {_reason(exc)}") from exc


def open_image(path: str, *, max_pixels: int, draft_size: int | None = None) -> Image.Image:
    """Decode a photo to upright sRGB (first frame of an animation; transparency over white; colour through its
    ICC profile or HDR / wide-gamut colour description, `media.colour`).

    Refuses, before decoding, an image whose header declares more than `max_pixels` pixels. With
    `draft_size`, a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale whose sides are still at least
    `draft_size` (DCT scaling, much cheaper than decoding full size and resizing). A camera RAW gives its
    embedded preview when that is large enough, else LibRaw's demosaic (`raw.decode_raw`).
    """
    if raw_format(path) is not None:
        return decode_raw(path, max_pixels=max_pixels, draft_size=draft_size).image
    img = _open(path)
    try:
        width, height = img.size
        if width * height > max_pixels:
            raise MediaError(
                f"image declares {width}×{height} ({width * height / 1e6:.1f} MP), above the limit of "
                f"{max_pixels / 1e6:.1f} MP (scan.max_image_pixels)"
            )
        if draft_size and isinstance(img, JpegImagePlugin.JpegImageFile):  # JPEG and MPO
            img.draft("RGB", (draft_size, draft_size))
        img.load()  # Pillow's own bomb check is off (register_heif): the pixel limit above replaced it
        orientation = _orientation(img)
        upright = img.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else img
        result = _to_rgb(to_srgb(upright))
        if result is img:
            result = img.copy()  # the caller gets an image of its own; the file is closed below
        return result
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"decompression bomb guard: {_reason(exc)}") from exc
    except OSError as exc:
        if _is_access_error(exc):
            raise
        raise MediaError(f"truncated or corrupt image: {_reason(exc, path)}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # SyntaxError, ValueError, struct.error, EOFError, ... from a damaged stream
        raise MediaError(f"truncated or corrupt image: {_reason(exc, path)}") from exc
    finally:
        img.close()
