"""Real media files for tests, the demo and benchmarks: JPEGs with EXIF/GPS, PNG/HEIC/..., PyAV clips."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import ExifTags, Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

PathLike = str | os.PathLike[str]

_TAG = ExifTags.Base
_GPS = ExifTags.GPS


def _rational(value: float, denominator: int = 10000) -> IFDRational:
    frac = Fraction(value).limit_denominator(denominator)
    return IFDRational(frac.numerator, frac.denominator)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(round(seconds * 1000), 1000)


def picture(size: tuple[int, int], color: tuple[int, int, int], pattern: bool = True) -> Image.Image:
    """A solid colour with a gradient and a few shapes, so metrics have something to measure."""
    img = Image.new("RGB", size, color)
    if pattern:
        w, h = size
        ramp = np.linspace(0, 60, w, dtype=np.float32)[None, :, None]
        arr = np.clip(np.asarray(img, dtype=np.float32) + ramp, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        inverse = (255 - color[0], 255 - color[1], 255 - color[2])
        draw.rectangle((w // 5, h // 5, w // 2, h // 2), fill=inverse)
        draw.ellipse((w // 2, h // 3, w * 9 // 10, h * 9 // 10), outline=(0, 0, 0), width=max(1, w // 40))
    return img


def _apply(ifd: Any, overrides: Mapping[int, Any] | None) -> None:
    for tag, value in (overrides or {}).items():
        if value is None:
            ifd.pop(tag, None)
        else:
            ifd[tag] = value


def make_jpeg(
    path: PathLike,
    *,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    exif: bool = True,
    taken_at: str = "2021:07:04 15:30:00",
    offset: str | None = "+02:00",
    subsec: str | None = None,
    make: str = "Canon",
    model: str = "EOS R5",
    lens: str = "RF24-105mm F4 L IS USM",
    iso: int = 200,
    f_number: float = 4.0,
    exposure: float = 1 / 250,
    focal: float = 50.0,
    gps: tuple[float, float, float] | None = (52.5200, 13.4050, 34.0),
    orientation: int = 1,
    pattern: bool = True,
    quality: int = 90,
    ifd0: Mapping[int, Any] | None = None,
    exif_ifd: Mapping[int, Any] | None = None,
    gps_ifd: Mapping[int, Any] | None = None,
) -> None:
    """A JPEG with the EXIF a camera writes: date with offset, body, lens, exposure and a GPS fix.

    `size` is the stored (sensor) size; `orientation` is written as is, so 6 makes a portrait photo of a
    landscape-stored one. `ifd0`, `exif_ifd` and `gps_ifd` add or replace raw tags (None deletes one), for
    malformed or unusual EXIF.
    """
    img = picture(size, color, pattern)
    data = Image.Exif()
    if exif:
        data[_TAG.Make] = make
        data[_TAG.Model] = model
        data[_TAG.Orientation] = orientation
        data[_TAG.DateTime] = taken_at
        ifd = data.get_ifd(ExifTags.IFD.Exif)
        ifd[_TAG.DateTimeOriginal] = taken_at
        ifd[_TAG.DateTimeDigitized] = taken_at
        if offset:
            ifd[_TAG.OffsetTimeOriginal] = offset
        if subsec:
            ifd[_TAG.SubsecTimeOriginal] = subsec
        ifd[_TAG.ISOSpeedRatings] = iso
        ifd[_TAG.FNumber] = _rational(f_number)
        ifd[_TAG.ExposureTime] = _rational(exposure, 100000)
        ifd[_TAG.FocalLength] = _rational(focal)
        ifd[_TAG.LensModel] = lens
        _apply(ifd, exif_ifd)
        if gps is not None or gps_ifd:
            location = data.get_ifd(ExifTags.IFD.GPSInfo)
            if gps is not None:
                lat, lon, alt = gps
                location[_GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
                location[_GPS.GPSLatitude] = _dms(lat)
                location[_GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
                location[_GPS.GPSLongitude] = _dms(lon)
                location[_GPS.GPSAltitudeRef] = b"\x00" if alt >= 0 else b"\x01"
                location[_GPS.GPSAltitude] = _rational(abs(alt), 1000)
            _apply(location, gps_ifd)
        _apply(data, ifd0)
    img.save(path, "JPEG", quality=quality, exif=data.tobytes() if exif else b"")


def _grey_ramp(size: tuple[int, int], top: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    w, h = size
    return np.tile(np.linspace(0.0, top, w), (h, 1))


def make_png(path: PathLike, size: tuple[int, int] = (40, 30), mode: str = "RGBA") -> None:
    """A PNG in `mode`: RGBA (alpha ramps 0 → 255 left to right), RGB, L, LA, P (palette index 0 is
    transparent) or I;16 (a 16-bit grey ramp 0 → 65535)."""
    if mode == "I;16":
        Image.fromarray(_grey_ramp(size, 65535).astype(np.uint16)).save(path, "PNG")
        return
    img = picture(size, (30, 120, 220))
    if mode == "P":
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(path, "PNG", transparency=0)
        return
    img = img.convert(mode)
    if mode in ("RGBA", "LA"):
        img.putalpha(Image.fromarray(np.rint(_grey_ramp(size, 255)).astype(np.uint8)))
    img.save(path, "PNG")


def make_webp(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    picture(size, (250, 200, 0)).save(path, "WEBP", quality=80)


def make_gif(path: PathLike, size: tuple[int, int] = (40, 30), frames: int = 3) -> None:
    """An animated GIF whose first frame is mostly red-ish, later ones shift to blue."""
    images = [picture(size, (200 - i * 60, 40, 40 + i * 60)).convert("P") for i in range(frames)]
    images[0].save(path, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def make_bmp(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    picture(size, (90, 10, 160)).save(path, "BMP")


def make_tiff(path: PathLike, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> None:
    """A TIFF in `mode`: RGB, or F (32-bit float grey ramp 0.0 → 1.0), or I;16 (16-bit grey ramp)."""
    if mode == "F":
        Image.fromarray(_grey_ramp(size, 1.0).astype(np.float32)).save(path, "TIFF")
    elif mode == "I;16":
        Image.fromarray(_grey_ramp(size, 65535).astype(np.uint16)).save(path, "TIFF")
    else:
        picture(size, (10, 160, 90)).convert(mode).save(path, "TIFF")


def make_heic(path: PathLike, size: tuple[int, int] = (64, 48)) -> bool:
    """A HEIC photo when pillow-heif can encode here; False (and no file) when it cannot."""
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        picture(size, (120, 60, 200)).save(path, "HEIF", quality=80)
    except Exception:
        Path(path).unlink(missing_ok=True)
        return False
    return True


_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".3gp": "3gp", ".avi": "avi"}
_CUT_COLOURS = [(220, 40, 40), (40, 200, 60), (40, 80, 220), (230, 220, 40), (200, 60, 200), (60, 210, 210)]


def _write_tone(out: Any, stream: Any, seconds: float, rate: int, tone_hz: float) -> None:
    samples = round(seconds * rate)
    chunk = 1024
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        tt = np.arange(start, start + n, dtype=np.float64) / rate
        wave = (0.3 * np.sin(2 * np.pi * tone_hz * tt)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def make_mp4(
    path: PathLike,
    *,
    seconds: float = 2.0,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    audio: bool = True,
    tone_hz: float = 440.0,
    rotation: int = 0,
    creation_time: str | None = "2023-05-01T12:00:00Z",
    location: str | None = "+37.7749-122.4194+010.000/",
    cuts: Sequence[float] = (),
    codec: str = "h264",
    container_format: str | None = None,
    gop: int | None = None,
    faststart: bool = False,
    marker: bool = False,
    sample_rate: int = 16000,
    metadata: Mapping[str, str] | None = None,
    pixel_aspect: Fraction | None = None,
) -> None:
    """A yuv420p clip (container from the extension: .mp4, .mov, .mkv, ...) with a mono AAC sine tone.

    Frames are solid colours with a fine texture; the colour changes abruptly at each time in `cuts`
    (red, green, blue, yellow, ...). `rotation` is the display rotation in PyAV's convention
    (counter-clockwise degrees, what `read_video_metadata` reports; a phone held upright records 270).
    `marker` paints the top-left 1/4 × 1/4 of every stored frame white. `gop` forces a keyframe every
    `gop` frames and none at the cuts; `faststart` puts the MP4/MOV index (moov) before the data.
    `metadata` adds container tags (in MP4/MOV as QuickTime "mdta" keys, the way iPhones write
    com.apple.quicktime.creationdate and com.apple.quicktime.location.ISO6709). `pixel_aspect` is the
    sample aspect ratio of anamorphic video (2 shows a 64×48 frame as 128×48).
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = container_format or _CONTAINERS.get(ext, "mp4")
    width, height = size
    flags = (["faststart"] if faststart else []) + (["use_metadata_tags"] if metadata else [])
    options = {"movflags": "+".join(flags)} if flags and fmt in ("mp4", "mov") else {}
    out = av.open(os.fspath(path), mode="w", format=fmt, options=options)
    try:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        if location:
            out.metadata["location"] = location
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        vstream: Any = out.add_stream(codec, rate=fps)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        if pixel_aspect is not None:
            vstream.codec_context.sample_aspect_ratio = Fraction(pixel_aspect)
        if gop:
            vstream.codec_context.gop_size = gop
            if vstream.codec_context.name == "libx264":
                vstream.options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        if rotation:
            vstream.set_display_rotation(rotation)
        astream = out.add_stream("aac", rate=sample_rate, layout="mono") if audio else None
        frames = max(1, round(seconds * fps))
        texture = (np.indices((height, width)).sum(axis=0) % 16 * 4).astype(np.int16)[..., None]
        for i in range(frames):
            t = i / fps
            shot = sum(1 for c in cuts if t >= c - 1e-9)
            base = np.array(_CUT_COLOURS[shot % len(_CUT_COLOURS)], dtype=np.int16)
            arr = np.clip(base[None, None, :] + texture + (i % 5), 0, 255).astype(np.uint8)
            if marker:
                arr[: max(1, height // 4), : max(1, width // 4)] = 255
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            frame.pts = i
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        if astream is not None:
            _write_tone(out, astream, seconds, sample_rate, tone_hz)
    finally:
        out.close()


def make_audio_only(path: PathLike, *, seconds: float = 1.0, tone_hz: float = 440.0) -> None:
    """An AAC tone in an MP4 container (.m4a or .mp4): a media container without any video stream."""
    out = av.open(os.fspath(path), mode="w", format="mp4")
    try:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        _write_tone(out, stream, seconds, 16000, tone_hz)
    finally:
        out.close()


def _top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        if size < 8:
            break
        boxes.append((kind, pos, size))
        pos += size
    return boxes


def make_no_frames(path: PathLike, *, seconds: float = 2.0) -> None:
    """An MP4 whose index declares a video stream of `seconds` but whose media data is gone: the header
    reads fine, no frame can be decoded (a download cut short right after a "fast start" index)."""
    make_mp4(path, seconds=seconds, audio=False, faststart=True)
    data = Path(path).read_bytes()
    mdat = next(pos for kind, pos, _ in _top_level_boxes(data) if kind == b"mdat")
    Path(path).write_bytes(data[: mdat + 8])


def make_truncated(src: PathLike, dst: PathLike, keep_fraction: float = 0.5) -> None:
    """The first `keep_fraction` of `src`'s bytes (at least one) written to `dst`."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * keep_fraction))])


def make_text_as(path: PathLike, text: str = "not an image, just some notes\n") -> None:
    Path(path).write_text(text)


def make_bomb_png(path: PathLike, width: int = 30000, height: int = 30000) -> None:
    """A small PNG whose header declares width×height pixels (the data after it does not match)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    # IHDR: 8-byte signature, 4-byte length, "IHDR", then width, height (big-endian), ..., CRC.
    ihdr_start = 8 + 4
    body = bytearray(data[ihdr_start : ihdr_start + 4 + 13])
    body[4:8] = struct.pack(">I", width)
    body[8:12] = struct.pack(">I", height)
    data[ihdr_start : ihdr_start + 17] = body
    data[ihdr_start + 17 : ihdr_start + 21] = struct.pack(">I", zlib.crc32(bytes(body)) & 0xFFFFFFFF)
    Path(path).write_bytes(bytes(data))


def make_slideshow(
    path: PathLike,
    pictures: Sequence[PathLike],
    *,
    seconds_each: float = 2.0,
    fps: int = 12,
    size: tuple[int, int] = (320, 240),
    gop: int | None = None,
) -> list[float]:
    """An H.264 clip showing each picture for `seconds_each` (hard cuts between them); returns the cut times."""
    from PIL import Image

    width, height = size
    out = av.open(os.fspath(path), mode="w")
    cuts: list[float] = []
    try:
        stream: Any = out.add_stream("h264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        index = 0
        for n, picture in enumerate(pictures):
            if n:
                cuts.append(index / fps)
            arr = np.asarray(Image.open(picture).convert("RGB").resize((width, height)))
            for _ in range(round(seconds_each * fps)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                frame.pts = index
                index += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
    return cuts


def espeak_available() -> bool:
    import shutil

    return shutil.which("espeak-ng") is not None


def make_speech_audio(text: str, wav: PathLike) -> None:
    """Speech synthesised by Debian's espeak-ng (the caller skips when it is not installed)."""
    import subprocess

    subprocess.run(["espeak-ng", "-w", os.fspath(wav), text], check=True, capture_output=True)


def add_audio(video: PathLike, wav: PathLike, out: PathLike, *, start: float = 1.0) -> float:
    """Copy `video`'s frames into `out` with the speech of `wav` starting at `start` seconds (silence before
    it) as 16 kHz mono AAC; returns when the speech ends."""
    src = av.open(os.fspath(video))
    speech = av.open(os.fspath(wav))
    dst = av.open(os.fspath(out), mode="w")
    try:
        vin = src.streams.video[0]
        vout: Any = dst.add_stream("h264", rate=vin.average_rate or 10)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        aout: Any = dst.add_stream("aac", rate=16000, layout="mono")
        for frame in src.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in vout.encode(frame):
                dst.mux(packet)
        for packet in vout.encode():
            dst.mux(packet)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
        silence = av.AudioFrame.from_ndarray(
            np.zeros((1, int(start * 16000)), np.float32), format="fltp", layout="mono"
        )
        silence.sample_rate, silence.pts = 16000, 0
        pts = silence.samples
        for packet in aout.encode(silence):
            dst.mux(packet)
        for frame in speech.decode(speech.streams.audio[0]):
            for chunk in resampler.resample(frame):
                chunk.pts = pts
                pts += chunk.samples
                for packet in aout.encode(chunk):
                    dst.mux(packet)
        for packet in aout.encode():
            dst.mux(packet)
    finally:
        dst.close()
        src.close()
        speech.close()
    return pts / 16000
