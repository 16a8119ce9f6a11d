"""Videos through PyAV (bundled FFmpeg): container and stream metadata, and a poster frame."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import av
from PIL import Image

from chronicon.errors import MediaError

_ACCESS_ERRORS = (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
# ISO 6709 as QuickTime/MP4 write it: +DD.DDDD+DDD.DDDD[+AAA.AAA][CRS]/
_ISO6709 = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")
_LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_DATE_KEYS = ("com.apple.quicktime.creationdate", "creation_time", "date")


@contextmanager
def _open(path: str) -> Iterator[Any]:
    if os.path.getsize(path) == 0:
        raise MediaError("empty file")
    try:
        container = av.open(path, mode="r", metadata_errors="replace")
    except _ACCESS_ERRORS:
        raise
    except av.FFmpegError as exc:
        raise MediaError(f"not a readable video: {_short(exc)}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"not a readable video: {exc}") from exc
    try:
        yield container
    finally:
        container.close()


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '", 1)[0]


def _parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    match = _ISO6709.match(text)
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    alt = float(match.group(3)) if match.group(3) else None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon, alt


def _parse_date(text: str) -> str | None:
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)  # +0200 -> +02:00
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if moment.year < 1971:  # 1904/1970 epoch zeros that cameras write when they do not know
        return None
    return moment.replace(microsecond=0).isoformat()


def _normalise_rotation(value: float | int | None) -> int:
    if value is None:
        return 0
    return int(round(float(value) / 90.0) * 90) % 360


def _first_frame(container: Any, stream: Any) -> Any:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise MediaError(f"no decodable video frame: {_short(exc)}") from exc
    raise MediaError("no decodable video frame")


def read_video_metadata(path: str) -> dict[str, Any]:
    """Container, duration, fps, display size, rotation, codecs, bitrate, audio, date and GPS of a video."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream (audio-only or not a video)")
        stream = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        meta: dict[str, str] = {**dict(stream.metadata), **dict(container.metadata)}
        duration: float | None = None
        if container.duration:
            duration = container.duration / 1_000_000
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        frame = _first_frame(container, stream)
        rotation = _normalise_rotation(getattr(frame, "rotation", 0))
        if not width or not height:
            width, height = frame.width, frame.height
        bitrate = container.bit_rate or None
    if rotation in (90, 270):
        width, height = height, width
    lat = lon = alt = None
    for key in _LOCATION_KEYS:
        if meta.get(key):
            parsed = _parse_iso6709(meta[key])
            if parsed:
                lat, lon, alt = parsed
                break
    taken = None
    for key in _DATE_KEYS:
        if meta.get(key):
            taken = _parse_date(meta[key])
            if taken:
                break
    fmt = container.format.name.split(",")[0]
    return {
        "format": fmt,
        "duration": round(duration, 3) if duration is not None else None,
        "fps": round(float(rate), 3) if rate else None,
        "width": width,
        "height": height,
        "rotation": rotation,
        "video_codec": codec,
        "audio_codec": audio.codec_context.name if audio is not None else None,
        "bitrate": int(bitrate) if bitrate else None,
        "has_audio": audio is not None,
        "taken_at": taken,
        "gps_lat": lat,
        "gps_lon": lon,
        "gps_alt": alt,
    }


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    # FFmpeg's display-matrix angle is counter-clockwise; PIL's rotate() is counter-clockwise too.
    if rotation % 360 == 0:
        return image
    return image.rotate(rotation, expand=True)


def read_poster_frame(path: str, *, at_fraction: float = 0.1, max_side: int = 640) -> Image.Image:
    """One upright RGB frame from about `at_fraction` into the video, decoded by seeking (never the whole file)."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError("no video stream (audio-only or not a video)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = container.duration / 1_000_000 if container.duration else None
        target = (duration or 0.0) * min(max(at_fraction, 0.0), 1.0)
        chosen = None
        try:
            if target > 0 and stream.time_base:
                container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is None or frame.time >= target or frame.time > target + 2.0:
                    break
        except av.FFmpegError:
            chosen = None
        if chosen is None:  # seeking failed or landed past the end: take the first frame
            container.seek(0)
            chosen = _first_frame(container, stream)
        rotation = _normalise_rotation(getattr(chosen, "rotation", 0))
        scale = min(1.0, max_side / max(chosen.width, chosen.height))
        width = max(2, int(chosen.width * scale) // 2 * 2)
        height = max(2, int(chosen.height * scale) // 2 * 2)
        try:
            image = chosen.to_image(width=width, height=height)
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"cannot convert the poster frame: {_short(exc)}") from exc
    return _upright(image.convert("RGB"), rotation)
