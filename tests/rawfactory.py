"""Real DNG files written from photos: a Bayer (RGGB) mosaic LibRaw demosaics, an optional embedded JPEG preview
(IFD0, as Adobe's converter and cameras write it) and EXIF written by exiv2 (pyexiv2), as a camera would."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tifffile
from PIL import Image

PathLike = str | os.PathLike[str]

WHITE_LEVEL = 4095  # a 12-bit sensor
# XYZ (D65) -> camera for a camera whose native space is linear sRGB: the inverse of sRGB's matrix, so LibRaw's
# colour conversion gives the photo's own colours back.
_COLOR_MATRIX = (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570)

_DNG_VERSION, _DNG_BACKWARD, _UNIQUE_MODEL = 50706, 50707, 50708
_COLOR_MATRIX_1, _ILLUMINANT_1, _AS_SHOT_NEUTRAL = 50721, 50778, 50728
_CFA_REPEAT, _CFA_PATTERN, _BLACK_LEVEL, _WHITE_LEVEL = 33421, 33422, 50714, 50717


def mosaic(rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An RGGB Bayer mosaic of an 8-bit sRGB picture, linear light, 12 bits in uint16 (what a sensor records)."""
    linear = (rgb.astype(np.float64) / 255.0) ** 2.2 * WHITE_LEVEL
    cfa = np.empty(rgb.shape[:2], np.uint16)
    cfa[0::2, 0::2] = linear[0::2, 0::2, 0]
    cfa[0::2, 1::2] = linear[0::2, 1::2, 1]
    cfa[1::2, 0::2] = linear[1::2, 0::2, 1]
    cfa[1::2, 1::2] = linear[1::2, 1::2, 2]
    return cfa


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_dng(
    path: PathLike,
    photo: Image.Image | np.ndarray[Any, Any],
    *,
    preview: int | str | None = "full",
    preview_quality: int = 90,
    make: str = "Chronicon",
    model: str = "Test DNG",
    taken_at: str | None = "2021:07:04 15:30:00",
    subsec: str | None = None,
    offset: str | None = None,
    orientation: int = 1,
    exif: Mapping[str, str] | None = None,
) -> None:
    """A DNG of `photo` (RGB; even sides): the raw mosaic in a SubIFD, and in IFD0 a JPEG preview of the long side
    `preview` ("full": the photo's own size; None: no preview, IFD0 then holds a 16×16 RGB bitmap thumbnail, as
    the DNG spec's minimum). `exif` adds exiv2 keys ("Exif.Photo.FNumber": "28/10")."""
    rgb = np.asarray(photo.convert("RGB") if isinstance(photo, Image.Image) else photo, dtype=np.uint8)
    height, width = rgb.shape[:2]
    if height % 2 or width % 2:
        raise ValueError("a Bayer mosaic needs even sides")
    picture = Image.fromarray(rgb)
    dng_tags = [
        (_DNG_VERSION, "B", 4, (1, 4, 0, 0), True),
        (_DNG_BACKWARD, "B", 4, (1, 1, 0, 0), True),
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (_UNIQUE_MODEL, "s", 0, f"{make} {model}", True),
        (_COLOR_MATRIX_1, "2i", 9, tuple(v for x in _COLOR_MATRIX for v in (x, 10000)), True),
        (_ILLUMINANT_1, "H", 1, 21, True),  # D65
        (_AS_SHOT_NEUTRAL, "2I", 3, (1, 1, 1, 1, 1, 1), True),
    ]
    with tifffile.TiffWriter(path) as tif:
        if preview is None:
            small = np.asarray(picture.resize((16, 16)), dtype=np.uint8)
            tif.write(small, photometric="rgb", subfiletype=1, subifds=1, extratags=dng_tags)
        else:
            shown = picture if preview == "full" else picture.copy()
            if preview != "full":
                shown.thumbnail((int(preview), int(preview)))
            data = _jpeg(shown, preview_quality)

            # tifffile writes pre-encoded strips given as (bytes, bytecount); it needs a codec it has for that
            # (deflate), and the Compression / Photometric tags are set to JPEG / YCbCr after.
            def strips() -> Iterator[tuple[bytes, int]]:
                yield data, len(data)

            tif.write(
                strips(),
                shape=(shown.height, shown.width, 3),
                dtype=np.uint8,
                compression="zlib",
                photometric="rgb",
                rowsperstrip=shown.height,
                subfiletype=1,
                subifds=1,
                extratags=dng_tags,
            )
        tif.write(
            mosaic(rgb),
            photometric=32803,  # CFA
            subfiletype=0,
            extratags=[
                (_CFA_REPEAT, "H", 2, (2, 2), True),
                (_CFA_PATTERN, "B", 4, (0, 1, 1, 2), True),  # R G / G B
                (_BLACK_LEVEL, "H", 1, 0, True),
                (_WHITE_LEVEL, "H", 1, WHITE_LEVEL, True),
            ],
        )
    if preview is not None:
        with tifffile.TiffFile(path, mode="r+b") as tf:
            tf.pages[0].tags["Compression"].overwrite(7)  # JPEG
            tf.pages[0].tags["PhotometricInterpretation"].overwrite(6)  # YCbCr
    write_exif(path, _exif(taken_at, subsec, offset, orientation, exif))


def _exif(
    taken_at: str | None, subsec: str | None, offset: str | None, orientation: int, extra: Mapping[str, str] | None
) -> dict[str, str]:
    tags = {"Exif.Image.Orientation": str(orientation)}
    if taken_at:
        tags["Exif.Photo.DateTimeOriginal"] = taken_at
    if subsec:
        tags["Exif.Photo.SubSecTimeOriginal"] = subsec
    if offset:
        tags["Exif.Photo.OffsetTimeOriginal"] = offset
    return {**tags, **(extra or {})}


def write_exif(path: PathLike, tags: Mapping[str, str]) -> None:
    """Add EXIF tags to a file with exiv2, as a camera or a photo manager would."""
    import pyexiv2

    with pyexiv2.Image(os.fspath(path)) as image:
        image.modify_exif(dict(tags))


def real_photo(name: str = "astronaut", size: tuple[int, int] | None = None) -> Image.Image:
    """One of scikit-image's real photos as RGB, resized to `size` (even sides) when given."""
    from skimage import data

    pixels = getattr(data, name)()
    img = Image.fromarray(pixels).convert("RGB")
    if size is not None:
        img = img.resize(size, Image.Resampling.LANCZOS)
    return img
