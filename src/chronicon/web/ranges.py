"""HTTP range requests (RFC 9110 byte ranges) over a file: 200 whole, 206 one range, 416 unsatisfiable."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator

from fastapi.responses import JSONResponse, Response, StreamingResponse

CHUNK = 256 * 1024

_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
          ".mkv": "video/x-matroska", ".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif",
          ".avif": "image/avif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}  # fmt: skip


class RangeError(ValueError):
    """A Range header that cannot be satisfied for this file (answered with 416)."""


def content_type(path: str) -> str:
    """The media type of a file by its extension (octet-stream when unknown)."""
    ext = os.path.splitext(path)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` -> (first, last) inclusive; None for a header to ignore (not bytes).

    Several ranges (`bytes=0-1,5-6`) are refused with RangeError: browsers and players ask for one."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        raise RangeError("multiple ranges are not supported")
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        raise RangeError(f"bad range {spec!r}")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not (first_text.isdigit() or first_text == "") or not (last_text.isdigit() or last_text == ""):
        raise RangeError(f"bad range {spec!r}")
    if first_text == "":
        if last_text == "" or int(last_text) == 0:
            raise RangeError(f"bad range {spec!r}")
        suffix = int(last_text)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        raise RangeError(f"range {spec!r} is outside the file ({size} bytes)")
    return first, min(last, size - 1)


def _chunks(path: str, first: int, last: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(first)
        left = last - first + 1
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data


def file_response(path: str, range_header: str | None, media_type: str | None = None) -> Response:
    """Stream a file, whole (200) or the requested byte range (206), with `Accept-Ranges: bytes`; 416 when the
    range cannot be satisfied."""
    size = os.path.getsize(path)
    kind = media_type or content_type(path)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60"}
    try:
        chosen = parse_range(range_header, size) if range_header else None
    except RangeError as exc:
        return JSONResponse({"error": str(exc), "status": 416}, status_code=416,
                            headers={**headers, "Content-Range": f"bytes */{size}"})  # fmt: skip
    if chosen is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_chunks(path, 0, size - 1), media_type=kind, headers=headers)
    first, last = chosen
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(_chunks(path, first, last), status_code=206, media_type=kind, headers=headers)
