"""Live Photo identifiers (Apple MakerNote of HEIC/JPEG stills, the QuickTime key of MOVs) and Google motion
photos: the embedded MP4 found from either XMP flavour, checked, and opened with PyAV inside the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon.embed.speech import SAMPLE_RATE, audio_windows
from chronicon.errors import MediaError
from chronicon.media.motion import (
    MotionPart,
    apple_makernote_content_id,
    describe_motion_part,
    find_motion_part,
    motion_source,
    open_motion_part,
    still_content_id,
    video_content_id,
)
from chronicon.media.shots import sample_video
from chronicon.media.video import ByteSlice, EmbeddedVideo, read_poster_frame, read_video_metadata
from livefactory import apple_makernote, make_live_mov, make_motion_photo, make_still
from mediafactory import make_jpeg, make_mp4

CID = "6F0A1C2E-63B4-4E8A-9D1C-2B7F0E5A4C11"


@pytest.mark.parametrize("name", ["IMG_1.HEIC", "IMG_1.JPG"])
def test_still_content_id_from_the_apple_makernote(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    make_still(path, content_id=CID, taken_at="2023:05:01 12:00:01")
    assert still_content_id(str(path)) == CID
    plain = tmp_path / ("plain" + path.suffix)
    make_still(plain, content_id=None, taken_at="2023:05:01 12:00:01")
    assert still_content_id(str(plain)) is None


def test_makernote_parsing_both_byte_orders_and_junk() -> None:
    assert apple_makernote_content_id(apple_makernote(CID, "II")) == CID
    assert apple_makernote_content_id(apple_makernote(CID, "MM")) == CID
    assert apple_makernote_content_id(b"Nikon\x00\x02\x10\x00\x00MM\x00\x2a") is None
    assert apple_makernote_content_id(apple_makernote(CID)[:30]) is None  # cut short: no crash, no identifier
    assert apple_makernote_content_id(b"") is None


def test_not_an_image_has_no_content_id(tmp_path: Path) -> None:
    junk = tmp_path / "x.heic"
    junk.write_bytes(b"\x00" * 100)
    assert still_content_id(str(junk)) is None


def test_mov_content_id(tmp_path: Path) -> None:
    mov = tmp_path / "IMG_1.MOV"
    make_live_mov(mov, content_id=CID, creation_time="2023-05-01T12:00:00Z")
    assert video_content_id(str(mov)) == CID
    other = tmp_path / "other.mov"
    make_mp4(other, seconds=1.0)
    assert video_content_id(str(other)) is None


@pytest.mark.parametrize("flavour", ["MotionPhoto", "MicroVideo"])
def test_motion_photo_found_and_opened_inside_the_photo(tmp_path: Path, flavour: str) -> None:
    path = tmp_path / "PXL_20230501.MP.jpg"
    start = make_motion_photo(path, tmp_path, flavour=flavour, seconds=1.5)
    before = path.read_bytes()
    claim = find_motion_part(str(path))
    assert claim.problem is None and claim.part is not None
    assert claim.part == MotionPart(start, len(before) - start, flavour)
    facts = describe_motion_part(str(path), claim.part)
    assert facts["has_audio"] is True and facts["width"] == 64 and abs(facts["duration"] - 1.5) < 0.2
    with open_motion_part(str(path), claim.part) as container:  # decodable: frames of both colours, and sound
        means = [frame.to_ndarray(format="rgb24").mean(axis=(0, 1)) for frame in container.decode(video=0)]
    assert len(means) == 15
    assert np.argmax(means[0]) == 0 and np.argmax(means[-1]) == 1  # red, then green after the cut
    with open_motion_part(str(path), claim.part) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples > 16000
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_wrong_offset_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    make_motion_photo(path, tmp_path, claim_shift=100)
    claim = find_motion_part(str(path))
    assert claim.part is None and claim.problem is not None and "no MP4 starts there" in claim.problem
    huge = tmp_path / "huge.jpg"
    make_motion_photo(huge, tmp_path, claim_shift=10_000_000)
    claim = find_motion_part(str(huge))
    assert claim.part is None and claim.problem is not None and "no usable video length" in claim.problem


def test_plain_jpeg_claims_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    make_jpeg(path)
    claim = find_motion_part(str(path))
    assert claim.part is None and claim.problem is None


def test_byte_slice_stays_inside_its_range(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(100)))
    with ByteSlice(str(path), 10, 20) as view:
        assert view.read(5) == bytes(range(10, 15))
        assert view.seek(0, 2) == 20 and view.read() == b""
        view.seek(-3, 2)
        assert view.read(10) == bytes(range(27, 30))


def test_the_video_readers_run_on_the_embedded_part(tmp_path: Path) -> None:
    """The readers the video passes use (shots sampling, audio windows, poster) open the MP4 inside the photo."""
    path = tmp_path / "PXL_20230502.MP.jpg"
    make_motion_photo(path, tmp_path, seconds=2.0)
    before = path.read_bytes()
    claim = find_motion_part(str(path))
    assert claim.part is not None
    source = motion_source(str(path), claim.part)
    result = sample_video(source)
    assert len(result.segments) == 2 and abs(result.segments[1].t_start - 1.0) < 0.15  # the cut at 1 s
    seconds = sum(samples.size for _, samples in audio_windows(source)) / SAMPLE_RATE
    assert abs(seconds - 2.0) < 0.2
    assert read_poster_frame(source).size == (64, 48)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_wrong_range_is_a_media_error(tmp_path: Path) -> None:
    path = tmp_path / "x.MP.jpg"
    start = make_motion_photo(path, tmp_path)
    with pytest.raises(MediaError):
        read_video_metadata(EmbeddedVideo(str(path), start + 50, 200))  # mid-MP4: no video starts there
    with pytest.raises(MediaError):
        read_video_metadata(EmbeddedVideo(str(path), start, 0))
