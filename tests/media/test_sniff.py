"""Content sniffing on real file heads and on crafted container headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon.media.sniff import SNIFF_BYTES, describe_head, sniff_bytes, sniff_file
from chronicon.types import MediaKind
from mediafactory import make_bmp, make_gif, make_heic, make_jpeg, make_mp4, make_png, make_tiff, make_webp


@pytest.mark.parametrize(
    ("maker", "name", "fmt"),
    [
        (make_jpeg, "a.jpg", "jpeg"),
        (make_png, "a.png", "png"),
        (make_gif, "a.gif", "gif"),
        (make_bmp, "a.bmp", "bmp"),
        (make_tiff, "a.tif", "tiff"),
        (make_webp, "a.webp", "webp"),
    ],
)
def test_real_image_heads(tmp_path: Path, maker: object, name: str, fmt: str) -> None:
    path = tmp_path / name
    maker(path)  # type: ignore[operator]
    found = sniff_file(str(path))
    assert found is not None and found.kind == MediaKind.IMAGE and found.format == fmt


def test_heic_head(tmp_path: Path) -> None:
    if not make_heic(tmp_path / "a.heic"):
        pytest.skip("pillow-heif cannot encode HEIC on this machine")
    found = sniff_file(str(tmp_path / "a.heic"))
    assert found is not None and (found.kind, found.format) == (MediaKind.IMAGE, "heif")


@pytest.mark.parametrize(("name", "fmt"), [("a.mp4", "mp4"), ("a.mov", "mov"), ("a.mkv", "matroska"), ("a.3gp", "3gp")])
def test_real_video_heads(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    make_mp4(path, seconds=0.3, audio=False, location=None)
    found = sniff_file(str(path))
    assert found is not None and (found.kind, found.format) == (MediaKind.VIDEO, fmt)


def test_a_jpeg_named_png_is_still_a_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "looks.png"
    make_jpeg(path)
    assert sniff_file(str(path)).format == "jpeg"  # type: ignore[union-attr]


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("head", "kind", "fmt"),
    [
        (_ftyp(b"heic", b"mif1", b"heic"), MediaKind.IMAGE, "heif"),
        (_ftyp(b"mif1", b"mif1", b"heic"), MediaKind.IMAGE, "heif"),
        (_ftyp(b"avif", b"avif", b"mif1"), MediaKind.IMAGE, "avif"),
        (_ftyp(b"qt  ", b"qt  "), MediaKind.VIDEO, "mov"),
        (_ftyp(b"3gp4", b"isom"), MediaKind.VIDEO, "3gp"),
        (_ftyp(b"M4V ", b"M4V ", b"mp42"), MediaKind.VIDEO, "m4v"),
        (_ftyp(b"isom", b"isom", b"mp41"), MediaKind.VIDEO, "mp4"),
        (_ftyp(b"mp42", b"mp42", b"isom"), MediaKind.VIDEO, "mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", MediaKind.VIDEO, "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", MediaKind.VIDEO, "webm"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", MediaKind.VIDEO, "avi"),
    ],
)
def test_crafted_container_heads(head: bytes, kind: MediaKind, fmt: str) -> None:
    found = sniff_bytes(head[:SNIFF_BYTES])
    assert found is not None and (found.kind, found.format) == (kind, fmt)


@pytest.mark.parametrize("head", [b"", b"BM is how this note starts, not a bitmap", b"hello world", b"\x00" * 64])
def test_non_media_is_none(head: bytes) -> None:
    assert sniff_bytes(head) is None


def test_describe_head() -> None:
    assert describe_head(b"not an image\n") == "text (starts 'not an image')"
    assert describe_head(b"\x00\x01\x02\xff").startswith("binary (starts 00 01 02 ff")
    assert describe_head(b"") == "empty"
