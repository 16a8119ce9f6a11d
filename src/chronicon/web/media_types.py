"""The media type an original is served with: from the catalog's sniffed `format`, never from the file name."""

from __future__ import annotations

# The `format` values the scanner's content sniffing writes (chronicon.media.sniff), plus a few aliases.
FORMAT_TYPES = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "heif": "image/heif",
    "heic": "image/heic",
    "avif": "image/avif",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "quicktime": "video/quicktime",
    "matroska": "video/x-matroska",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "3gp": "video/3gpp",
}
UNKNOWN = "application/octet-stream"
# Sent with files from the library: a browser that opens one as a page gets no script, no sniffing, no frames.
FILE_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


def media_type(fmt: object) -> str:
    """`image/jpeg` for "jpeg", ...; octet-stream for a format we do not know (or none), whatever the file's name."""
    return FORMAT_TYPES.get(str(fmt or "").strip().lower(), UNKNOWN)
