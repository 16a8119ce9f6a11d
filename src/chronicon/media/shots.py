"""Video frame sampling: shots (a fast or an accurate detector), uniform N, or F per second.

Never holds a video in memory. The fast detector decodes keyframes only (FFmpeg's `skip_frame=NONKEY`), keeps a
64-bin colour histogram per sampled frame and a bounded number of small frames, and decodes full GOPs only
around the cuts it has to place precisely. The accurate detector decodes every frame once, hands each one at
48×27 to TransNetV2 (embed.transnet, streamed in 100-frame windows) and keeps small frames `dense_fps` times a
second; it finds fades, dissolves and cuts between scenes of the same colours, which histograms cannot.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import av
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from numpy.typing import NDArray
from PIL import Image

from chronicon.errors import MediaError
from chronicon.media.video import (
    VideoSource,
    _decoded,
    _duration,
    _frame_near,
    _is_access_error,
    _opened,
    _short,
    _to_poster,
    _video_stream,
)

log = logging.getLogger(__name__)

MODES = ("shots", "uniform", "fps")
DETECTORS = ("fast", "accurate")
_SIG_W, _SIG_H = 64, 36  # frames are reduced to this before their histogram is taken
_KEPT_FRAMES = 256  # at most this many small frames are kept while sampling (then every other is dropped)


@dataclass(frozen=True)
class SamplingOptions:
    """How frames are picked from a video (the `shots` config section)."""

    mode: str = "shots"  # shots | uniform | fps
    count: int = 8  # uniform: this many evenly spaced frames
    fps: float = 1.0  # fps: this many frames per second
    threshold: float = 0.45  # shots: histogram distance (0..1) between samples that counts as a cut
    min_shot: float = 1.0  # shots shorter than this (seconds) are merged into their neighbour
    max_shot: float = 30.0  # longer shots are split into windows of at most this length
    max_segments: int = 64  # cap per video (a long video gets longer windows, never more segments)
    frames_per_segment: int = 1  # frames kept per segment for the model passes (shots: at least this many)
    max_frames_per_segment: int = 6  # shots: a long or changing shot gets up to this many (1: one per shot)
    frame_gap: float = 8.0  # shots: at most this many seconds between two frames of one shot
    frame_change: float = 0.12  # shots: this much visual change (0..1) from the last frame starts a new one
    frame_side: int = 320  # longest side of the kept frames
    max_keyframe_gap: float = 2.5  # sparser keyframes than this: sample by decoding (at `dense_fps`) instead
    dense_fps: float = 4.0
    refine: bool = False  # place each cut on the exact frame by decoding the GOP around it (~2x the cost)
    detector: str = "fast"  # shots: fast (keyframe histograms) | accurate (TransNetV2 on every frame)
    transition_threshold: float = 0.5  # accurate: TransNetV2 probability at which a frame is a transition
    model_fps: float = 30.0  # accurate: above this rate the model sees every n-th frame (60 fps: every other)
    spike_cuts: bool = True  # accurate: also a cut where one frame jumps from a still neighbourhood (see spikes)

    def __post_init__(self) -> None:
        if self.max_frames_per_segment < 1 or self.frame_gap <= 0:
            raise ValueError("max_frames_per_segment must be at least 1 and frame_gap positive")
        if self.mode not in MODES:
            raise ValueError(f"sampling mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.detector not in DETECTORS:
            raise ValueError(f"shot detector must be one of {', '.join(DETECTORS)}, not {self.detector!r}")


@dataclass
class Segment:
    """A stretch of video (a shot or a window) and the frames that stand for it."""

    index: int  # 1.. in time order (0 is the video as a whole)
    t_start: float
    t_end: float
    frame_times: list[float] = field(default_factory=list)
    frames: list[Image.Image] = field(default_factory=list)


@dataclass
class SamplingResult:
    segments: list[Segment]
    duration: float
    frames_decoded: int  # how many frames were decoded in all (the cost)
    method: str  # "keyframes", "decode" (dense), "transnetv2", "uniform", "fps"
    cuts: list[float] = field(default_factory=list)  # one time per transition: a cut's first new frame, or the
    # middle of a gradual transition (fade, dissolve)
    partial: str | None = None  # the video is damaged after this point: segments cover what was readable
    transitions: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each, accurate only


@dataclass
class _Sample:
    t: float
    hist: NDArray[np.float32]
    image: Image.Image | None


def _histogram(frame: VideoFrame) -> NDArray[np.float32]:
    """A 4×4×4 RGB histogram of the frame at 64×36, normalised to sum 1."""
    small = np.asarray(frame.reformat(width=_SIG_W, height=_SIG_H, format="rgb24").to_ndarray(), dtype=np.uint8)
    q = (small >> 6).astype(np.int32)  # 4 levels per channel
    bins = np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64).astype(np.float32)
    out: NDArray[np.float32] = bins / max(1.0, float(bins.sum()))
    return out


def _distance(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Half the L1 distance of two normalised histograms: 0 = same colours, 1 = nothing in common."""
    return 0.5 * float(np.abs(a - b).sum())


class BoundaryModel(Protocol):
    """A shot-boundary network (embed.transnet.ShotBoundaryModel): per-frame transition probabilities."""

    frame_size: tuple[int, int]  # (width, height) of the RGB frames it takes

    def probabilities(self, frames: Iterator[NDArray[np.uint8]]) -> Iterator[float]: ...


@dataclass(frozen=True)
class Transition:
    """Frames [first, last] that a boundary model marks as the change from one shot to the next."""

    first: int
    last: int


def transitions(probs: NDArray[np.float32], threshold: float = 0.5) -> list[Transition]:
    """Runs of frames at or above `threshold`: each is one transition (a hard cut marks the old shot's last frame)."""
    above = np.asarray(probs) >= threshold
    out: list[Transition] = []
    i, n = 0, len(above)
    while i < n:
        if above[i]:
            j = i
            while j + 1 < n and above[j + 1]:
                j += 1
            out.append(Transition(i, j))
            i = j + 1
        else:
            i += 1
    return out


def spikes(
    diffs: NDArray[np.float64], thumbs: Sequence[NDArray[np.uint8]], known: Sequence[Transition]
) -> list[Transition]:
    """Hard cuts a boundary model missed (TransNetV2 misses some between scenes of the same colours): frame i
    is the first of a new shot when its grey change from frame i-1 (`diffs[i]`, at 48×27) is at least 3 grey
    levels, 8× the median change of the second around it and 4× the change of each neighbour (a pan, a zoom or
    shaking changes every frame; a cut changes one), and the picture does not come back within 6 frames (a
    flash, a glitch: frame i-1 and a later one look alike again, or frame i and one shortly before i-1). Frames
    within 3 of a known transition are left to it. Each is returned as a one-frame Transition(i - 1, i - 1), as
    the model marks cuts."""
    n = len(diffs)
    near = np.zeros(n, dtype=bool)
    for run in known:
        near[max(0, run.first - 3) : min(n, run.last + 5)] = True
    out: list[Transition] = []
    for i in range(1, n - 1):
        d = float(diffs[i])
        if near[i] or d < 3.0 or d < 4.0 * max(float(diffs[i - 1]), float(diffs[i + 1])):
            continue
        around = np.r_[diffs[max(1, i - 12) : i - 1], diffs[i + 2 : i + 13]]
        if len(around) < 4 or d < 8.0 * max(float(np.median(around)), 0.25):
            continue
        before, now = thumbs[i - 1].astype(np.float32), thumbs[i].astype(np.float32)

        def alike(a: NDArray[np.float32], j: int, d: float = d) -> bool:
            return float(np.abs(thumbs[j].astype(np.float32) - a).mean()) < 0.3 * d

        # A flash or a glitch: the old picture comes back after it, or this one is the picture from before it.
        returns = any(alike(before, j) for j in range(i + 1, min(n, i + 7))) or any(
            alike(now, j) for j in range(max(0, i - 7), i - 1)
        )
        if not returns:
            out.append(Transition(i - 1, i - 1))
            near[max(0, i - 3) : i + 4] = True
    return out


def sample_video(
    path: VideoSource, options: SamplingOptions | None = None, boundaries: BoundaryModel | None = None
) -> SamplingResult:
    """Segments with their representative frames, by the options' mode. Raises MediaError on unreadable files;
    a video damaged part-way gives the segments of the readable part (`partial` says where it stopped).

    The accurate detector runs `boundaries` (a TransNetV2 prepared by the caller's runtime choice, e.g.
    `embed.transnet.default_model()`); ValueError without one."""
    opts = options or SamplingOptions()
    if opts.mode == "shots" and opts.detector == "accurate" and boundaries is None:
        raise ValueError("the accurate shot detector needs a boundary model (embed.transnet.default_model())")
    with _opened(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        duration = _duration(container, stream) or 0.0
        if opts.mode == "shots" and opts.detector == "accurate":
            assert boundaries is not None
            return _accurate_shots(container, stream, duration, opts, boundaries)
        if opts.mode == "shots":
            return _shots(container, stream, duration, opts)
    return _spaced(path, duration, opts)


# -- accurate shots -----------------------------------------------------------------------------------------
def _accurate_shots(
    container: InputContainer, stream: VideoStream, duration: float, opts: SamplingOptions, model: BoundaryModel
) -> SamplingResult:
    """Every frame decoded once: TransNetV2 at 48×27 finds the transitions, small frames kept `dense_fps`/s."""
    width, height = model.frame_size
    times: list[float] = []
    kept: list[_Sample] = []
    partial: str | None = None
    step = 1.0 / max(opts.dense_fps, 0.1)
    empty = np.zeros(0, dtype=np.float32)

    # Above `model_fps` the model sees every n-th frame. Not lower by default: on a real music video with fast
    # cuts, 12.5 frames a second found 71 of the 108 cuts that every frame found (docs/video.md).
    rate = float(stream.average_rate or 0) or 30.0
    stride = max(1, round(rate / max(opts.model_fps, 1.0)))

    index = -1  # frames decoded, minus one
    diffs: list[float] = []  # mean absolute grey change from the frame before, per model frame (0..255)
    thumbs: list[NDArray[np.uint8]] = []  # 16×9 grey of each model frame (144 bytes), to tell flashes from cuts

    previous: NDArray[np.float32] | None = None

    def frames() -> Iterator[NDArray[np.uint8]]:
        nonlocal partial, index, previous
        next_t = 0.0
        try:
            for frame in _decoded(container, stream):
                if frame.time is None:
                    continue
                index += 1
                if index % stride:
                    continue
                t = float(frame.time)
                times.append(t)
                if t >= next_t - 1e-6:
                    next_t += step * max(1, int((t - next_t) / step) + 1)
                    kept.append(_Sample(t, empty, _small(frame, stream, opts)))
                    _bound_kept(kept)
                rgb: NDArray[np.uint8] = np.asarray(
                    frame.reformat(width=width, height=height, format="rgb24").to_ndarray(), dtype=np.uint8
                )
                if opts.spike_cuts:
                    grey = rgb.mean(axis=2, dtype=np.float32)
                    diffs.append(float(np.abs(grey - previous).mean()) if previous is not None else 0.0)
                    previous = grey
                    thumbs.append(np.asarray(Image.fromarray(grey.astype(np.uint8)).resize((16, 9)), np.uint8))
                yield rgb
        except (MediaError, av.FFmpegError) as exc:
            if _is_access_error(exc) or not times:
                raise
            partial = f"damaged after {times[-1]:.1f}s: {_short(exc)}"

    probs = np.fromiter(model.probabilities(frames()), dtype=np.float32)
    if not times:
        raise MediaError("no decodable video frame")
    n = len(times)
    end = max(duration, times[-1] + 1e-3) if partial is None else times[-1] + 1e-3
    cuts: list[float] = []
    spans: list[tuple[float, float]] = []
    found = transitions(probs[:n], opts.transition_threshold)
    if opts.spike_cuts and len(diffs) == n:
        found = sorted([*found, *spikes(np.asarray(diffs), thumbs, found)], key=lambda r: r.first)
    for run in found:
        after = times[min(run.last + 1, n - 1)]  # the first frame of the new shot
        if run.last - run.first < 2:  # a cut (the network marks the old shot's last frame, or two)
            cuts.append(after)
            spans.append((times[run.first], after))
        else:  # a fade or a dissolve: its middle separates the shots
            cuts.append(0.5 * (times[run.first] + after))
            spans.append((times[run.first], after))
    start = times[0] if times[0] < 0.5 else 0.0
    segments = [Segment(i + 1, a, b) for i, (a, b) in enumerate(_bounds(cuts, start, end, opts))]
    # A frame in the middle of a fade or dissolve shows neither shot well: never pick one.
    clean = [s for s in kept if not any(a - 1e-6 <= s.t < b for a, b in spans)]
    _attach_frames(container, stream, segments, clean, opts, adaptive=True)
    return SamplingResult(segments, end, index + 1, "transnetv2", cuts, partial, spans)


# -- shots --------------------------------------------------------------------------------------------------
def _shots(container: InputContainer, stream: VideoStream, duration: float, opts: SamplingOptions) -> SamplingResult:
    samples, decoded, method, partial = _keyframe_samples(container, stream, opts)
    if not samples:
        raise MediaError("no decodable video frame")
    end = max(duration, samples[-1].t + 1e-3) if partial is None else samples[-1].t + 1e-3
    cut_pairs = [i for i in range(1, len(samples)) if _distance(samples[i - 1].hist, samples[i].hist) >= opts.threshold]
    cuts: list[float] = []
    for i in cut_pairs:
        before, after = samples[i - 1], samples[i]
        when = after.t
        if opts.refine and method == "keyframes" and after.t - before.t > 1.5 / max(opts.dense_fps, 1.0):
            refined, extra = _refine_cut(container, stream, before, after, opts.threshold)
            decoded += extra
            when = refined if refined is not None else when
        cuts.append(when)
    bounds = _bounds(sorted(set(cuts)), samples[0].t if samples[0].t < 0.5 else 0.0, end, opts)
    segments = [Segment(i + 1, a, b) for i, (a, b) in enumerate(bounds)]
    _attach_frames(container, stream, segments, samples, opts, adaptive=True)
    return SamplingResult(segments, end, decoded, method, cuts, partial)


def _keyframe_samples(
    container: InputContainer, stream: VideoStream, opts: SamplingOptions
) -> tuple[list[_Sample], int, str, str | None]:
    """Histograms (and a bounded set of small frames) of the keyframes; of frames decoded at `dense_fps`
    when the keyframes are too sparse to find shots by."""
    samples: list[_Sample] = []
    decoded = 0
    partial: str | None = None
    stream.codec_context.skip_frame = "NONKEY"
    try:
        for frame in _decoded(container, stream):
            decoded += 1
            if frame.time is None:
                continue
            samples.append(_Sample(float(frame.time), _histogram(frame), _small(frame, stream, opts)))
            _bound_kept(samples)
    except (MediaError, av.FFmpegError) as exc:
        if _is_access_error(exc) or not samples:
            raise
        partial = f"damaged after {samples[-1].t:.1f}s: {_short(exc)}"
    finally:
        stream.codec_context.skip_frame = "DEFAULT"
    gaps = np.diff([s.t for s in samples]) if len(samples) > 1 else np.array([0.0])
    if len(samples) > 1 and float(np.median(gaps)) <= opts.max_keyframe_gap:
        return samples, decoded, "keyframes", partial
    # Sparse keyframes (or a single one): decode everything once, keep `dense_fps` samples per second.
    container.seek(0, stream=stream, backward=True, any_frame=False)
    # Every frame's histogram (cheap next to decoding it) places cuts on the exact frame; small frames are
    # kept only `dense_fps` times a second.
    dense: list[_Sample] = []
    step = 1.0 / max(opts.dense_fps, 0.1)
    next_t = 0.0
    try:
        for frame in _decoded(container, stream):
            decoded += 1
            if frame.time is None:
                continue
            keep = frame.time >= next_t - 1e-6
            if keep:
                next_t += step * max(1, int((frame.time - next_t) / step) + 1)
            image = _small(frame, stream, opts) if keep else None
            dense.append(_Sample(float(frame.time), _histogram(frame), image))
            _bound_kept(dense)
    except (MediaError, av.FFmpegError) as exc:
        if _is_access_error(exc) or not dense:
            raise
        partial = f"damaged after {dense[-1].t:.1f}s: {_short(exc)}"
    return dense, decoded, "decode", partial


def _small(frame: VideoFrame, stream: VideoStream, opts: SamplingOptions) -> Image.Image:
    return _to_poster(frame, stream, opts.frame_side)


def _bound_kept(samples: list[_Sample]) -> None:
    """Keep at most _KEPT_FRAMES small frames: when over, drop every other kept one (histograms stay)."""
    kept = [s for s in samples if s.image is not None]
    if len(kept) > _KEPT_FRAMES:
        for sample in kept[1::2]:
            sample.image = None


def _refine_cut(
    container: InputContainer, stream: VideoStream, before: _Sample, after: _Sample, threshold: float
) -> tuple[float | None, int]:
    """The time of the first frame of the new shot, by decoding every frame between two keyframes."""
    assert stream.time_base is not None
    decoded = 0
    container.seek(int(before.t / stream.time_base), stream=stream, backward=True, any_frame=False)
    previous = before.hist
    best: tuple[float, float] | None = None
    try:
        for frame in _decoded(container, stream):
            decoded += 1
            if frame.time is None or frame.time <= before.t + 1e-6:
                continue
            if frame.time > after.t + 1e-6:
                break
            hist = _histogram(frame)
            d = _distance(previous, hist)
            if best is None or d > best[0]:
                best = (d, float(frame.time))
            previous = hist
    except (MediaError, av.FFmpegError) as exc:
        if _is_access_error(exc):
            raise
    if best is None or best[0] < threshold * 0.5:
        return None, decoded
    return best[1], decoded


def _bounds(cuts: Sequence[float], start: float, end: float, opts: SamplingOptions) -> list[tuple[float, float]]:
    """Shot boundaries from cut times: short shots merged, long ones split, at most max_segments in all."""
    edges = [start, *[c for c in cuts if start < c < end], end]
    shots = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
    merged: list[tuple[float, float]] = []
    for a, b in shots:
        if merged and (b - a < opts.min_shot or merged[-1][1] - merged[-1][0] < opts.min_shot):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    max_len = max(opts.max_shot, (end - start) / max(1, opts.max_segments))
    split: list[tuple[float, float]] = []
    for a, b in merged:
        parts = max(1, int(np.ceil((b - a) / max_len - 1e-9)))
        split.extend((a + (b - a) * i / parts, a + (b - a) * (i + 1) / parts) for i in range(parts))
    while len(split) > opts.max_segments:  # join the shortest neighbouring pair until under the cap
        i = min(range(len(split) - 1), key=lambda j: split[j + 1][1] - split[j][0])
        split[i : i + 2] = [(split[i][0], split[i + 1][1])]
    return split


def _frame_times(segment: Segment, count: int) -> list[float]:
    length = segment.t_end - segment.t_start
    return [segment.t_start + length * (i + 0.5) / count for i in range(max(1, count))]


def _attach_frames(
    container: InputContainer,
    stream: VideoStream,
    segments: list[Segment],
    samples: list[_Sample],
    opts: SamplingOptions,
    *,
    adaptive: bool = False,
) -> None:
    """Representative frames: a kept sample inside the segment near each wanted time, else one decoded there.

    `adaptive` (shots): the wanted times come from the kept samples themselves, one per visually distinct
    stretch of the shot and at least one every `frame_gap` seconds (see `pick_frames`)."""
    kept = [s for s in samples if s.image is not None]
    for segment in segments:
        inside = [s for s in kept if segment.t_start - 1e-6 <= s.t < segment.t_end]
        if adaptive and inside:
            images = [s.image for s in inside if s.image is not None]  # (all of them: `kept` has images only)
            for i in pick_frames([s.t for s in inside], [_signature(im) for im in images], segment, opts):
                segment.frame_times.append(inside[i].t)
                segment.frames.append(images[i])
            continue
        for want in _frame_times(segment, opts.frames_per_segment):
            if inside:
                best = min(inside, key=lambda s: abs(s.t - want))
                if best.image is not None and best.t not in segment.frame_times:
                    segment.frame_times.append(best.t)
                    segment.frames.append(best.image)
                    continue
            image = _seek_frame(container, stream, want, opts.frame_side)
            if image is not None:
                segment.frame_times.append(want)
                segment.frames.append(image)


def _signature(image: Image.Image) -> NDArray[np.float32]:
    """What a frame looks like, coarsely: its 16×9 grey thumbnail in 0..1 (layout, not detail)."""
    return np.asarray(image.convert("L").resize((16, 9), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def pick_frames(
    times: Sequence[float], signatures: Sequence[NDArray[np.float32]], segment: Segment, opts: SamplingOptions
) -> list[int]:
    """Which of a shot's candidate frames (in time order) stand for it, as indexes into `times`.

    The shot is cut into stretches: a new one starts where the picture has changed by `frame_change` (mean
    absolute difference of the grey thumbnails) from the stretch's first frame, or `frame_gap` seconds after it
    began. Each stretch gives the candidate nearest its middle. Over `max_frames_per_segment` stretches, the
    two neighbours that look most alike merge until under; under `frames_per_segment`, candidates evenly spaced
    in time are taken instead. A still shot gets one frame; a pan across a room gets one per view."""
    n = len(times)
    if n == 0:
        return []
    runs: list[list[int]] = [[0]]
    for i in range(1, n):
        first = runs[-1][0]
        changed = float(np.mean(np.abs(signatures[i] - signatures[first]))) >= opts.frame_change
        if changed or times[i] - times[first] >= opts.frame_gap:
            runs.append([i])
        else:
            runs[-1].append(i)

    def middle(run: list[int]) -> int:
        centre = 0.5 * (times[run[0]] + times[run[-1]])
        return min(run, key=lambda i: abs(times[i] - centre))

    limit = max(1, opts.max_frames_per_segment)
    while len(runs) > limit:
        picks = [middle(r) for r in runs]
        gaps = [float(np.mean(np.abs(signatures[picks[j]] - signatures[picks[j + 1]]))) for j in range(len(runs) - 1)]
        j = int(np.argmin(gaps))
        runs[j : j + 2] = [runs[j] + runs[j + 1]]
    if len(runs) < opts.frames_per_segment:
        wanted = _frame_times(segment, min(opts.frames_per_segment, n))
        return sorted({min(range(n), key=lambda i: abs(times[i] - w)) for w in wanted})
    return [middle(r) for r in runs]


def _seek_frame(container: InputContainer, stream: VideoStream, when: float, side: int) -> Image.Image | None:
    try:
        frame = _frame_near(container, stream, when)
    except (MediaError, av.FFmpegError) as exc:
        if _is_access_error(exc):
            raise
        return None
    return _to_poster(frame, stream, side) if frame is not None else None


# -- uniform / fps ------------------------------------------------------------------------------------------
def _spaced(path: VideoSource, duration: float, opts: SamplingOptions) -> SamplingResult:
    if duration <= 0:
        raise MediaError("the video has no duration: use the shots sampling mode for it")
    if opts.mode == "uniform":
        count = max(1, min(opts.count, opts.max_segments))
    else:
        count = max(1, min(int(np.ceil(duration * opts.fps)), opts.max_segments))
    width = duration / count
    segments = [Segment(i + 1, i * width, (i + 1) * width) for i in range(count)]
    decoded = 0
    with _opened(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        for segment in segments:
            for want in _frame_times(segment, opts.frames_per_segment):
                image = _seek_frame(container, stream, want, opts.frame_side)
                decoded += 1
                if image is not None:
                    segment.frame_times.append(want)
                    segment.frames.append(image)
    segments = [s for s in segments if s.frames]
    if not segments:
        raise MediaError("no decodable video frame")
    return SamplingResult(segments, duration, decoded, opts.mode)


def iter_frames(result: SamplingResult) -> Iterator[tuple[Segment, Image.Image]]:
    for segment in result.segments:
        for frame in segment.frames:
            yield segment, frame


def frames_at(path: VideoSource, times: Sequence[float], side: int) -> list[Image.Image | None]:
    """Frames at these times (seeking, in time order), for segments whose frames are not in memory."""
    out: dict[float, Image.Image | None] = {}
    with _opened(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        for when in sorted(set(times)):
            out[when] = _seek_frame(container, stream, when, side)
    return [out[t] for t in times]
