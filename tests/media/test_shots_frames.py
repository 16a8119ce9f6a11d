"""Several frames per long shot: one per visually distinct stretch, one at least every `frame_gap` seconds, capped;
on a generated pan across real photos, each photo gets a frame while it is in view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chronicon.evaluation.moments import make_pan_clip
from chronicon.evaluation.transitions import available_photos, load_photo
from chronicon.media.shots import SamplingOptions, Segment, pick_frames, sample_video

GREY = np.full((9, 16), 0.5, np.float32)


def looks(*levels: float) -> list[np.ndarray]:
    return [np.full((9, 16), v, np.float32) for v in levels]


def test_a_still_shot_gets_one_frame_from_its_middle() -> None:
    times = [0.25 * i for i in range(20)]  # 5 s, nothing changes
    picked = pick_frames(times, [GREY] * 20, Segment(1, 0.0, 5.0), SamplingOptions())
    assert len(picked) == 1 and times[picked[0]] == pytest.approx(2.5, abs=0.25)


def test_each_visually_distinct_stretch_gets_a_frame() -> None:
    times = [float(i) for i in range(9)]
    signatures = looks(0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9)
    picked = pick_frames(times, signatures, Segment(1, 0.0, 9.0), SamplingOptions())
    assert [times[i] for i in picked] == [1.0, 4.0, 7.0]
    # Small changes (noise, a little motion) do not count (9 s would be two stretches: frame_gap is 8 s).
    wobble = looks(*(0.5 + 0.02 * (-1) ** i for i in range(9)))
    assert len(pick_frames(times, wobble, Segment(1, 0.0, 9.0), SamplingOptions(frame_gap=10.0))) == 1


def test_a_long_still_shot_gets_a_frame_every_frame_gap_seconds() -> None:
    times = [0.5 * i for i in range(60)]  # 30 s
    picked = pick_frames(times, [GREY] * 60, Segment(1, 0.0, 30.0), SamplingOptions(frame_gap=8.0))
    assert len(picked) == 4  # stretches of 8 + 8 + 8 + 6 s
    assert np.diff([times[i] for i in picked]).max() <= 8.0 + 0.5


def test_the_cap_merges_the_stretches_that_look_most_alike() -> None:
    times = [float(i) for i in range(6)]
    signatures = looks(0.0, 0.3, 0.6, 0.62 + 0.3, 0.0, 0.3)  # each differs from the one before
    picked = pick_frames(times, signatures, Segment(1, 0.0, 6.0), SamplingOptions(max_frames_per_segment=2))
    assert len(picked) == 2
    one = pick_frames(times, signatures, Segment(1, 0.0, 6.0), SamplingOptions(max_frames_per_segment=1))
    assert len(one) == 1


def test_frames_per_segment_is_a_floor() -> None:
    times = [0.5 * i for i in range(10)]
    picked = pick_frames(times, [GREY] * 10, Segment(1, 0.0, 5.0), SamplingOptions(frames_per_segment=3))
    assert len(picked) == 3 and picked == sorted(set(picked))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        SamplingOptions(max_frames_per_segment=0)
    with pytest.raises(ValueError):
        SamplingOptions(frame_gap=0)


@pytest.fixture(scope="module")
def pan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    names = available_photos(["chelsea", "rocket", "coffee"])
    if len(names) < 3:
        pytest.skip("scikit-image's sample photos are not installed")
    folder = tmp_path_factory.mktemp("pan")
    paths = []
    for name in names:
        load_photo(name).save(folder / f"{name}.jpg", quality=90)
        paths.append(folder / f"{name}.jpg")
    clip = make_pan_clip(paths, folder / "pan.mp4", size=(320, 180), fps=12, hold=4.0, move=1.5)
    return clip.path, [(v.t_from, v.t_to) for v in clip.views]


@pytest.mark.parametrize("frames", ["several", "one"])
def test_a_pan_across_three_photos_is_one_shot_with_a_frame_for_each(pan: tuple[Path, list[Any]], frames: str) -> None:
    path, views = pan
    one = frames == "one"
    # The fast detector: a pan is camera motion, not a cut (no threshold crossing between neighbouring samples).
    options = SamplingOptions(detector="fast", max_frames_per_segment=1 if one else 6)
    result = sample_video(str(path), options)
    assert len(result.segments) == 1, result.cuts
    times = result.segments[0].frame_times
    if one:
        assert len(times) == 1
        return
    assert 3 <= len(times) <= 6, times
    for t_from, t_to in views:  # every photo is seen while it fills the frame
        assert any(t_from <= t <= t_to for t in times), (times, views)


def _thumbs(levels: list[float]) -> list[np.ndarray]:
    return [np.full((9, 16), v, np.uint8) for v in levels]


def test_a_lone_jump_in_a_still_stretch_is_a_cut_and_a_flash_is_not() -> None:
    from chronicon.media.shots import Transition, spikes

    n = 60
    diffs = np.full(n, 0.5)
    levels = [100.0] * n
    diffs[20] = 10.0  # a same-colour cut at frame 20: the picture changes once and stays changed
    levels[20:] = [112.0] * (n - 20)
    diffs[40], diffs[42] = 60.0, 60.0  # a flash at 40-41: the picture comes back at 42
    levels[40:42] = [200.0, 200.0]
    found = spikes(diffs, _thumbs(levels), [])
    assert found == [Transition(19, 19)]
    # A fast pan changes every frame: no single jump stands out.
    panning = np.full(n, 0.5)
    panning[10:30] = 12.0
    assert spikes(panning, _thumbs([100.0] * n), []) == []
    # A jump next to a transition the model found is left to it.
    assert spikes(diffs, _thumbs(levels), [Transition(18, 19)]) == []
