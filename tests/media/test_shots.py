"""Shot detection and frame sampling on clips written with PyAV: cuts at known times, modes, caps, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon.errors import MediaError
from chronicon.media.shots import SamplingOptions, frames_at, sample_video
from mediafactory import make_audio_only, make_mp4, make_no_frames, make_truncated

CUTS = [1.5, 3.0, 4.2]
FPS = 24


@pytest.mark.parametrize(
    ("gop", "refine"),
    [(None, False), (FPS, False), (FPS, True)],
    ids=["encoder-keyframes", "keyframe-every-second", "keyframes-refined"],
)
def test_cuts_are_found_within_one_sampled_frame(tmp_path: Path, gop: int | None, refine: bool) -> None:
    clip = tmp_path / "cuts.mp4"
    make_mp4(clip, seconds=6.0, fps=FPS, size=(160, 90), cuts=CUTS, gop=gop)
    result = sample_video(str(clip), SamplingOptions(min_shot=0.5, refine=refine))
    if result.method == "keyframes":
        # The sampled frames are the keyframes (one a second); refined cuts land on the exact frame.
        tolerance = 1.0 / FPS + 1e-3 if refine else 1.0 + 1e-3
    else:
        assert result.method == "decode"  # every frame's histogram: the exact frame
        tolerance = 1.0 / FPS + 1e-3
    assert len(result.cuts) == len(CUTS), result.cuts
    for found, true in zip(result.cuts, CUTS, strict=True):
        assert true - 1e-3 <= found <= true + tolerance
    assert [round(s.t_start, 2) for s in result.segments][1:] == [round(c, 2) for c in result.cuts]
    assert result.segments[-1].t_end == pytest.approx(6.0, abs=0.1)
    assert all(len(s.frames) == 1 and s.t_start <= s.frame_times[0] < s.t_end for s in result.segments)


def test_keyframes_only_decode_far_fewer_frames(tmp_path: Path) -> None:
    clip = tmp_path / "long-gop.mp4"
    make_mp4(clip, seconds=20.0, fps=FPS, size=(160, 90), cuts=[10.0], gop=FPS)
    plain = sample_video(str(clip))
    assert plain.method == "keyframes" and plain.frames_decoded == 20  # one keyframe a second, nothing else
    assert len(plain.segments) == 2 and 10.0 <= plain.cuts[0] <= 11.0 + 1e-3
    refined = sample_video(str(clip), SamplingOptions(refine=True))
    assert refined.frames_decoded < 20 * FPS / 3  # keyframes plus one GOP around the cut
    assert refined.cuts[0] == pytest.approx(10.0, abs=1 / FPS + 1e-3)


def test_uniform_and_fps_modes(tmp_path: Path) -> None:
    clip = tmp_path / "plain.mp4"
    make_mp4(clip, seconds=4.0, fps=10, size=(96, 64))
    uniform = sample_video(str(clip), SamplingOptions(mode="uniform", count=4))
    assert [(s.t_start, s.t_end) for s in uniform.segments] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    assert len({s.frame_times[0] for s in uniform.segments}) == 4  # no duplicates
    per_second = sample_video(str(clip), SamplingOptions(mode="fps", fps=2.0))
    assert len(per_second.segments) == 8
    capped = sample_video(str(clip), SamplingOptions(mode="fps", fps=10.0, max_segments=5))
    assert len(capped.segments) == 5


def test_min_and_max_shot_length_and_cap(tmp_path: Path) -> None:
    clip = tmp_path / "many.mp4"
    make_mp4(clip, seconds=8.0, fps=10, size=(96, 64), cuts=[0.3, 4.0])
    merged = sample_video(str(clip), SamplingOptions(min_shot=1.0))
    assert all(s.t_end - s.t_start >= 1.0 - 1e-6 for s in merged.segments)
    split = sample_video(str(clip), SamplingOptions(min_shot=0.1, max_shot=2.0))
    assert all(s.t_end - s.t_start <= 2.0 + 1e-6 for s in split.segments)
    capped = sample_video(str(clip), SamplingOptions(min_shot=0.1, max_shot=0.5, max_segments=3))
    assert len(capped.segments) == 3


def test_rotated_video_frames_are_upright(tmp_path: Path) -> None:
    clip = tmp_path / "portrait.mp4"
    make_mp4(clip, seconds=1.0, fps=10, size=(96, 64), rotation=90)
    frame = sample_video(str(clip)).segments[0].frames[0]
    assert frame.size[1] > frame.size[0]


def test_frames_at_seeks(tmp_path: Path) -> None:
    clip = tmp_path / "cuts.mp4"
    make_mp4(clip, seconds=3.0, fps=10, size=(64, 48), cuts=[1.5])
    first, second = frames_at(str(clip), [0.5, 2.5], 64)
    assert first is not None and second is not None
    assert first.getpixel((30, 20)) != second.getpixel((30, 20))


def test_bad_videos_raise_clear_media_errors_or_give_partial_results(tmp_path: Path) -> None:
    audio = tmp_path / "audio.mp4"
    make_audio_only(audio)
    with pytest.raises(MediaError, match="no video stream"):
        sample_video(str(audio))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        sample_video(str(empty))
    frameless = tmp_path / "frameless.mp4"
    make_no_frames(frameless)
    with pytest.raises(MediaError):
        sample_video(str(frameless))
    whole = tmp_path / "whole.mp4"
    make_mp4(whole, seconds=4.0, fps=10, size=(96, 64), cuts=[2.0])
    truncated = tmp_path / "truncated.mp4"
    make_truncated(whole, truncated, keep_fraction=0.6)
    try:
        result = sample_video(str(truncated))
    except MediaError as exc:
        assert str(exc)  # a clear reason
    else:
        assert result.segments and result.segments[0].frames
