"""HTTP range requests (RFC 9110 byte ranges) over a file: 200 whole, 206 one range, 416 unsatisfiable."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from fastapi.responses import JSONResponse, Response, StreamingResponse

CHUNK = 256 * 1024
# One range: ASCII digits only (str.isdigit accepts '²'), at most 19 of them (fits in a 64-bit offset).
_SPEC = re.compile(r"(\d{0,19})-(\d{0,19})", re.ASCII)


class RangeError(ValueError):
    """A Range header that cannot be satisfied for this file (answered with 416)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` -> (first, last) inclusive; None for a header to ignore (not bytes).

    Several ranges (`bytes=0-1,5-6`) are refused with RangeError: browsers and players ask for one."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        raise RangeError("multiple ranges are not supported")
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise RangeError(f"bad range {spec[:40]!r}")
    first_text, last_text = match.groups()
    if first_text == "":
        suffix = int(last_text) if last_text else 0
        if suffix == 0 or size == 0:
            raise RangeError(f"range {spec!r} selects no bytes of the file ({size} bytes)")
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


def file_response(path: str, range_header: str | None, media_type: str, headers: dict[str, str], *,
                  head: bool = False) -> Response:  # fmt: skip
    """Stream a file as `media_type`, whole (200) or the requested byte range (206), with `Accept-Ranges: bytes`
    and `headers`; 416 when the range cannot be satisfied. With `head` (a HEAD request): the same status and
    headers (Content-Length included), no body."""
    size = os.path.getsize(path)
    headers = {**headers, "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=60"}
    try:
        chosen = parse_range(range_header, size) if range_header else None
    except RangeError as exc:
        return JSONResponse({"error": str(exc), "status": 416}, status_code=416,
                            headers={**headers, "Content-Range": f"bytes */{size}"})  # fmt: skip
    first, last = chosen if chosen is not None else (0, size - 1)
    status = 206 if chosen is not None else 200
    if chosen is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    if head:
        return Response(status_code=status, media_type=media_type, headers=headers)
    return StreamingResponse(_chunks(path, first, last), status_code=status, media_type=media_type, headers=headers)
