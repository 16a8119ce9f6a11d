"""Videos through PyAV (bundled FFmpeg): container and stream metadata, and a poster frame."""

from __future__ import annotations

import errno
import io
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from chronicon.errors import MediaError
from chronicon.media.dates import CaptureTime, DateTags, capture_time

# ISO 6709 as QuickTime/MP4/Android write it: ±DD.DDDD±DDD.DDDD[±AAA.AAA][CRS...]/
_ISO6709 = re.compile(r"^\s*([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")
# Metadata keys, lower-cased (Matroska tags come back upper-case: "LOCATION").
_LOCATION_KEYS = ("com.apple.quicktime.location.iso6709", "location", "location-eng")
# How far past the keyframe a seek lands on the poster search decodes before settling (stream seconds).
_MAX_DECODE_AHEAD = 2.0
# Undecodable packets tolerated at the start before a stream counts as having no decodable frame.
_MAX_BAD_PACKETS = 8


def _short(exc: BaseException) -> str:
    """FFmpeg's message without the "[Errno N]" prefix and the path; a type name where there is none."""
    text = getattr(exc, "strerror", None) or str(exc)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text)).split(": '", 1)[0].strip()
    return text or type(exc).__name__


def _is_access_error(exc: BaseException) -> bool:
    """Whether the OS refused the file itself (missing, a directory, no permission): the caller classifies
    those, so they propagate. PyAV raises them as subclasses of the builtin OSError classes, but it maps
    every FFmpeg error code the same way, and FFmpeg uses AVERROR(EIO) and -1 (= EPERM, "Operation not
    permitted") for damaged data too: only these errnos mean the file could not be opened."""
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return True
    return isinstance(exc, PermissionError) and exc.errno == errno.EACCES


def _failure(exc: Exception, what: str) -> Exception:
    """What to raise for an exception out of PyAV: access errors stay, anything else is a MediaError."""
    if isinstance(exc, MediaError) or _is_access_error(exc):
        return exc
    if isinstance(exc, MemoryError) and not isinstance(exc, av.FFmpegError):
        return exc
    return MediaError(f"{what}: {_short(exc)}")


@dataclass(frozen=True)
class EmbeddedVideo:
    """A video stored inside another file: bytes [offset, offset + length) of `path` (a motion photo's MP4)."""

    path: str
    offset: int
    length: int

    def __str__(self) -> str:
        return f"{self.path} (video at byte {self.offset}, {self.length} bytes)"


# What the readers here open: a video file's path, or a video inside another file.
VideoSource = str | EmbeddedVideo


class ByteSlice(io.RawIOBase):
    """A read-only, seekable view of bytes [offset, offset + length) of a file, for PyAV (nothing is copied)."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._start = offset
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._length - self._pos)
        if wanted <= 0:
            return 0
        self._fh.seek(self._start + self._pos)
        got = self._fh.readinto(view[:wanted]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()


@contextmanager
def _opened(source: VideoSource) -> Iterator[InputContainer]:
    """The file (or the video inside one) opened read-only; always closed. Errors inside the block are translated
    too."""
    raw: ByteSlice | None = None
    if isinstance(source, EmbeddedVideo):
        if source.length <= 0 or source.offset < 0:
            raise MediaError("empty embedded video")
        raw = ByteSlice(source.path, source.offset, source.length)
    elif os.path.getsize(source) == 0:
        raise MediaError("empty file")
    try:
        container = av.open(raw if raw is not None else source, mode="r", metadata_errors="replace")
    except (av.FFmpegError, ValueError) as exc:
        if raw is not None:
            raw.close()
        error = _failure(exc, "not a readable video")
        if error is exc:
            raise
        raise error from exc
    try:
        yield container
    except av.FFmpegError as exc:  # demuxing or decoding gave up; our own bugs are not translated
        error = _failure(exc, "damaged video")
        if error is exc:
            raise
        raise error from exc
    finally:
        container.close()
        if raw is not None:
            raw.close()


def _video_stream(container: InputContainer) -> VideoStream:
    """The first real video stream (cover art, an "attached picture" stream, does not count)."""
    for stream in container.streams.video:
        if int(stream.disposition) & int(av.stream.Disposition.attached_pic):
            continue
        if getattr(stream, "codec_context", None) is None:  # PyAV found no decoder for the codec id
            raise MediaError(f"no decoder for the video codec ({_codec_label(stream)})")
        return stream
    raise MediaError("no video stream (audio-only or not a video)")


def _codec_label(stream: VideoStream) -> str:
    try:
        tag = str(stream.codec_tag).strip("\x00 ")
    except Exception:
        tag = ""
    return f"codec tag {tag!r}" if tag else "unknown codec"


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    if container.duration and container.duration > 0:
        return container.duration / 1_000_000
    if stream.duration and stream.time_base and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def _decoded(container: InputContainer, stream: VideoStream) -> Iterator[VideoFrame]:
    """Frames of one stream in presentation order, stepping over a few undecodable packets."""
    bad = 0
    yielded = False
    last_error: Exception | None = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            if _is_access_error(exc):
                raise
            bad += 1
            last_error = exc
            if bad >= _MAX_BAD_PACKETS:
                break
            continue
        for frame in frames:
            if isinstance(frame, VideoFrame):
                yielded = True
                yield frame
    if last_error is not None and not yielded:
        raise MediaError(f"no decodable video frame: {_short(last_error)}")


def _first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame:
    try:
        for frame in _decoded(container, stream):
            return frame
    except av.FFmpegError as exc:  # the demuxer gave up
        error = _failure(exc, "no decodable video frame")
        if error is exc:
            raise
        raise error from exc
    raise MediaError("no decodable video frame: the video stream holds no pictures")


def _rotation(frame: VideoFrame) -> int:
    """The display rotation as PyAV reports it (counter-clockwise degrees), as one of 0, 90, 180, 270."""
    try:
        value = float(frame.rotation)
    except (TypeError, ValueError, AttributeError):
        return 0
    if not math.isfinite(value):
        return 0
    return round(value / 90.0) * 90 % 360


def _aspect(stream: VideoStream) -> float:
    """The sample (pixel) aspect ratio, the container's before the codec's as players do; 1 when unknown
    (0/1) or absurd."""
    for ratio in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if ratio and ratio > 0:
            value = float(ratio)
            return value if 0.2 <= value <= 5.0 else 1.0
    return 1.0


def _display_size(width: int, height: int, sample_aspect: float, rotation: int) -> tuple[int, int]:
    if sample_aspect > 1.0:
        width = round(width * sample_aspect)
    elif sample_aspect < 1.0:
        height = round(height / sample_aspect)
    return (height, width) if rotation in (90, 270) else (width, height)


def _parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    match = _ISO6709.match(text)
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    alt = float(match.group(3)) if match.group(3) else None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 7), round(lon, 7), (round(alt, 3) if alt is not None else None)


def _metadata(container: InputContainer, stream: VideoStream) -> dict[str, str]:
    """Stream then container tags (the container wins), keys lower-cased."""
    merged: dict[str, str] = {}
    for source in (stream.metadata, container.metadata):
        for key, value in dict(source).items():
            if isinstance(value, str) and value.strip():
                merged[str(key).lower()] = value
    return merged


def _location(meta: Mapping[str, str]) -> tuple[float | None, float | None, float | None]:
    for key in _LOCATION_KEYS:
        parsed = _parse_iso6709(meta[key]) if key in meta else None
        if parsed:
            return parsed
    return None, None, None


def _capture_time(meta: Mapping[str, str], lat: float | None, lon: float | None) -> CaptureTime:
    """The QuickTime key (local time with its offset), creation_time (UTC), then a vendor's "date" (QuickTime
    ©day, Matroska DATE or DATE_RECORDED), by the order of `dates`."""
    return capture_time(
        DateTags(
            quicktime_creationdate=meta.get("com.apple.quicktime.creationdate"),
            creation_time=meta.get("creation_time"),
            container_date=meta.get("date") or meta.get("date_recorded"),
            gps_lat=lat,
            gps_lon=lon,
        )
    )


def _audio_codec(audio: AudioStream | None) -> str | None:
    context = getattr(audio, "codec_context", None)  # None as well when FFmpeg has no decoder for it
    return str(context.name) if context is not None else None


def read_video_metadata(path: VideoSource) -> dict[str, Any]:
    """Container, duration, fps, display size, rotation, codecs, bitrate, audio, date and GPS of a video.

    Reads the headers and decodes one frame (for the rotation, which FFmpeg attaches to decoded frames).
    """
    with _opened(path) as container:
        stream = _video_stream(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        meta = _metadata(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        codec = stream.codec_context
        frame = _first_frame(container, stream)
        rotation = _rotation(frame)
        width, height = _display_size(
            codec.width or frame.width,
            codec.height or frame.height,
            _aspect(stream),
            rotation,
        )
        duration = _duration(container, stream)
        lat, lon, alt = _location(meta)
        taken = _capture_time(meta, lat, lon)
        return {
            "format": container.format.name.split(",")[0],
            "duration": round(duration, 3) if duration is not None else None,
            "fps": round(float(rate), 3) if rate else None,
            "width": width,
            "height": height,
            "rotation": rotation,
            "video_codec": codec.name,
            "audio_codec": _audio_codec(audio),
            "bitrate": int(container.bit_rate) if container.bit_rate else None,
            "has_audio": audio is not None,
            "taken_at": taken.taken_at,
            "taken_at_source": taken.source,
            "taken_at_offset": taken.offset,
            "gps_lat": lat,
            "gps_lon": lon,
            "gps_alt": alt,
        }


def _frame_near(container: InputContainer, stream: VideoStream, target: float) -> VideoFrame | None:
    """The first frame at or after `target` seconds, seeking to the keyframe before it.

    Decodes at most about two seconds of stream past where the seek landed (a long GOP or a bad index
    must not mean decoding the whole video) and then settles for the last frame decoded.
    """
    assert stream.time_base is not None
    container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
    last: VideoFrame | None = None
    landed: float | None = None
    for frame in _decoded(container, stream):
        last = frame
        when = frame.time
        if when is None:
            return frame
        if landed is None:
            landed = when
        if when >= target - 1e-3 or when - landed >= _MAX_DECODE_AHEAD:
            return frame
    return last


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    # PyAV's rotation is the counter-clockwise turn that displays the frame upright (FFmpeg's autorotate
    # applies the same), and Image.Transpose.ROTATE_90 turns counter-clockwise too.
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    return image.transpose(turns[rotation]) if rotation in turns else image


def read_poster_frame(path: VideoSource, *, at_fraction: float = 0.1, max_side: int = 640) -> Image.Image:
    """One upright RGB frame from about `at_fraction` into the video, its longest side at most `max_side`.

    Seeks (never decodes the whole file); falls back to the first frame when seeking fails or finds nothing.
    """
    fraction = min(max(at_fraction, 0.0), 1.0) if math.isfinite(at_fraction) else 0.0
    with _opened(path) as container:
        stream = _video_stream(container)
        chosen: VideoFrame | None = None
        duration = _duration(container, stream)
        time_base = stream.time_base
        if duration and fraction > 0 and time_base:
            start = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
            try:
                chosen = _frame_near(container, stream, start + duration * fraction)
            except (av.FFmpegError, MediaError) as exc:
                if _is_access_error(exc):
                    raise
                chosen = None
        if chosen is not None:
            return _to_poster(chosen, stream, max_side)
    # No seeking, or it failed or ran off the end: the first frame, from a fresh demuxer.
    with _opened(path) as container:
        stream = _video_stream(container)
        return _to_poster(_first_frame(container, stream), stream, max_side)


def _to_poster(frame: VideoFrame, stream: VideoStream, max_side: int) -> Image.Image:
    rotation = _rotation(frame)
    width, height = _display_size(frame.width, frame.height, _aspect(stream), 0)
    scale = min(1.0, max(1, max_side) / max(width, height))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    try:
        rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
        pixels = rgb.to_ndarray()
    except (av.FFmpegError, ValueError) as exc:
        if _is_access_error(exc):
            raise
        raise MediaError(f"cannot convert the poster frame: {_short(exc)}") from exc
    return _upright(Image.fromarray(pixels), rotation)
