"""Video near-duplicates by frame signature: real clips made of moving photos, copied the way people copy videos
(re-encoded smaller, resized, trimmed) group with their original; a clip that only starts the same does not.

The clips are H.264 encoded with PyAV: an original of four scenes (a slow zoom and pan over a photo each, a
keyframe every second like a phone), then transcodes of it decoded frame by frame and encoded again."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from chronicon.library import Library
from mediafactory import make_no_frames, make_truncated
from ml_switches import NO_ML
from plugin_cli import PLUGINS_DIR, run_cli, write_cli_config

sys.path.insert(0, str(PLUGINS_DIR))

from chronicon_duplicates import videos
from chronicon_duplicates.commands import options_from
from chronicon_duplicates.frames import read_signature
from chronicon_duplicates.grouping import group_rows, load_assets
from chronicon_duplicates.mih import brute_force_pairs, pair_set
from chronicon_duplicates.videos import Alignment, FrameSequence, align, candidate_pairs, compare

FPS = 12
SIZE = (320, 240)
SCENES = (("chelsea", 3.0), ("coffee", 2.5), ("astronaut", 2.5), ("rocket", 2.0))  # 10 s
OTHER = (("chelsea", 3.0), ("camera", 2.5), ("coins", 2.5), ("moon", 2.0))  # the same first 3 s, then others
PHONE = {"crf": "18", "preset": "veryfast", "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0"}
COPIES = ("clip.mp4", "clip-crf38.mp4", "clip-half.mp4", "clip-trim2s.mp4", "clip-cut.mp4")


def _moving(photo: Image.Image, seconds: float, reverse: bool) -> Iterator[np.ndarray[Any, Any]]:
    """A slow zoom (100 % to 80 % of the photo) with a pan across it, SIZE frames at FPS."""
    width, height = photo.size
    aspect = SIZE[0] / SIZE[1]
    frames = round(seconds * FPS)
    for i in range(frames):
        u = i / max(1, frames - 1)
        crop_w = min(width, height * aspect) * (1.0 - 0.2 * u)
        crop_h = crop_w / aspect
        x = (width - crop_w) * (0.7 - 0.4 * u if reverse else 0.3 + 0.4 * u)
        y = (height - crop_h) * 0.5
        yield np.asarray(photo.resize(SIZE, Image.Resampling.BILINEAR, box=(x, y, x + crop_w, y + crop_h)))


def _encode(path: Path, frames: Iterator[np.ndarray[Any, Any]], size: tuple[int, int], options: dict[str, str]) -> None:
    out = av.open(os.fspath(path), mode="w")
    try:
        stream: Any = out.add_stream("h264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = options
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()


def make_scenes(path: Path, photos: Path, scenes: Sequence[tuple[str, float]]) -> None:
    """Each photo in turn, moving, with hard cuts between them."""

    def frames() -> Iterator[np.ndarray[Any, Any]]:
        for n, (name, seconds) in enumerate(scenes):
            yield from _moving(Image.open(photos / f"{name}.jpg").convert("RGB"), seconds, reverse=n % 2 == 1)

    _encode(path, frames(), SIZE, PHONE)


def transcode(src: Path, dst: Path, *, options: dict[str, str], size: tuple[int, int] = SIZE,
              start: float = 0.0, end: float | None = None) -> None:  # fmt: skip
    """Decode `src` and encode its frames from `start` to `end` seconds again (x264 defaults: a keyframe at scene
    cuts and every 250 frames, B-frames), resized to `size`."""
    with av.open(os.fspath(src)) as container:

        def frames() -> Iterator[np.ndarray[Any, Any]]:
            for frame in container.decode(video=0):
                t = float(frame.time or 0.0)
                if t < start - 1e-6 or (end is not None and t >= end - 1e-6):
                    continue
                yield frame.to_ndarray(format="rgb24", width=size[0], height=size[1])

        _encode(dst, frames(), size, {"preset": "veryfast", **options})


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, sample_photos: Path) -> Path:
    """The original, a re-encode at crf 38, a half-size copy, a copy 2 s shorter at the start, a copy cut 0.6 s at
    the start and 1.4 s at the end, and another clip whose first 3 s are the original's."""
    folder = tmp_path_factory.mktemp("clips")
    original = folder / "clip.mp4"
    make_scenes(original, sample_photos, SCENES)
    transcode(original, folder / "clip-crf38.mp4", options={"crf": "38"})
    transcode(original, folder / "clip-half.mp4", options={"crf": "26"}, size=(SIZE[0] // 2, SIZE[1] // 2))
    transcode(original, folder / "clip-trim2s.mp4", options={"crf": "23"}, start=2.0)
    transcode(original, folder / "clip-cut.mp4", options={"crf": "23"}, start=0.6, end=8.6)
    make_scenes(folder / "same-opening.mp4", sample_photos, OTHER)
    return folder


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A catalog of the clips, scanned by the CLI with the ML passes off; its config file."""
    config = write_cli_config(tmp_path_factory.mktemp("video-dupes"), disabled=["faces", "extract", "albums"])
    assert run_cli(["scan", str(clips)], config) == 0
    return config


def _library(config: Path) -> Library:
    overrides = {**NO_ML, "plugins.paths": [str(PLUGINS_DIR)], "plugins.disabled": ["faces", "extract", "albums"]}
    return Library(config.parent / "catalog", overrides=overrides, environ={}, entry_points=False)


def _names(groups: Any) -> list[list[str]]:
    return [[Path(m["path"]).name for m in g.members] for g in groups]


# -- signatures ------------------------------------------------------------------------------------------------
def test_signature_is_a_hash_per_second_read_from_keyframes(clips: Path) -> None:
    original = read_signature(clips / "clip.mp4")
    assert original.step == 1.0 and original.duration == pytest.approx(10.0, abs=0.1)
    assert original.times == pytest.approx([float(k) for k in range(10)], abs=0.01)
    assert original.informative == 10 and original.partial is None
    # A keyframe every second, on the grid: one seek and one decoded frame per sample.
    assert original.frames_decoded == 10
    # x264's own keyframes are far apart: frames are decoded on to the wanted times, each at most once, the
    # B-frames (not references) never.
    copy = read_signature(clips / "clip-crf38.mp4")
    assert len(copy.times) == 10 and copy.frames_decoded < 10 * FPS * 0.75
    assert copy.times == pytest.approx([float(k) for k in range(10)], abs=0.5)
    trimmed = read_signature(clips / "clip-trim2s.mp4")
    assert len(trimmed.times) == 8 and trimmed.duration == pytest.approx(8.0, abs=0.1)
    # Long videos get a longer step, never more than max_frames samples.
    assert read_signature(clips / "clip.mp4", max_frames=4).step == 4.0
    exact = read_signature(clips / "clip-crf38.mp4", snap=0.0)
    assert exact.times == pytest.approx([float(k) for k in range(10)], abs=1.5 / FPS)


def test_damaged_videos_give_what_they_have_or_a_media_error(clips: Path, tmp_path: Path) -> None:
    from chronicon.api import MediaError

    make_truncated(clips / "clip.mp4", tmp_path / "half.mp4", keep_fraction=0.6)
    with pytest.raises(MediaError):  # the index is at the end: nothing to read
        read_signature(tmp_path / "half.mp4")
    make_no_frames(tmp_path / "empty.mp4", seconds=2.0)
    with pytest.raises(MediaError):
        read_signature(tmp_path / "empty.mp4")


# -- alignment -------------------------------------------------------------------------------------------------
def _sequence(times: Sequence[float], hashes: Sequence[int], step: float = 1.0) -> FrameSequence:
    return FrameSequence(
        np.asarray(times, dtype=np.float64), np.asarray(hashes, dtype=np.uint64), step, len(times) * step
    )


def test_alignment_finds_the_offset_and_counts_the_shorter_video() -> None:
    rng = np.random.default_rng(3)
    frames = [int(v) for v in rng.integers(0, 2**63, size=30, dtype=np.int64)]
    original = _sequence(range(30), frames)
    flipped = [v ^ (1 << int(rng.integers(0, 64))) for v in frames]  # one bit off everywhere: a re-encode
    trimmed = _sequence(range(24), flipped[4:28])  # 4 s cut at the start, 2 s at the end
    found = align(trimmed, original, distance=4)
    assert found == Alignment(1.0, 4.0, 24, 24)
    assert compare(original, trimmed, distance=4, max_trim=6.0, max_trim_ratio=0.0) == Alignment(1.0, -4.0, 24, 24)
    assert compare(original, trimmed, distance=4, max_trim=5.0, max_trim_ratio=0.0) is None  # 6 s shorter
    # The same opening (a third), then something else: a third of the frames, at offset 0.
    other = _sequence(range(30), frames[:10] + [int(v) for v in rng.integers(0, 2**63, size=20, dtype=np.int64)])
    opening = compare(other, original, distance=4, max_trim=5.0, max_trim_ratio=0.2)
    assert opening is not None and opening.matched == 10 and opening.frames == 30 and opening.offset == 0.0
    # Durations must allow a trim: a 10 s excerpt of 30 s is not a copy, whatever its frames say.
    excerpt = _sequence(range(10), frames[5:15])
    assert compare(excerpt, original, distance=4, max_trim=5.0, max_trim_ratio=0.2) is None
    assert compare(excerpt, original, distance=4, max_trim=20.0, max_trim_ratio=0.2) == Alignment(1.0, 5.0, 10, 10)


def test_candidates_are_the_pairs_of_videos_with_a_close_frame() -> None:
    rng = np.random.default_rng(11)
    sequences: list[FrameSequence | None] = []
    for n in range(40):
        if n % 7 == 3:
            sequences.append(None)  # no signature
            continue
        base = rng.integers(0, 2**63, size=int(rng.integers(3, 20)), dtype=np.int64).astype(np.uint64)
        if n % 5 == 4 and sequences[n - 1] is not None:  # shares a frame (a bit off) with the one before
            base[0] = np.uint64(int(sequences[n - 1].hashes[-1]) ^ 0b101)  # type: ignore[union-attr]
        sequences.append(_sequence(range(len(base)), [int(v) for v in base]))
    found = set(candidate_pairs(sequences, 6))
    flat = np.concatenate([s.hashes for s in sequences if s is not None])
    owner = np.concatenate([np.full(len(s.hashes), i) for i, s in enumerate(sequences) if s is not None])
    slow = {(int(owner[i]), int(owner[j])) for i, j in pair_set(brute_force_pairs(flat, 6)) if owner[i] != owner[j]}
    assert found == {(min(p), max(p)) for p in slow} and len(found) >= 5
    assert set(candidate_pairs(sequences, 20)) == set(candidate_pairs(sequences, videos.CANDIDATE_BITS))
    # A still shot is one representative, however long: a frame within half the radius of the last one kept.
    still = np.asarray([0b1, 0b11, 0b111, 0b1111, 0b11111, 0b111111, 0b111110, 2**40 - 1], dtype=np.uint64)
    assert videos.representatives(still, 4).tolist() == [0b1, 0b111111, 2**40 - 1]


# -- end to end ------------------------------------------------------------------------------------------------
def test_copies_group_and_a_clip_with_the_same_opening_does_not(scanned: Path) -> None:
    library = _library(scanned)
    rows = {Path(r["path"]).name: r for r in library.catalog.rows(None, ["path", *videos.COLUMNS.values()])}
    assert all(len(rows[name][videos.COLUMNS["hashes"]]) >= 8 for name in COPIES)
    options = options_from(library)
    found = group_rows(library.catalog, load_assets(library.catalog, options), options, None)
    assert _names(found) == [["clip.mp4", "clip-crf38.mp4", "clip-cut.mp4", "clip-trim2s.mp4", "clip-half.mp4"]]
    # The poster frames alone (what grouped videos before): the same opening is a "duplicate", and the copy 2 s
    # shorter, whose poster (at 10 % of its length) shows another moment, is missed.
    posters = [{k: v for k, v in r.items() if k not in videos.COLUMNS.values()} for r in load_assets(
        library.catalog, options)]  # fmt: skip
    assert sorted(map(sorted, _names(group_rows(library.catalog, posters, options, None)))) == [
        ["clip-crf38.mp4", "clip-cut.mp4", "clip-half.mp4", "clip.mp4", "same-opening.mp4"]
    ]


def test_cli_reports_coverage_and_offset(scanned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run_cli(["duplicates", "--json", "--kind", "video"], scanned) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["assets"] == 6 and out["settings"]["video_min_coverage"] == 0.8
    (group,) = out["groups"]
    members = {Path(m["path"]).name: m for m in group["members"]}
    assert list(members) == ["clip.mp4", "clip-crf38.mp4", "clip-cut.mp4", "clip-trim2s.mp4", "clip-half.mp4"]
    best = members["clip.mp4"]
    assert best["best"] and best["video_coverage"] is None and best["duration"] == pytest.approx(10.0, abs=0.1)
    assert all(m["linked_by"] == ["video-frames"] for m in group["members"])
    assert all(m["video_coverage"] >= 0.8 for name, m in members.items() if name != "clip.mp4")
    assert members["clip-crf38.mp4"]["video_offset"] == 0.0 and members["clip-half.mp4"]["video_offset"] == 0.0
    assert members["clip-trim2s.mp4"]["video_offset"] == pytest.approx(2.0, abs=0.5)
    assert members["clip-cut.mp4"]["video_offset"] == pytest.approx(0.6, abs=0.6)
    # A low enough coverage lets the shared opening (3 s of 10) in: the setting is what keeps it out.
    assert run_cli(["duplicates", "--json", "--kind", "video", "--min-coverage", "0.25"], scanned) == 0
    loose = json.loads(capsys.readouterr().out)["groups"]
    assert "same-opening.mp4" in {Path(m["path"]).name for m in loose[0]["members"]}
    assert run_cli(["duplicates", "--kind", "video"], scanned) == 0
    text = capsys.readouterr().out  # (a narrow table here: paths and reasons are folded over lines)
    assert "frames" in text and "offset" in text and "+2.0s" in text
    assert "1 groups, 4 possible duplicates of 6 assets; nothing was changed on disk" in text
