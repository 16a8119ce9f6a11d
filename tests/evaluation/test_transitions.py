"""Generated clips with known transitions (they decode, and the events are where the ground truth says), and the
transition scorer against hand-made cases."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("skimage")

from chronicon.evaluation.transitions import (
    NON_TRANSITIONS,
    SPARSE,
    SPARSE_NO_SCENECUT,
    TRANSITIONS,
    Event,
    GeneratedClip,
    colour_distance,
    combine,
    generate_clip,
    generate_clips,
    score_transitions,
)

FPS = 25


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[GeneratedClip]:
    folder = tmp_path_factory.mktemp("transitions")
    return generate_clips(
        folder, encodings=(SPARSE, SPARSE_NO_SCENECUT), size=(320, 180), fps=FPS, seconds=22.0, seed=3
    )


@pytest.fixture(scope="module")
def decoded(clips: list[GeneratedClip]) -> tuple[list[float], np.ndarray]:
    """Frame times and frames (RGB, 64×36) of the first clip."""
    times, frames = [], []
    with av.open(str(clips[0].path)) as container:
        for frame in container.decode(video=0):
            times.append(float(frame.time))
            frames.append(frame.reformat(width=64, height=36, format="rgb24").to_ndarray())
    return times, np.stack(frames)


def _frames_of(clips: list[GeneratedClip], kind: str) -> list[Event]:
    return [e for e in clips[0].events if e.kind == kind]


def test_ground_truth_matches_the_clip(clips: list[GeneratedClip], decoded: tuple[list[float], np.ndarray]) -> None:
    times, _ = decoded
    clip = clips[0]
    assert clip.frames == round(22.0 * FPS) == len(times)
    assert clip.duration == pytest.approx(22.0)
    assert times[0] == pytest.approx(0.0)
    assert times[-1] == pytest.approx((clip.frames - 1) / FPS)
    kinds = {e.kind for e in clip.events}
    assert set(TRANSITIONS) <= kinds, kinds  # one shuffled round of every transition in 22 s
    assert kinds & set(NON_TRANSITIONS)
    for e in clip.events:
        assert 0 < e.first <= e.last < clip.frames
        assert e.start == pytest.approx(e.first / FPS)
        assert e.end == pytest.approx(e.last / FPS)
        if e.kind in ("cut", "same_colour_cut"):
            assert e.start == e.end
    starts = [e.first for e in clip.events]
    assert starts == sorted(starts)
    # Nothing inside a shot comes within 0.4 s of a transition (the scorer's zones never overlap).
    for inner in (e for e in clip.events if not e.transition):
        for t in clip.transitions:
            assert inner.start > t.end + 0.4 or inner.end < t.start - 0.4
    # Both encodings hold the same timeline.
    assert clips[1].events == clip.events
    assert clips[1].frames == clip.frames


def test_keyframes_follow_the_encoding(clips: list[GeneratedClip]) -> None:
    sparse, no_scenecut = clips
    assert no_scenecut.keyframes == pytest.approx([k * 250 / FPS for k in range(-(-no_scenecut.frames // 250))])
    # x264's default scenecut puts a keyframe on each hard cut between photos of other colours.
    for cut in _frames_of(clips, "cut"):
        assert any(abs(k - cut.start) < 1e-6 for k in sparse.keyframes), (cut, sparse.keyframes)


def test_cuts_change_the_picture_at_the_frame(
    clips: list[GeneratedClip], decoded: tuple[list[float], np.ndarray]
) -> None:
    _, frames = decoded
    f = frames.astype(np.float64)
    for cut in _frames_of(clips, "cut") + _frames_of(clips, "same_colour_cut"):
        across = np.abs(f[cut.first] - f[cut.first - 1]).mean()
        within = np.abs(f[cut.first + 1] - f[cut.first]).mean()
        assert across > 3 * within + 5, (cut, across, within)
    for cut in _frames_of(clips, "same_colour_cut"):
        # Another picture, but nearly the same colours: a colour histogram barely changes.
        assert colour_distance(frames[cut.first - 1], frames[cut.first]) < 0.25
        assert cut.colour_distance is not None and cut.colour_distance < 0.25
    for cut in _frames_of(clips, "cut"):
        assert cut.colour_distance is not None and cut.colour_distance > 0.3


def test_fade_goes_through_black_and_dissolve_blends(
    clips: list[GeneratedClip], decoded: tuple[list[float], np.ndarray]
) -> None:
    _, frames = decoded
    brightness = frames.astype(np.float64).mean(axis=(1, 2, 3))
    for fade in _frames_of(clips, "fade"):
        darkest = brightness[fade.first : fade.last + 1].min()
        assert darkest < 8
        assert brightness[fade.first - 1] > darkest + 20 and brightness[fade.last + 1] > darkest + 20
    for dissolve in _frames_of(clips, "dissolve"):
        before, after = frames[dissolve.first - 1], frames[dissolve.last + 1]
        middle = frames[(dissolve.first + dissolve.last) // 2]
        ends = min(brightness[dissolve.first - 1], brightness[dissolve.last + 1])
        assert brightness[dissolve.first : dissolve.last + 1].min() > 0.6 * ends  # no dip: not a fade
        gap = colour_distance(before, after)
        assert colour_distance(before, middle) < gap and colour_distance(middle, after) < gap


def test_flash_brightens_a_few_frames(clips: list[GeneratedClip], decoded: tuple[list[float], np.ndarray]) -> None:
    _, frames = decoded
    brightness = frames.astype(np.float64).mean(axis=(1, 2, 3))
    for flash in _frames_of(clips, "flash"):
        assert flash.last - flash.first + 1 <= 3
        assert brightness[flash.first] > brightness[flash.first - 1] + 60
        assert abs(brightness[flash.last + 2] - brightness[flash.first - 1]) < 20


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate_clip(tmp_path / "a.mp4", size=(96, 54), fps=FPS, seconds=8.0, seed=5)
    b = generate_clip(tmp_path / "b.mp4", size=(96, 54), fps=FPS, seconds=8.0, seed=5)
    c = generate_clip(tmp_path / "c.mp4", size=(96, 54), fps=FPS, seconds=8.0, seed=6)
    assert a.path.exists() and a.path.name == "a.mp4"
    assert a.events == b.events
    assert a.events != c.events


# -- scoring ----------------------------------------------------------------------------------------------------
def _ev(kind: str, start: float, end: float | None = None) -> Event:
    end = start if end is None else end
    return Event(kind, round(start * FPS), round(end * FPS), start, end)


TRUTH = [_ev("cut", 1.0), _ev("flash", 1.8, 1.88), _ev("dissolve", 3.0, 3.6), _ev("fade", 6.0, 7.2)]


def test_exact_detections_score_perfectly() -> None:
    score = score_transitions(TRUTH, [1.0, 3.3, 6.6])
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert score.kinds["cut"].recall == score.kinds["dissolve"].recall == score.kinds["fade"].recall == 1.0
    assert score.kinds["same_colour_cut"].true == 0
    assert score.false_positives == 0


def test_tolerance_window() -> None:
    inside = score_transitions(TRUTH, [1.2, 2.8, 7.4], tol=0.25)  # all within [start - tol, end + tol]
    assert inside.recall == 1.0 and inside.precision == 1.0
    outside = score_transitions(TRUTH, [1.3], tol=0.25)
    assert outside.kinds["cut"].found == 0
    assert outside.false_positives == 1 and outside.zones["other"] == 1
    assert score_transitions(TRUTH, [1.3], tol=0.35).kinds["cut"].found == 1


def test_false_positive_in_a_flash_is_counted_apart() -> None:
    score = score_transitions(TRUTH, [1.0, 1.84, 3.3, 6.6])
    assert score.recall == 1.0
    assert score.precision == pytest.approx(3 / 4)
    assert score.zones["flash"] == 1 and score.zones["other"] == 0
    assert score.false_alarms == [(1.84, "flash")] and score.missed == []
    # The flash is nearer the cut (1.0) than the dissolve (3.0-3.6): its false positive counts against cuts.
    assert score.kinds["cut"].false_positives == 1
    assert score.kinds["cut"].precision == pytest.approx(0.5)
    assert score.kinds["cut"].f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert score.f1_with_overall_precision("cut") == pytest.approx(2 * 0.75 / 1.75)


def test_matching_is_one_to_one_and_nearest_first() -> None:
    twice = score_transitions(TRUTH, [0.95, 1.05, 3.3, 6.6])
    assert twice.kinds["cut"].found == 1
    assert twice.false_positives == 1 and twice.zones["duplicate"] == 1
    close = [_ev("cut", 1.0), _ev("cut", 1.3)]
    one = score_transitions(close, [1.15])
    assert one.found == 1 and one.recall == 0.5 and one.precision == 1.0
    both = score_transitions(close, [1.05, 1.25])
    assert both.found == 2
    # Greedy nearest-first: 1.2 takes the cut at 1.3 (nearer), so 1.0 is left for the detection at 0.9.
    greedy = score_transitions(close, [1.2, 0.9])
    assert greedy.found == 2


def test_no_detections_and_combining() -> None:
    empty = score_transitions(TRUTH, [])
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)
    assert [e.kind for e in empty.missed] == ["cut", "dissolve", "fade"]
    total = combine([empty, score_transitions(TRUTH, [1.0, 3.3, 6.6, 9.0])])
    assert total.true == 6 and total.found == 3 and total.detections == 4
    assert total.recall == 0.5 and total.precision == 0.75
    assert total.kinds["cut"].true == 2
    report = total.as_dict()
    assert report["kinds"]["fade"]["recall"] == 0.5
    assert report["false_positive_zones"]["other"] == 1
