"""Video metadata and poster frames through PyAV on clips written with PyAV."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon.errors import MediaError
from chronicon.media.video import read_poster_frame, read_video_metadata
from mediafactory import make_mp4, make_truncated


@pytest.mark.parametrize(("name", "fmt"), [("a.mp4", "mov"), ("a.mov", "mov"), ("a.mkv", "matroska")])
def test_metadata(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    make_mp4(path, seconds=2.0, fps=10, size=(64, 48))
    meta = read_video_metadata(str(path))
    assert meta["format"] == fmt
    assert meta["duration"] == pytest.approx(2.0, abs=0.15)
    assert meta["fps"] == pytest.approx(10.0)
    assert (meta["width"], meta["height"]) == (64, 48)
    assert meta["rotation"] == 0
    assert meta["video_codec"] == "h264" and meta["audio_codec"] == "aac" and meta["has_audio"] is True
    assert meta["bitrate"] and meta["bitrate"] > 0
    if fmt != "matroska":  # Matroska keeps no ISO-6709 location tag
        assert meta["gps_lat"] == pytest.approx(37.7749) and meta["gps_lon"] == pytest.approx(-122.4194)
        assert meta["gps_alt"] == pytest.approx(10.0)
        assert meta["taken_at"] == "2023-05-01T12:00:00+00:00"


def test_no_audio_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    make_mp4(path, audio=False, rotation=90, size=(64, 48), location=None, creation_time=None)
    meta = read_video_metadata(str(path))
    assert meta["has_audio"] is False and meta["audio_codec"] is None
    assert meta["rotation"] in (90, 270) and (meta["width"], meta["height"]) == (48, 64)
    assert meta["gps_lat"] is None and meta["taken_at"] is None
    poster = read_poster_frame(str(path))
    assert poster.size == (48, 64)  # upright: tall


def test_poster_is_taken_from_the_right_shot(tmp_path: Path) -> None:
    path = tmp_path / "cuts.mp4"
    make_mp4(path, seconds=3.0, fps=10, size=(64, 48), cuts=[1.0, 2.0])
    first = read_poster_frame(str(path), at_fraction=0.1).getpixel((2, 2))
    middle = read_poster_frame(str(path), at_fraction=0.5).getpixel((2, 2))
    last = read_poster_frame(str(path), at_fraction=0.9).getpixel((2, 2))
    assert first[0] > 150 and first[1] < 120  # red shot
    assert middle[1] > 150 and middle[0] < 120  # green shot
    assert last[2] > 150 and last[0] < 120  # blue shot
    assert read_poster_frame(str(path), max_side=32).size == (32, 24)


def test_bad_videos(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    make_mp4(whole, seconds=2.0)
    make_truncated(whole, tmp_path / "cut.mp4", keep_fraction=0.5)
    with pytest.raises(MediaError):
        read_video_metadata(str(tmp_path / "cut.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty file"):
        read_video_metadata(str(tmp_path / "empty.mp4"))
    (tmp_path / "text.mp4").write_text("hello")
    with pytest.raises(MediaError, match="not a readable video"):
        read_poster_frame(str(tmp_path / "text.mp4"))
    with pytest.raises(FileNotFoundError):
        read_video_metadata(str(tmp_path / "missing.mp4"))
