"""Long shots with known moments: one continuous camera pan across several real photos, and how well a search finds
the clip and the moment each photo is in view (for several frames per shot against one)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from chronicon.evaluation.transitions import smoothstep


@dataclass(frozen=True)
class InView:
    """A photo of a pan clip and the span (seconds) in which it fills at least half the frame: its hold, and the
    first half of the slides to and from its neighbours."""

    photo: str  # its file name (the labelled queries' `expect` names)
    t_from: float
    t_to: float


@dataclass
class PanClip:
    """A generated clip: one shot, the camera holding on each photo and then sliding to the next."""

    path: Path
    duration: float
    views: list[InView] = field(default_factory=list)


def make_pan_clip(
    photos: Sequence[Path],
    out: Path,
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 12,
    hold: float = 6.0,
    move: float = 2.0,
) -> PanClip:
    """Write an H.264 clip that holds on each photo for `hold` seconds and pans to the next over `move` seconds
    (ease in and out, no cut): a long shot whose content changes. The photos are cover-cropped to `size`."""
    width, height = size
    tiles = [
        np.asarray(ImageOps.fit(Image.open(p).convert("RGB"), size, Image.Resampling.LANCZOS), dtype=np.uint8)
        for p in photos
    ]
    strip: NDArray[np.uint8] = np.concatenate(tiles, axis=1)
    n = len(tiles)
    duration = n * hold + (n - 1) * move
    views = [
        InView(p.name, max(0.0, i * (hold + move) - move / 2), min(duration, i * (hold + move) + hold + move / 2))
        for i, p in enumerate(photos)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        stream: Any = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for k in range(round(duration * fps)):
            t = k / fps
            i = min(n - 1, int(t // (hold + move)))
            into = t - i * (hold + move)
            offset = i + (smoothstep((into - hold) / move) if into > hold and i < n - 1 else 0.0)
            x = round(offset * width)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(strip[:, x : x + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return PanClip(out, duration, views)


def make_pan_library(photos: Sequence[Path], folder: Path, *, per_clip: int = 3, **kwargs: Any) -> list[PanClip]:
    """Clips of `per_clip` consecutive photos each (in the order given), as folder/PAN_0001.mp4, ..."""
    groups = [list(photos[i : i + per_clip]) for i in range(0, len(photos), per_clip)]
    return [make_pan_clip(g, folder / f"PAN_{n + 1:04d}.mp4", **kwargs) for n, g in enumerate(groups) if g]


@dataclass
class MomentScore:
    """How a search over pan clips did on labelled queries (each expecting photos that are in some clip)."""

    queries: int = 0
    top1: int = 0  # the first result is a clip that shows an expected photo
    top3: int = 0
    moment: int = 0  # ... and its moment lies in the span where that photo is in view (± tolerance)
    errors: list[float] = field(default_factory=list)  # seconds from the moment to the nearest expected span
    misses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        q = max(1, self.queries)
        return {
            "queries": self.queries,
            "top1": round(self.top1 / q, 3),
            "top3": round(self.top3 / q, 3),
            "moment": round(self.moment / q, 3),
            "median_error_s": round(float(np.median(self.errors)), 2) if self.errors else None,
        }


def score_moments(
    clips: Sequence[PanClip],
    queries: Iterable[tuple[str, Sequence[str]]],
    results: dict[str, Sequence[tuple[str, float | None]]],
    *,
    tolerance: float = 0.5,
) -> MomentScore:
    """Score `results` (query -> [(clip file name, moment or None), ...] best first) against the labelled queries
    (query, expected photo names). Queries none of whose photos is in a clip are not counted."""
    spans: dict[str, list[tuple[str, InView]]] = {}
    for clip in clips:
        for view in clip.views:
            spans.setdefault(view.photo, []).append((clip.path.name, view))
    score = MomentScore()
    for query, expect in queries:
        wanted = [(name, view) for photo in expect for name, view in spans.get(photo, [])]
        if not wanted:
            continue
        score.queries += 1
        hits = list(results.get(query) or [])
        names = {name for name, _ in wanted}
        if any(name in names for name, _ in hits[:3]):
            score.top3 += 1
        if not hits or hits[0][0] not in names:
            score.misses.append(query)
            continue
        score.top1 += 1
        clip_name, when = hits[0]
        if when is None:
            continue
        error = min(max(0.0, view.t_from - when, when - view.t_to) for name, view in wanted if name == clip_name)
        score.errors.append(error)
        if error <= tolerance:
            score.moment += 1
    return score
