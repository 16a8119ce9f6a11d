"""Content sniffing on heads of real files written by Pillow, pillow-heif and PyAV, and on crafted headers."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, features

from chronicon.media.sniff import (
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    SNIFF_BYTES,
    VIDEO_EXTENSIONS,
    Sniffed,
    describe_head,
    sniff_bytes,
    sniff_file,
)
from chronicon.types import MediaKind

IMAGE = MediaKind.IMAGE
VIDEO = MediaKind.VIDEO


def _picture(mode: str = "RGB") -> Image.Image:
    return Image.new("RGB", (16, 12), (200, 40, 90)).convert(mode)


def _save(fmt: str, mode: str = "RGB", **params: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        _picture(mode).save(path, fmt, **params)

    return write


def _video_codec(*names: str) -> str | None:
    for name in names:
        try:
            av.codec.Codec(name, "w")
        except Exception:
            continue
        return name
    return None


def _write_video(path: Path, codec: str) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), i * 60, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free\x00\x00\x01\x00mdat"


def _bmp_header(dib: int, reserved: bytes = b"\x00" * 4) -> bytes:
    return (
        b"BM"
        + (1000).to_bytes(4, "little")
        + reserved
        + (14 + dib).to_bytes(4, "little")
        + dib.to_bytes(4, "little")
        + b"\x10\x00\x00\x00" * 4
    )


def _sniffed(path: Path) -> tuple[MediaKind, str] | None:
    found = sniff_file(path)
    return None if found is None else (found.kind, found.format)


# --- real files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "name", "fmt"),
    [
        (_save("JPEG"), "a.jpg", "jpeg"),
        (_save("JPEG", "L"), "grey.jpg", "jpeg"),
        (_save("PNG"), "a.png", "png"),
        (_save("PNG", "RGBA"), "alpha.png", "png"),
        (_save("GIF"), "a.gif", "gif"),
        (_save("BMP"), "a.bmp", "bmp"),
        (_save("BMP", "RGBA"), "alpha.bmp", "bmp"),
        (_save("BMP", "1"), "mono.bmp", "bmp"),
        (_save("TIFF"), "a.tif", "tiff"),
        (_save("TIFF", compression="tiff_deflate"), "deflate.tiff", "tiff"),
        (_save("WEBP"), "a.webp", "webp"),
        (_save("WEBP", lossless=True), "lossless.webp", "webp"),
    ],
)
def test_real_image_heads(tmp_path: Path, writer: Callable[[Path], None], name: str, fmt: str) -> None:
    path = tmp_path / name
    writer(path)
    assert _sniffed(path) == (IMAGE, fmt)


def test_big_endian_tiff(tmp_path: Path) -> None:
    path = tmp_path / "be.tif"
    path.write_bytes(b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 40)
    assert _sniffed(path) == (IMAGE, "tiff")
    assert sniff_bytes(b"II+\x00\x08\x00\x00\x00" + b"\x00" * 8) == Sniffed(IMAGE, "tiff")  # BigTIFF


def test_real_heic(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("encoders"):
        pytest.skip("this libheif build has no HEVC encoder")
    path = tmp_path / "a.heic"
    pillow_heif.from_pillow(_picture()).save(str(path), quality=50)
    assert path.read_bytes()[8:12] == b"heic"  # major "heic", compatible "mif1heic..." like an iPhone's
    assert _sniffed(path) == (IMAGE, "heif")


def test_real_avif(tmp_path: Path) -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow build cannot write AVIF")
    path = tmp_path / "a.avif"
    _picture().save(path, "AVIF")
    assert _sniffed(path) == (IMAGE, "avif")


@pytest.mark.parametrize(
    ("name", "codecs", "fmt"),
    [
        ("a.mp4", ("libx264", "h264", "mpeg4"), "mp4"),
        ("a.m4v", ("libx264", "h264", "mpeg4"), "m4v"),
        ("a.mov", ("libx264", "h264", "mpeg4"), "mov"),
        ("a.mkv", ("libx264", "h264", "mpeg4"), "matroska"),
        ("a.webm", ("libvpx-vp9", "libvpx", "vp9", "vp8"), "webm"),
        ("a.avi", ("mpeg4",), "avi"),
        ("a.3gp", ("mpeg4", "h263"), "3gp"),
        ("a.3g2", ("mpeg4", "h263"), "3gp"),
    ],
)
def test_real_video_heads(tmp_path: Path, name: str, codecs: tuple[str, ...], fmt: str) -> None:
    codec = _video_codec(*codecs)
    if codec is None:
        pytest.skip(f"PyAV has none of the encoders {codecs}")
    path = tmp_path / name
    _write_video(path, codec)
    assert _sniffed(path) == (VIDEO, fmt)


def test_quicktime_without_ftyp(tmp_path: Path) -> None:
    """Old QuickTime files start with a wide/mdat/moov atom: take a real .mov and drop its ftyp box."""
    codec = _video_codec("libx264", "h264", "mpeg4")
    if codec is None:
        pytest.skip("no H.264/MPEG-4 encoder in PyAV")
    path = tmp_path / "a.mov"
    _write_video(path, codec)
    data = path.read_bytes()
    legacy = tmp_path / "legacy.mov"
    legacy.write_bytes(data[int.from_bytes(data[:4], "big") :])
    assert legacy.read_bytes()[4:8] in (b"wide", b"mdat", b"moov", b"free")
    assert _sniffed(legacy) == (VIDEO, "mov")


def test_content_wins_over_extension(tmp_path: Path) -> None:
    path = tmp_path / "looks.png"
    _picture().save(path, "JPEG")
    assert _sniffed(path) == (IMAGE, "jpeg")
    text = tmp_path / "fake.jpg"
    text.write_text("not an image at all\n")
    assert sniff_file(str(text)) is None


def test_sniff_file_reads_only_the_head_and_propagates_oserror(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 1_000_000)
    assert sniff_file(str(path)) == Sniffed(IMAGE, "jpeg")
    with pytest.raises(FileNotFoundError):
        sniff_file(tmp_path / "missing.jpg")
    with pytest.raises(IsADirectoryError):
        sniff_file(tmp_path)


# --- crafted ISO-BMFF, QuickTime, Matroska, RIFF --------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        # HEIF family: iPhone, Samsung/Android, Canon .hif, sequences, and MIAF-only majors.
        (_ftyp(b"heic", b"mif1", b"heic"), (IMAGE, "heif")),
        (_ftyp(b"mif1", b"mif1", b"heic", b"miaf"), (IMAGE, "heif")),
        (_ftyp(b"heix", b"mif1", b"heix", b"miaf"), (IMAGE, "heif")),
        (_ftyp(b"msf1", b"msf1", b"hevc"), (IMAGE, "heif")),
        (_ftyp(b"hevc", b"msf1", b"hevc"), (IMAGE, "heif")),
        (_ftyp(b"heim", b"mif1"), (IMAGE, "heif")),
        (_ftyp(b"heis", b"mif1"), (IMAGE, "heif")),
        (_ftyp(b"hevx"), (IMAGE, "heif")),
        (_ftyp(b"hevm"), (IMAGE, "heif")),
        (_ftyp(b"hevs"), (IMAGE, "heif")),
        # A mif1 major stays an image even when a video brand is listed as compatible.
        (_ftyp(b"mif1", b"mif1", b"isom", b"mp42"), (IMAGE, "heif")),
        # AVIF, still and sequence, and a mif1 major whose only codec brand is avif.
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf", b"MA1B"), (IMAGE, "avif")),
        (_ftyp(b"avis", b"avis", b"msf1", b"miaf"), (IMAGE, "avif")),
        (_ftyp(b"mif1", b"mif1", b"avif", b"miaf"), (IMAGE, "avif")),
        # Video brands.
        (_ftyp(b"qt  ", b"qt  "), (VIDEO, "mov")),
        (_ftyp(b"3gp4", b"isom"), (VIDEO, "3gp")),
        (_ftyp(b"3gp6", b"3gp6", b"isom"), (VIDEO, "3gp")),
        (_ftyp(b"3g2a", b"3g2a"), (VIDEO, "3gp")),
        (_ftyp(b"M4V ", b"M4V ", b"mp42"), (VIDEO, "m4v")),
        (_ftyp(b"M4VH", b"M4VH"), (VIDEO, "m4v")),
        (_ftyp(b"M4VP", b"M4VP"), (VIDEO, "m4v")),
        (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), (VIDEO, "mp4")),
        (_ftyp(b"iso5", b"iso5", b"dash"), (VIDEO, "mp4")),
        (_ftyp(b"mp41", b"mp41"), (VIDEO, "mp4")),
        (_ftyp(b"mp42", b"mp42", b"isom"), (VIDEO, "mp4")),
        (_ftyp(b"avc1", b"isom"), (VIDEO, "mp4")),
        (_ftyp(b"dash", b"iso6"), (VIDEO, "mp4")),
        (_ftyp(b"mmp4", b"mmp4"), (VIDEO, "mp4")),
        (_ftyp(b"MSNV", b"MSNV", b"isom"), (VIDEO, "mp4")),
        (_ftyp(b"f4v ", b"isom"), (VIDEO, "mp4")),
        (_ftyp(b"XAVC", b"XAVC", b"mp42", b"iso2"), (VIDEO, "mp4")),
        # An unknown (camera-specific) major brand falls back on the compatible ones.
        (_ftyp(b"abcd", b"abcd", b"qt  "), (VIDEO, "mov")),
        (_ftyp(b"abcd", b"mp42", b"isom"), (VIDEO, "mp4")),
        (_ftyp(b"abcd", b"mif1", b"heic"), (IMAGE, "heif")),
        # QuickTime without ftyp.
        (b"\x00\x00\x00\x08wide\x00\x00\x03\x01mdat", (VIDEO, "mov")),
        (b"\x00\x00\x10\x00moov\x00\x00\x00\x6cmvhd", (VIDEO, "mov")),
        (b"\x00\x00\x01\x00mdat" + b"\x00" * 32, (VIDEO, "mov")),
        (b"\x00\x00\x00\x10free" + b"\x00" * 8 + b"\x00\x00\x00\x08moov", (VIDEO, "mov")),
        (b"\x00\x00\x00\x14pnot\x00\x00\x00\x00", (VIDEO, "mov")),
        (b"\x00\x00\x00\x08skip\x00\x00\x00\x08moov", (VIDEO, "mov")),
        # Matroska/WebM by the EBML DocType.
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x02", (VIDEO, "webm")),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska\x42\x87\x81\x04", (VIDEO, "matroska")),
        # An 8-byte header size (some muxers) and a DocType after the other header elements.
        (
            b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x23\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81"
            b"\x04\x42\xf3\x81\x08\x42\x82\x84webm",
            (VIDEO, "webm"),
        ),
        # EBML magic only: Matroska unless "webm" shows in the head.
        (b"\x1a\x45\xdf\xa3", (VIDEO, "matroska")),
        # RIFF.
        (b"RIFF\x00\x10\x00\x00WEBPVP8 ", (IMAGE, "webp")),
        (b"RIFF\x00\x10\x00\x00AVI LIST", (VIDEO, "avi")),
    ],
)
def test_crafted_heads(head: bytes, expected: tuple[MediaKind, str]) -> None:
    found = sniff_bytes(head[:SNIFF_BYTES])
    assert found is not None and (found.kind, found.format) == expected


def test_brands_beyond_the_sniffed_head_do_not_crash() -> None:
    head = _ftyp(b"isom", *([b"iso2"] * 40))
    assert len(head) > SNIFF_BYTES
    assert sniff_bytes(head[:SNIFF_BYTES]) == Sniffed(VIDEO, "mp4")


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8",  # cut-off JPEG signature
        b"\x89PNG\r\n",
        b"GIF88a" + b"\x00" * 10,
        b"BM is how this note starts, not a bitmap at all",
        b"BMP files are described in this README.\n" * 2,
        _bmp_header(41),  # not a real DIB header size
        _bmp_header(40, reserved=b"ab\x00\x00")[:10] + b"\x00\x00\x00\x00" + (40).to_bytes(4, "little"),
        b"hello world",
        b"\x00" * 64,
        b"RIFF\x00\x10\x00\x00WAVEfmt ",  # audio
        _ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"),  # AAC audio in an MP4 box
        _ftyp(b"abcd", b"efgh"),  # unknown brands only
        b"\x00\x00\x00\x03wide\x00\x00",  # impossible atom size
        b"\x00\x00\x00\x08free\x00\x00\x00\x10\x01\x02\x03\x04",  # padding atom followed by garbage
        b"%PDF-1.7\n",
        b"PK\x03\x04\x14\x00",
    ],
)
def test_non_media_is_none(head: bytes) -> None:
    assert sniff_bytes(head) is None


@pytest.mark.parametrize("dib", [12, 40, 56, 108, 124])
def test_bmp_header_variants(dib: int) -> None:
    assert sniff_bytes(_bmp_header(dib)) == Sniffed(IMAGE, "bmp")


def test_every_prefix_of_a_real_head_is_handled(tmp_path: Path) -> None:
    heads = [_ftyp(b"heic", b"mif1", b"heic"), _ftyp(b"qt  ", b"qt  "), _bmp_header(40)]
    for fmt in ("JPEG", "PNG", "GIF", "TIFF", "WEBP"):
        buf = io.BytesIO()
        _picture().save(buf, fmt)
        heads.append(buf.getvalue())
    heads.append(b"\x1a\x45\xdf\xa3\x01\x00\x00\x00\x00\x00\x00\x23\x42\x86\x81\x01\x42\x82\x84webm")
    for head in heads:
        for end in range(SNIFF_BYTES + 1):
            result = sniff_bytes(head[:end])
            assert result is None or isinstance(result, Sniffed)


# --- extensions and descriptions -------------------------------------------------------------------------


def test_extension_sets() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp"} <= IMAGE_EXTENSIONS
    assert {".heic", ".heif", ".hif", ".avif"} <= IMAGE_EXTENSIONS
    assert {".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".3gp", ".3g2"} <= VIDEO_EXTENSIONS
    assert not IMAGE_EXTENSIONS & VIDEO_EXTENSIONS
    assert MEDIA_EXTENSIONS == IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in MEDIA_EXTENSIONS)


def test_describe_head() -> None:
    assert describe_head(b"not an image\n") == "text (starts 'not an image')"
    assert describe_head(b"\x00\x01\x02\xff\x10\x20\x30\x40\x50") == "binary (starts 00 01 02 ff 10 20 30 40 ...)"
    assert describe_head(b"\x00\x01\x02") == "binary (starts 00 01 02)"
    assert describe_head(b"") == "empty"
    assert describe_head(b"\x00" * 64) == "binary (all 64 bytes zero)"
    assert describe_head("café crème".encode()[:9]) == "text (starts 'café cr')"  # cut mid-character
    assert describe_head(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3").startswith("PDF document (starts 25 50 44 46")
    assert describe_head(b"PK\x03\x04\x14\x00").startswith("ZIP archive (starts 50 4b 03 04")
    assert describe_head(_ftyp(b"M4A ", b"M4A ")).startswith("MPEG-4 audio")
    long = describe_head(b"x" * 200)
    assert long == f"text (starts {'x' * 32!r})"
