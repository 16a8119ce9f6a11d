"""Query photos uploaded to `/api/search/image`, decoded with bounded memory.

An upload is a stranger's file: a few kilobytes of PNG can declare 15000×15000 pixels and decode to gigabytes.
So an upload is checked from its header before any pixel is decoded (at most `MAX_UPLOAD_PIXELS`, and at most
`DECODE_BUDGET` bytes of pixel memory as Pillow will hold them), a JPEG is decoded at a reduced scale (DCT
scaling, `draft`), every other format is decoded and at once reduced to a small copy, and only a few decodes
run at a time (`DecodeGate`: a request that finds no room within a moment gets 503). The search then reads the
small copy, written to a temporary PNG, instead of the upload."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO

from fastapi import HTTPException
from PIL import Image, JpegImagePlugin

from chronicon.media import photo
from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes
from chronicon.types import MediaKind

# Bytes of one upload (the request around it adds the multipart framing and two small fields).
MAX_UPLOAD = 32 * 1024 * 1024
# Pixels an uploaded photo may declare: far below the scan's limit (scan.max_image_pixels, 250 MP), since a
# PNG, WebP, TIFF, ... must be decoded whole before it can be reduced.
MAX_UPLOAD_PIXELS = 50_000_000
# Pixel memory all uploads being decoded may hold at once (one upload may need up to all of it).
DECODE_BUDGET = 256 * 1024 * 1024
# Uploads decoded at the same time, and how long a request waits for room before it is answered 503.
DECODE_SLOTS = 2
DECODE_WAIT = 3.0
# The copy the search reads: its shorter side at most this (the scan decodes photos at about 512 px and the
# models look at 224-384 px), its longer side at most LONG_SIDE (a panorama keeps its shape).
SHORT_SIDE = 768
LONG_SIDE = 4096
# Pillow's formats for each format the sniffer recognises (nothing else may parse an upload).
PIL_FORMATS = {"jpeg": ("JPEG",), "png": ("PNG",), "webp": ("WEBP",), "gif": ("GIF",), "bmp": ("BMP",),
               "tiff": ("TIFF",), "heif": ("HEIF",), "avif": ("AVIF", "HEIF")}  # fmt: skip
# Bytes per pixel Pillow keeps for an image of each mode (four for the rest: RGB is stored as RGBX).
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Extra bytes per pixel while reducing: "1" and "P" are converted first (resizing them would be nearest
# neighbour), LA and RGBA are resized premultiplied (a full-size copy).
_EXTRA = {"1": 1, "P": 8, "PA": 8, "LA": 4, "RGBA": 4}


class BusyError(HTTPException):
    """No room to decode another upload now (503, with Retry-After)."""

    def __init__(self) -> None:
        super().__init__(
            status_code=503,
            detail="the server is decoding other uploaded photos: try again in a moment",
            headers={"Retry-After": "2"},
        )


class DecodeGate:
    """At most `slots` decodes at once, together holding at most `budget` bytes of pixels (a single decode may
    take the whole budget). `admit(cost)` waits up to `wait` seconds for room, then raises BusyError."""

    def __init__(self, slots: int = DECODE_SLOTS, budget: int = DECODE_BUDGET, wait: float = DECODE_WAIT) -> None:
        self.slots = slots
        self.budget = budget
        self.wait = wait
        self.running = 0
        self.held = 0
        self._changed = threading.Condition()

    def _fits(self, cost: int) -> bool:
        return self.running < self.slots and (self.held == 0 or self.held + cost <= self.budget)

    @contextlib.contextmanager
    def admit(self, cost: int) -> Iterator[None]:
        cost = min(max(cost, 0), self.budget)
        deadline = time.monotonic() + self.wait
        with self._changed:
            while not self._fits(cost):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BusyError()
                self._changed.wait(left)
            self.running += 1
            self.held += cost
        try:
            yield
        finally:
            with self._changed:
                self.running -= 1
                self.held -= cost
                self._changed.notify_all()


def _refuse(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def upload_size(handle: IO[bytes]) -> int:
    """The size of the spooled upload (it is a seekable file); 413 above MAX_UPLOAD."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    if size > MAX_UPLOAD:
        raise _refuse(413, f"the upload is larger than {MAX_UPLOAD} bytes ({MAX_UPLOAD // (1024 * 1024)} MiB)")
    return size


def decode_cost(img: Image.Image) -> int:
    """The pixel memory decoding and reducing this (opened, not yet loaded) image takes, in bytes."""
    width, height = img.size
    mode = img.mode
    extra = _EXTRA.get(mode, 0)
    if "transparency" in img.info and mode in ("L", "RGB"):
        extra = 8  # converted to RGBA first (see photo._to_rgb), then premultiplied
    if img.format in ("WEBP", "HEIF", "AVIF"):
        extra += 4  # their decoders hand Pillow a buffer of their own, which it copies
    return width * height * (_STORED.get(mode, 4) + extra)


def _opened(handle: IO[bytes]) -> Image.Image:
    """The upload opened by Pillow (header only), as one of the photo formats the sniffer recognised."""
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    if not head:
        raise _refuse(400, "the upload is empty")
    sniffed = sniff_bytes(head)
    if sniffed is None or sniffed.kind != MediaKind.IMAGE:
        raise _refuse(400, "upload a photo (JPEG, PNG, WebP, HEIC, ...): this is not one")
    photo.register_heif()  # the HEIF opener; Pillow's own pixel limit is off: the checks below replace it
    try:
        return Image.open(handle, formats=PIL_FORMATS.get(sniffed.format, ()))
    except Exception as exc:  # UnidentifiedImageError, or a plugin choking on a damaged header
        raise _refuse(400, f"cannot read the photo ({sniffed.format}): {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _target(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, SHORT_SIDE / min(width, height), LONG_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _small(img: Image.Image) -> Image.Image:
    """The loaded image reduced to the search's size, upright RGB (transparency over white, as the scan does)."""
    given = img
    orientation = photo._orientation(img)
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    size = _target(img.size)
    if size != img.size:
        try:
            img = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        except ValueError:  # a mode Pillow cannot resize (e.g. a 16-bit variant): convert first
            img = photo._to_rgb(img).resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if orientation in photo._TRANSPOSE:
        img = img.transpose(photo._TRANSPOSE[orientation])
    result = photo._to_rgb(img)
    return result.copy() if result is given else result  # the caller closes the upload's image


def _release_memory() -> None:
    """Give freed heap memory back to the system: glibc keeps large freed blocks in its arenas otherwise (a
    decoded photo is hundreds of MB); a no-op where malloc_trim does not exist."""
    with contextlib.suppress(Exception):
        name = ctypes.util.find_library("c")
        if name:
            ctypes.CDLL(name).malloc_trim(0)


def reduced_photo(handle: IO[bytes], gate: DecodeGate) -> Image.Image:
    """The uploaded photo as a small upright RGB image, decoded within the limits (see the module)."""
    upload_size(handle)
    img = _opened(handle)
    try:
        width, height = img.size
        if width * height > MAX_UPLOAD_PIXELS:
            declared = f"{width}×{height} pixels ({width * height / 1e6:.1f} MP)"
            limit = f"{MAX_UPLOAD_PIXELS / 1e6:.0f} MP"
            raise _refuse(413, f"the photo declares {declared}; an upload may have at most {limit}: send a smaller one")
        if isinstance(img, JpegImagePlugin.JpegImageFile):  # decoded at 1/2, 1/4 or 1/8 scale (DCT scaling)
            img.draft("RGB", _target(img.size))
        cost = decode_cost(img)
        if cost > gate.budget:
            raise _refuse(413, f"the photo ({width}×{height}, {img.mode}) needs {cost / 2**20:.0f} MiB to decode; "
                               f"an upload may need at most {gate.budget / 2**20:.0f} MiB: send a smaller copy or "
                               "a JPEG")  # fmt: skip
        with gate.admit(cost):
            try:
                img.load()
                small = _small(img)
            except HTTPException:
                raise
            except MemoryError as exc:
                raise BusyError() from exc
            except Exception as exc:  # truncated or corrupt data (OSError, SyntaxError, ValueError, ...)
                raise _refuse(400, f"cannot decode the photo: {_reason(exc)}") from exc
            finally:
                img.close()  # frees the full-size pixels (and closes the upload's file)
            if cost > 32 * 1024 * 1024:
                _release_memory()  # before the next decode starts
        return small
    finally:
        img.close()


def saved_query_photo(handle: IO[bytes], gate: DecodeGate) -> str:
    """The uploaded photo, reduced (`reduced_photo`), in a temporary PNG file for the search; the caller
    deletes it."""
    small = reduced_photo(handle, gate)
    fd, temp = tempfile.mkstemp(prefix="chronicon-query-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as out:
            small.save(out, "PNG", compress_level=1)
    except BaseException:
        os.unlink(temp)
        raise
    return temp
