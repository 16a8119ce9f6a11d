"""Video metadata and poster frames through PyAV on clips written with PyAV."""

from __future__ import annotations

import contextlib
import struct
import time
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from chronicon.errors import MediaError
from chronicon.media.video import read_poster_frame, read_video_metadata
from mediafactory import make_audio_only, make_mp4, make_no_frames, make_truncated

KEYS = {
    "format",
    "duration",
    "fps",
    "width",
    "height",
    "rotation",
    "video_codec",
    "audio_codec",
    "bitrate",
    "has_audio",
    "taken_at",
    "taken_at_source",
    "taken_at_offset",
    "gps_lat",
    "gps_lon",
    "gps_alt",
}


def _is_white(pixel: tuple[int, ...]) -> bool:
    return min(pixel[:3]) > 200


def _tkhd_matrix(path: Path) -> tuple[float, float, float, float]:
    """a, b, c, d of the first track header's display matrix (16.16 fixed point)."""
    data = path.read_bytes()
    at = data.index(b"tkhd") + 4
    version = data[at]
    matrix = at + 4 + (32 if version == 1 else 20) + 8 + 8
    a, b, _, c, d = struct.unpack(">5i", data[matrix : matrix + 20])
    return a / 65536, b / 65536, c / 65536, d / 65536


@pytest.mark.parametrize(("name", "fmt"), [("a.mp4", "mov"), ("a.mov", "mov"), ("a.mkv", "matroska")])
def test_metadata(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    make_mp4(path, seconds=2.0, fps=10, size=(64, 48))
    meta = read_video_metadata(str(path))
    assert set(meta) == KEYS
    assert meta["format"] == fmt  # FFmpeg's demuxer "mov,mp4,m4a,3gp,3g2,mj2" reads MP4 too
    assert meta["duration"] == pytest.approx(2.0, abs=0.1)  # Matroska counts the AAC priming: 2.064
    assert meta["fps"] == pytest.approx(10.0)
    assert (meta["width"], meta["height"], meta["rotation"]) == (64, 48, 0)
    assert meta["video_codec"] == "h264" and meta["audio_codec"] == "aac" and meta["has_audio"] is True
    assert isinstance(meta["bitrate"], int) and meta["bitrate"] > 0
    assert meta["taken_at"] == "2023-05-01T05:00:00-07:00"  # creation_time is UTC: shown as San Francisco's time
    assert meta["gps_lat"] == pytest.approx(37.7749) and meta["gps_lon"] == pytest.approx(-122.4194)
    assert meta["gps_alt"] == pytest.approx(10.0)


def test_quicktime_keys_keep_the_local_offset(tmp_path: Path) -> None:
    path = tmp_path / "iphone.mov"
    make_mp4(
        path,
        audio=False,
        location=None,
        metadata={
            "com.apple.quicktime.creationdate": "2023-05-01T14:00:00+0200",
            "com.apple.quicktime.location.ISO6709": "-33.8568+151.2153+005.500/",
        },
    )
    meta = read_video_metadata(str(path))
    assert meta["taken_at"] == "2023-05-01T14:00:00+02:00"  # preferred over creation_time (UTC)
    assert (meta["gps_lat"], meta["gps_lon"], meta["gps_alt"]) == (-33.8568, 151.2153, 5.5)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("+48.8583+002.2945/", (48.8583, 2.2945, None)),  # no altitude (Android)
        ("-22.95191+043.21050-004.25CRSWGS_84/", (-22.95191, 43.2105, -4.25)),
        ("+91.0000-000.0000/", (None, None, None)),  # impossible latitude
        ("somewhere", (None, None, None)),
    ],
)
def test_iso6709_forms(tmp_path: Path, location: str, expected: tuple[float | None, ...]) -> None:
    path = tmp_path / "a.mkv"  # Matroska keeps the tag as written (the MP4 muxer rewrites it to 4 decimals)
    make_mp4(path, seconds=0.3, audio=False, location=location, creation_time="1904-01-01T00:00:00Z")
    meta = read_video_metadata(str(path))
    assert (meta["gps_lat"], meta["gps_lon"], meta["gps_alt"]) == expected
    assert meta["taken_at"] is None  # the QuickTime epoch zero means "unknown"


def test_no_audio_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    make_mp4(path, audio=False, rotation=90, size=(64, 48), location=None, creation_time=None)
    meta = read_video_metadata(str(path))
    assert meta["has_audio"] is False and meta["audio_codec"] is None
    assert meta["rotation"] == 90 and (meta["width"], meta["height"]) == (48, 64)
    assert meta["gps_lat"] is None and meta["taken_at"] is None
    poster = read_poster_frame(str(path))
    assert poster.size == (48, 64)  # upright: tall


@pytest.mark.parametrize(
    ("rotation", "reported", "size", "marker_corner"),
    [
        (0, 0, (64, 48), (0, 0)),
        (90, 90, (48, 64), (0, 63)),  # a counter-clockwise quarter turn: top-left goes bottom-left
        (-90, 270, (48, 64), (47, 0)),  # a phone held upright: clockwise, top-left goes top-right
        (180, 180, (64, 48), (63, 47)),
    ],
)
def test_rotation_conventions(
    tmp_path: Path, rotation: int, reported: int, size: tuple[int, int], marker_corner: tuple[int, int]
) -> None:
    path = tmp_path / f"r{rotation}.mov"
    make_mp4(path, seconds=0.5, audio=False, rotation=rotation, size=(64, 48), marker=True)
    meta = read_video_metadata(str(path))
    assert meta["rotation"] == reported and (meta["width"], meta["height"]) == size
    poster = read_poster_frame(str(path), at_fraction=0.0)
    assert poster.size == size
    corners = [(0, 0), (size[0] - 1, 0), (0, size[1] - 1), (size[0] - 1, size[1] - 1)]
    white = [corner for corner in corners if _is_white(poster.getpixel(corner))]  # type: ignore[arg-type]
    assert white == [marker_corner]


def test_phone_portrait_matrix_is_the_one_quicktime_players_turn_clockwise(tmp_path: Path) -> None:
    """An iPhone's portrait clip carries tkhd matrix (a, b, c, d) = (0, 1, -1, 0), which QuickTime and
    exiftool show as "Rotation 90" (clockwise). PyAV calls that -90, and we report it as 270."""
    path = tmp_path / "portrait.mov"
    make_mp4(path, seconds=0.3, audio=False, rotation=-90)
    assert _tkhd_matrix(path) == (0.0, 1.0, -1.0, 0.0)
    assert read_video_metadata(str(path))["rotation"] == 270


def test_anamorphic_pixels_give_the_display_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.mkv"
    make_mp4(path, seconds=0.3, audio=False, size=(64, 48), pixel_aspect=Fraction(2))
    meta = read_video_metadata(str(path))
    assert (meta["width"], meta["height"]) == (128, 48)
    assert read_poster_frame(str(path)).size == (128, 48)


def test_poster_is_taken_from_the_right_shot(tmp_path: Path) -> None:
    path = tmp_path / "cuts.mp4"
    make_mp4(path, seconds=3.0, fps=10, size=(64, 48), cuts=[1.0, 2.0])
    first = read_poster_frame(str(path), at_fraction=0.1).getpixel((2, 2))
    middle = read_poster_frame(str(path), at_fraction=0.5).getpixel((2, 2))
    last = read_poster_frame(str(path), at_fraction=0.9).getpixel((2, 2))
    assert first[0] > 150 and first[1] < 120  # type: ignore[index]  # red shot
    assert middle[1] > 150 and middle[0] < 120  # type: ignore[index]  # green shot
    assert last[2] > 150 and last[0] < 120  # type: ignore[index]  # blue shot
    poster = read_poster_frame(str(path), max_side=32)
    assert isinstance(poster, Image.Image) and poster.mode == "RGB" and poster.size == (32, 24)
    assert read_poster_frame(str(path), max_side=4096).size == (64, 48)  # never upscaled


def test_poster_decodes_at_most_about_two_seconds_past_the_keyframe(tmp_path: Path) -> None:
    # One keyframe at 0 s for 6 s of video: reaching 5.4 s would mean decoding 54 frames. The search stops
    # 2 s in and keeps that frame, which lies in the green shot (1.0 - 2.5 s), not the blue one.
    path = tmp_path / "long_gop.mp4"
    make_mp4(path, seconds=6.0, fps=10, audio=False, cuts=[1.0, 2.5], gop=60)
    red, green, blue = read_poster_frame(str(path), at_fraction=0.9).getpixel((2, 2))  # type: ignore[misc]
    assert green > 150 and red < 120 and blue < 120


def test_poster_past_the_end_and_odd_fractions(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    make_mp4(path, seconds=1.0)
    for fraction in (0.0, 1.0, 1.5, -3.0, float("nan")):
        assert read_poster_frame(str(path), at_fraction=fraction).size == (64, 48)


def test_truncated_videos(tmp_path: Path) -> None:
    # The muxer writes the index (moov) last: without it nothing can be read.
    whole = tmp_path / "whole.mp4"
    make_mp4(whole, seconds=2.0)
    make_truncated(whole, tmp_path / "cut.mp4", keep_fraction=0.5)
    with pytest.raises(MediaError, match=r"^not a readable video: Invalid data found"):
        read_video_metadata(str(tmp_path / "cut.mp4"))
    with pytest.raises(MediaError, match=r"^not a readable video"):
        read_poster_frame(str(tmp_path / "cut.mp4"))
    # With the index first ("fast start") the header survives: metadata as declared, and a poster from
    # the part that is there (the seek target is gone, so the first frame).
    faststart = tmp_path / "faststart.mp4"
    make_mp4(faststart, seconds=2.0, size=(96, 64), faststart=True)
    make_truncated(faststart, tmp_path / "cut_fs.mp4", keep_fraction=0.6)
    meta = read_video_metadata(str(tmp_path / "cut_fs.mp4"))
    assert meta["duration"] == pytest.approx(2.0, abs=0.1) and (meta["width"], meta["height"]) == (96, 64)
    assert read_poster_frame(str(tmp_path / "cut_fs.mp4"), at_fraction=0.9).size == (96, 64)


def test_a_video_stream_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "no_frames.mp4"
    make_no_frames(path)
    with pytest.raises(MediaError, match=r"^no decodable video frame"):
        read_video_metadata(str(path))
    with pytest.raises(MediaError, match=r"^no decodable video frame"):
        read_poster_frame(str(path))


def test_audio_only_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "song.m4a"
    make_audio_only(path)
    with pytest.raises(MediaError, match=r"^no video stream \(audio-only or not a video\)$"):
        read_video_metadata(str(path))
    with pytest.raises(MediaError, match=r"^no video stream"):
        read_poster_frame(str(path))


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match=r"^empty file$"):
        read_video_metadata(str(tmp_path / "empty.mp4"))
    with pytest.raises(MediaError, match=r"^empty file$"):
        read_poster_frame(str(tmp_path / "empty.mp4"))
    (tmp_path / "text.mp4").write_text("hello, not a video")
    with pytest.raises(MediaError, match=r"^not a readable video"):
        read_video_metadata(str(tmp_path / "text.mp4"))
    with pytest.raises(MediaError, match=r"^not a readable video"):
        read_poster_frame(str(tmp_path / "text.mp4"))


def test_os_errors_propagate_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_video_metadata(str(tmp_path / "missing.mp4"))
    with pytest.raises(FileNotFoundError):
        read_poster_frame(str(tmp_path / "missing.mp4"))
    with pytest.raises(IsADirectoryError):
        read_video_metadata(str(tmp_path))


@pytest.mark.parametrize(("name", "faststart"), [("a.mp4", False), ("b.mov", True), ("c.mkv", False)])
def test_damaged_videos_only_ever_raise_media_error(tmp_path: Path, name: str, faststart: bool) -> None:
    """Cut copies and copies with a damaged stretch: readable or MediaError, never another exception.

    FFmpeg reports damaged data with AVERROR(EIO) and -1 (EPERM) too, which PyAV raises as OSError and
    PermissionError subclasses: those must not pass for the OS refusing the file.
    """
    source = tmp_path / name
    make_mp4(source, seconds=1.0, size=(96, 64), faststart=faststart)
    data = source.read_bytes()
    damaged = tmp_path / f"damaged{source.suffix}"
    variants = [data[: int(len(data) * fraction)] for fraction in (0.02, 0.1, 0.3, 0.6, 0.9, 0.99)]
    for start in (0.05, 0.3, 0.5, 0.8):
        at = int(len(data) * start)
        variants.append(data[:at] + bytes(range(64)) + data[at + 64 :])
    started = time.perf_counter()
    for variant in variants:
        damaged.write_bytes(variant)
        for read in (read_video_metadata, read_poster_frame):
            with contextlib.suppress(MediaError):
                read(str(damaged))
    assert time.perf_counter() - started < 5.0
