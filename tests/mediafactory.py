"""Real media files for tests, the demo and benchmarks: JPEGs with EXIF/GPS, PNG/HEIC/..., PyAV-written clips."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

PathLike = str | os.PathLike[str]


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
        draw.rectangle((w // 5, h // 5, w // 2, h // 2), fill=(255 - color[0], 255 - color[1], 255 - color[2]))
        draw.ellipse((w // 2, h // 3, w * 9 // 10, h * 9 // 10), outline=(0, 0, 0), width=max(1, w // 40))
    return img


def make_jpeg(
    path: PathLike,
    *,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    exif: bool = True,
    taken_at: str = "2021:07:04 15:30:00",
    offset: str | None = "+02:00",
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
) -> None:
    """A JPEG with the EXIF a camera writes: date with offset, body, lens, exposure and a GPS fix."""
    img = picture(size, color, pattern)
    data = Image.Exif()
    if exif:
        data[0x010F] = make
        data[0x0110] = model
        data[0x0112] = orientation
        data[0x0132] = taken_at
        ifd = data.get_ifd(0x8769)
        ifd[0x9003] = taken_at  # DateTimeOriginal
        ifd[0x9004] = taken_at  # DateTimeDigitized
        if offset:
            ifd[0x9011] = offset  # OffsetTimeOriginal
        ifd[0x8827] = iso
        ifd[0x829D] = _rational(f_number)
        ifd[0x829A] = _rational(exposure, 100000)
        ifd[0x920A] = _rational(focal)
        ifd[0xA434] = lens
        if gps is not None:
            lat, lon, alt = gps
            gps_ifd = data.get_ifd(0x8825)
            gps_ifd[1] = "N" if lat >= 0 else "S"
            gps_ifd[2] = _dms(lat)
            gps_ifd[3] = "E" if lon >= 0 else "W"
            gps_ifd[4] = _dms(lon)
            gps_ifd[5] = b"\x00" if alt >= 0 else b"\x01"
            gps_ifd[6] = _rational(abs(alt), 1000)
    img.save(path, "JPEG", quality=quality, exif=data.tobytes() if exif else b"")


def make_png(path: PathLike, size: tuple[int, int] = (40, 30), mode: str = "RGBA") -> None:
    img = picture(size, (30, 120, 220)).convert(mode)
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").resize(size)
        img.putalpha(alpha)
    img.save(path, "PNG")


def make_webp(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    picture(size, (250, 200, 0)).save(path, "WEBP", quality=80)


def make_gif(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    frames = [picture(size, (i * 60, 100, 200 - i * 60)).convert("P") for i in range(3)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def make_bmp(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    picture(size, (90, 10, 160)).save(path, "BMP")


def make_tiff(path: PathLike, size: tuple[int, int] = (40, 30)) -> None:
    picture(size, (10, 160, 90)).save(path, "TIFF")


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
) -> None:
    """An H.264 clip (any container from the extension) with hard cuts at `cuts` and a sine tone."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = container_format or _CONTAINERS.get(ext, "mp4")
    width, height = size
    out = av.open(os.fspath(path), mode="w", format=fmt)
    if creation_time:
        out.metadata["creation_time"] = creation_time
    if location:
        out.metadata["location"] = location
    vstream = out.add_stream(codec, rate=fps)
    vstream.width, vstream.height = width, height
    vstream.pix_fmt = "yuv420p"
    if rotation:
        vstream.set_display_rotation(rotation)
    astream = None
    if audio:
        astream = out.add_stream("aac", rate=16000, layout="mono")
    frames = max(1, round(seconds * fps))
    texture = (np.indices((height, width)).sum(axis=0) % 16 * 4).astype(np.uint8)[..., None]
    for i in range(frames):
        t = i / fps
        shot = sum(1 for c in cuts if t >= c)
        base = np.array(_CUT_COLOURS[shot % len(_CUT_COLOURS)], dtype=np.uint8)
        arr = np.clip(base[None, None, :].astype(np.int16) + texture + (i % 5), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        frame.pts = i
        for packet in vstream.encode(frame):
            out.mux(packet)
    for packet in vstream.encode():
        out.mux(packet)
    if astream is not None:
        rate = 16000
        samples = int(seconds * rate)
        chunk = 1024
        for start in range(0, samples, chunk):
            n = min(chunk, samples - start)
            tt = (np.arange(start, start + n) / rate).astype(np.float32)
            wave = (0.3 * np.sin(2 * np.pi * tone_hz * tt)).astype(np.float32)[None, :]
            aframe = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            aframe.sample_rate = rate
            aframe.pts = start
            for packet in astream.encode(aframe):
                out.mux(packet)
        for packet in astream.encode():
            out.mux(packet)
    out.close()


def make_truncated(src: PathLike, dst: PathLike, keep_fraction: float = 0.5) -> None:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * keep_fraction))])


def make_text_as(path: PathLike, text: str = "not an image, just some notes\n") -> None:
    Path(path).write_text(text)


def make_bomb_png(path: PathLike, width: int = 30000, height: int = 30000) -> None:
    """A small PNG whose header declares width×height pixels (the data after it does not match)."""
    import io

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
