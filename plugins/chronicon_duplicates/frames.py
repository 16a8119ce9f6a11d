"""Video signatures: a 64-bit perceptual hash of a frame at every step of a fixed time grid, and the duration.

The grid is k × step seconds from the first frame (step 1 s by default, doubled for long videos so that there are
at most `max_frames` samples). Decoding is what costs, so every sample is read as cheaply as the file allows:

- a **keyframe** within `snap` × step of the wanted time is taken as it is: one seek, one frame decoded (phones
  write a keyframe every second or so, on the grid of an untrimmed clip);
- otherwise the frame nearest the wanted time is decoded, continuing from the previous sample when no keyframe
  lies between them, else seeking to the last keyframe before it. Positions only move forward, so no frame is
  decoded twice and the worst case (keyframes rarer than samples) is one pass over the reference frames;
- non-reference frames are never decoded (FFmpeg `skip_frame=NONREF`: the sample is then at most a few frames off)
  and H.264's deblocking filter is skipped (invisible at 32 × 32).

Keyframe positions come from the container's index (`stream.index_entries`; MP4/MOV have it complete at open);
without one, a sample more than `_FORWARD_WITHOUT_INDEX` seconds ahead is sought, a nearer one decoded to.

Each sampled frame is reduced by FFmpeg to 32 × 32 grey (area average), turned upright, and hashed like the
content pass's pHash (top-left 8 × 8 of the 2-D DCT against their median). A nearly uniform frame (black, white,
a fade) carries no information: its hash is None and it is left out of matching.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from chronicon.api import MediaError

HASH_SIDE = 32  # the frame is reduced to this square before the DCT
FLAT_STD = 4.0  # grey levels (0..255): a 32×32 frame with less spread than this is "flat" (no hash)
_FORWARD_WITHOUT_INDEX = 2.0  # no keyframe index: samples further ahead than this (seconds) are sought
_MAX_BAD_PACKETS = 8  # undecodable packets stepped over before the rest of the file counts as damaged


@dataclass
class Signature:
    """The sampled frames of one video: their times (seconds from the first frame) and hashes (None: flat)."""

    step: float
    times: list[float] = field(default_factory=list)
    hashes: list[int | None] = field(default_factory=list)
    duration: float | None = None
    frames_decoded: int = 0  # the cost: frames the decoder produced
    seeks: int = 0
    partial: str | None = None  # why sampling stopped before the end (damaged file)

    @property
    def informative(self) -> int:
        return sum(h is not None for h in self.hashes)


def grid_step(duration: float | None, step: float, max_frames: int) -> float:
    """`step` doubled until a video of `duration` seconds has at most `max_frames` samples on the grid."""
    chosen = step
    if duration is None or not math.isfinite(duration) or duration <= 0:
        return chosen
    while duration / chosen > max_frames:
        chosen *= 2.0
    return chosen


def grid_times(duration: float, step: float) -> list[float]:
    """0, step, 2·step, ... up to the last grid time before the end."""
    count = max(1, math.ceil(duration / step - 1e-6))
    return [round(k * step, 6) for k in range(count)]


@cache
def _dct_rows() -> NDArray[np.float64]:
    """The first 8 rows of the orthonormal 32-point DCT-II matrix."""
    k = np.arange(8, dtype=np.float64)[:, None]
    i = np.arange(HASH_SIDE, dtype=np.float64)[None, :]
    matrix: NDArray[np.float64] = np.cos(np.pi * (2 * i + 1) * k / (2 * HASH_SIDE)) * np.sqrt(2.0 / HASH_SIDE)
    matrix[0] /= np.sqrt(2.0)
    matrix.flags.writeable = False
    return matrix


_BIT_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def grey_hash(pixels: NDArray[Any]) -> int | None:
    """The 64-bit DCT pHash of a 32×32 grey array; None when the picture is nearly uniform."""
    grey = np.asarray(pixels, dtype=np.float64)
    if float(grey.std()) < FLAT_STD:
        return None
    dct = _dct_rows()
    coeffs = (dct @ grey @ dct.T).ravel()
    bits = (coeffs > np.median(coeffs[1:])).astype(np.uint64)  # the DC term stays out of the median
    return int((bits * _BIT_WEIGHTS).sum())


def _rotation(frame: Any) -> int:
    try:
        value = float(frame.rotation)
    except (TypeError, ValueError, AttributeError):
        return 0
    return round(value / 90.0) * 90 % 360 if math.isfinite(value) else 0


def frame_hash(frame: Any) -> int | None:
    """The hash of a decoded frame: FFmpeg reduces it to 32×32 grey (area average), turned upright."""
    small = frame.reformat(width=HASH_SIDE, height=HASH_SIDE, format="gray", interpolation="AREA")
    pixels = small.to_ndarray()
    turns = _rotation(frame) // 90  # counter-clockwise, like np.rot90
    return grey_hash(np.rot90(pixels, turns) if turns else pixels)


def to_hex(value: int | None) -> str:
    return "" if value is None else f"{value:016x}"


def from_hex(text: str | None) -> int | None:
    return int(text, 16) if text and len(text) == 16 else None


def _video_stream(container: Any) -> Any:
    for stream in container.streams.video:
        if int(stream.disposition) & int(av.stream.Disposition.attached_pic):
            continue  # cover art
        if getattr(stream, "codec_context", None) is None:
            raise MediaError("no decoder for the video codec")
        return stream
    raise MediaError("no video stream")


def _duration(container: Any, stream: Any) -> float | None:
    if container.duration and container.duration > 0:
        return float(container.duration) / 1_000_000
    if stream.duration and stream.time_base and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def _keyframe_times(stream: Any, start: float) -> NDArray[np.float64] | None:
    """Presentation times of the keyframes from the container's index (None: no index). The index holds decode
    timestamps; shifting them so the first entry is the stream's start gives the keyframes' presentation times
    (exact when the encoder delays every frame alike; only used to plan, frames are checked by their own time)."""
    try:
        entries = stream.index_entries
        count = len(entries)
    except (AttributeError, av.FFmpegError):
        return None
    if count == 0:
        return None
    tb = float(stream.time_base)
    first = entries[0].timestamp
    origin = stream.start_time if stream.start_time is not None else first
    keys = [(e.timestamp - first + origin) * tb - start for e in entries if e.is_keyframe]
    return np.asarray(sorted(keys), dtype=np.float64) if keys else None


class _Reader:
    """Frames of one stream in presentation order from the current position; `seek` restarts after a keyframe."""

    def __init__(self, container: Any, stream: Any, start: float) -> None:
        self.container, self.stream, self.start = container, stream, start
        self.frames: Iterator[Any] | None = None
        self.decoded = 0
        self.seeks = 0
        self.bad = 0

    def seek(self, t: float) -> None:
        """To the last keyframe at or before `t` seconds (from the first frame)."""
        target = math.floor((t + self.start) / float(self.stream.time_base))
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        self.seeks += 1
        self.frames = self._decode()

    def _decode(self) -> Iterator[Any]:
        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                if isinstance(exc, (FileNotFoundError, PermissionError)):
                    raise
                self.bad += 1
                if self.bad >= _MAX_BAD_PACKETS:
                    raise
                continue
            for frame in frames:
                if frame.time is None:
                    continue
                self.decoded += 1
                yield frame

    def next(self) -> tuple[float, Any] | None:
        if self.frames is None:
            self.frames = self._decode()
        frame = next(self.frames, None)
        return None if frame is None else (float(frame.time) - self.start, frame)


def read_signature(
    path: str | os.PathLike[str],
    *,
    step: float = 1.0,
    max_frames: int = 300,
    snap: float = 0.1,
    duration: float | None = None,
) -> Signature:
    """The signature of a video file. `duration` is used when the container does not say (e.g. from the catalog).
    Raises MediaError when no frame can be read; a file damaged part-way gives the samples before the damage."""
    try:
        container = av.open(os.fspath(path), mode="r", metadata_errors="replace")
    except (av.FFmpegError, ValueError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise MediaError(f"not a readable video: {exc}") from exc
    try:
        return _sample(container, step=step, max_frames=max_frames, snap=snap, duration=duration)
    finally:
        container.close()


def _sample(container: Any, *, step: float, max_frames: int, snap: float, duration: float | None) -> Signature:
    stream = _video_stream(container)
    context = stream.codec_context
    context.thread_count = 1  # the scan decodes several files at once; frame threads would delay every seek
    context.skip_frame = "NONREF"
    if context.name in ("h264", "hevc"):
        context.options = {**dict(context.options or {}), "skip_loop_filter": "all"}
    tb = float(stream.time_base or 0) or None
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None and tb else 0.0
    known = _duration(container, stream) or duration
    if tb is None or not known:
        raise MediaError("the video has no time base or duration")
    chosen = grid_step(known, step, max_frames)
    signature = Signature(chosen, duration=round(known, 3))
    sampler = _Sampler(_Reader(container, stream, start), _keyframe_times(stream, start), chosen)
    try:
        for t in grid_times(known, chosen):
            got = sampler.sample(t, snap * chosen, signature)
            if got is None:
                if sampler.ended:
                    break
                continue
            when, value = got
            if signature.times and abs(signature.times[-1] - when) < 1e-3:
                continue  # the frame of the previous sample (a video with fewer frames than samples)
            signature.times.append(round(when, 3))
            signature.hashes.append(value)
    except (av.FFmpegError, MediaError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        if not signature.times:
            raise MediaError(f"no decodable video frame: {exc}") from exc
        signature.partial = f"damaged after {signature.times[-1]:.1f}s"
    signature.frames_decoded, signature.seeks = sampler.reader.decoded, sampler.reader.seeks
    if not signature.times:
        raise MediaError("no decodable video frame")
    return signature


CUT_BITS = 20  # a keyframe ahead of the sample time this far from the previous sample is taken for a scene cut


class _Sampler:
    """Reads the frame for each grid time, in time order, as cheaply as the keyframes allow."""

    def __init__(self, reader: _Reader, keys: NDArray[np.float64] | None, step: float) -> None:
        self.reader, self.keys, self.step = reader, keys, step
        self.pos: float | None = None  # time of the last frame decoded
        self.last: tuple[float, Any] | None = None  # ... and that frame
        self.hashed: dict[float, tuple[float, int | None]] = {}  # keyframes already decoded: their time and hash
        self.ended = False

    def sample(self, t: float, tolerance: float, signature: Signature) -> tuple[float, int | None] | None:
        """(time, hash) of the frame standing for grid time `t`, or None when there is none near it.

        A keyframe up to `tolerance` before `t` is taken as it is (it starts the shot that `t` is in, or no shot
        starts between them). One up to `tolerance` after `t` is taken only when it looks like the previous
        sample: encoders put keyframes on scene cuts, and one after a cut shows the next shot, not `t`'s. Else
        the frame nearest `t` is decoded."""
        half = self.step / 2
        if self.keys is not None:
            j = int(np.searchsorted(self.keys, t + 1e-6, side="right")) - 1
            back = float(self.keys[j]) if j >= 0 else None
            ahead = float(self.keys[j + 1]) if j + 1 < len(self.keys) else None
            if back is not None and t - back <= tolerance:
                got = self._keyframe(back, t, half)
                if got is not None:
                    return got
            if ahead is not None and ahead - t <= tolerance:
                got = self._keyframe(ahead, t, half)
                if got is not None and self._continues(got[1], t, signature):
                    return got
        return self._exact(t, half)

    def _continues(self, value: int | None, t: float, signature: Signature) -> bool:
        """Whether a frame after `t` looks like the previous sample (no scene cut between them, as far as the two
        hashes can tell); False when there is no previous sample close enough to tell."""
        if not signature.times or t - signature.times[-1] > 1.5 * self.step:
            return False
        previous = signature.hashes[-1]
        return value is None or previous is None or (value ^ previous).bit_count() <= CUT_BITS

    def _keyframe(self, k: float, t: float, half: float) -> tuple[float, int | None] | None:
        """The keyframe at `k` (one seek, one frame decoded; remembered), if it is within `half` of `t`; None when
        the decoder is already past it or the seek landed elsewhere."""
        key = round(k, 3)
        if key not in self.hashed:
            if self.pos is not None and k <= self.pos + 1e-3:
                return None  # decoded past it already (without hashing it): decoding on is cheaper
            self.reader.seek(k + 1e-3)
            got = self.reader.next()
            if got is None:
                self.ended = True
                return None
            self.pos, self.last = got[0], got
            self.hashed[key] = (got[0], frame_hash(got[1]))
        when, value = self.hashed[key]
        return (when, value) if abs(when - t) <= half else None

    def _exact(self, t: float, half: float) -> tuple[float, int | None] | None:
        """The decoded frame nearest `t`: decoding on from the last frame when no keyframe lies between, else from
        the last keyframe before `t`."""
        if self.pos is None or self.pos > t + 1e-3:
            seek = True
        elif self.keys is not None:
            j = int(np.searchsorted(self.keys, t + 1e-6, side="right")) - 1
            seek = j >= 0 and float(self.keys[j]) > self.pos + 1e-3
        else:
            seek = t - self.pos > _FORWARD_WITHOUT_INDEX
        if seek:
            self.reader.seek(t)
            self.pos, self.last = None, None
        best = _nearest(self.reader, self.last, t)
        if best is None:
            self.ended = True
            return None
        when, frame, self.last = best
        self.pos = self.last[0]
        if abs(when - t) > half:
            self.ended = when < t  # the stream ended (or its times stop) before this sample
            return None
        return when, frame_hash(frame)


def _nearest(reader: _Reader, last: tuple[float, Any] | None, t: float) -> tuple[float, Any, tuple[float, Any]] | None:
    """Decode up to the first frame at or after `t`; the one of it and the frame before nearest `t`, and the last
    frame decoded. None when nothing more could be decoded."""
    previous = last
    while previous is None or previous[0] < t - 1e-3:
        got = reader.next()
        if got is None:
            return None if previous is None else (previous[0], previous[1], previous)
        if previous is not None and got[0] >= t - 1e-3:
            if t - previous[0] < got[0] - t:
                return previous[0], previous[1], got
            return got[0], got[1], got
        previous = got
    return previous[0], previous[1], previous
