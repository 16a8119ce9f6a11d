"""Shot-transition ground truth: generated H.264 clips of real photos with known transitions, and their scoring."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

# What a detector should find, and what it should not (motion and light inside one shot).
TRANSITIONS = ("cut", "same_colour_cut", "fade", "dissolve")
NON_TRANSITIONS = ("pan", "flash", "zoom")
KINDS = TRANSITIONS + NON_TRANSITIONS

# Real photos that ship inside installed packages (no download): scikit-image's, then scikit-learn's two.
COLOUR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                 "china", "flower")  # fmt: skip
GREY_PHOTOS = ("camera", "coins", "page", "moon", "clock", "brick", "grass", "gravel")
# Photos whose colours are spread evenly over the picture: two places in one (one mirrored) are different
# scenes with the same colour histogram.
UNIFORM_PHOTOS = ("hubble_deep_field", "grass", "gravel", "brick", "moon")


@dataclass(frozen=True)
class Encoding:
    """How a generated clip is encoded (libx264, yuv420p). `scenecut` 40 is x264's default: it puts a keyframe
    at every hard cut, which real camera and web video mostly does not have; 0 turns that off."""

    name: str
    keyint: int = 250  # a keyframe at least this often (frames); 250 is x264's default
    scenecut: int = 40
    preset: str = "ultrafast"  # ultrafast turns scenecut off: the x264-params below turn it back on
    crf: int = 23

    def x264_params(self, fps: int) -> str:
        keyint = self.keyint if self.keyint > 0 else fps
        return f"keyint={keyint}:min-keyint={min(keyint, fps)}:scenecut={self.scenecut}"


SPARSE = Encoding("keyint250")  # sparse keyframes (every 10 s at 25 fps), plus x264's keyframes at hard cuts
SPARSE_NO_SCENECUT = Encoding("keyint250-noscenecut", scenecut=0)  # keyframes every 250 frames, nowhere else
PHONE = Encoding("gop1s", keyint=0, scenecut=0)  # a keyframe every second (keyint = fps), as phones write them
ENCODINGS = {e.name: e for e in (SPARSE, SPARSE_NO_SCENECUT, PHONE)}


@dataclass(frozen=True)
class Event:
    """A ground-truth event: frames `first`..`last` (inclusive) and their times. A hard cut has first == last ==
    the first frame of the new shot; a fade spans fade-out, black and fade-in; pan/flash/zoom are inside a shot."""

    kind: str
    first: int
    last: int
    start: float
    end: float
    colour_distance: float | None = None  # transitions: 64-bin colour histogram distance (0..1) across it

    @property
    def transition(self) -> bool:
        return self.kind in TRANSITIONS

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass
class GeneratedClip:
    path: Path
    fps: int
    frames: int
    duration: float  # frames / fps
    size: tuple[int, int]
    encoding: Encoding
    events: list[Event]
    keyframes: list[float] = field(default_factory=list)  # times of the keyframes, as written

    @property
    def transitions(self) -> list[Event]:
        return [e for e in self.events if e.transition]


# -- photos ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def load_photo(name: str) -> Image.Image:
    """One of the packaged real photos as RGB (grey ones converted); cached, so never change it in place."""
    if name in ("china", "flower"):
        datasets = importlib.import_module("sklearn.datasets")  # untyped package
        return Image.fromarray(np.asarray(datasets.load_sample_image(f"{name}.jpg"), dtype=np.uint8)).convert("RGB")
    from skimage import data

    pixels = np.asarray(getattr(data, name)())
    if pixels.dtype != np.uint8:
        pixels = (pixels.astype(np.float64) * (255.0 / max(1.0, float(pixels.max())))).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


def available_photos(names: Iterable[str]) -> list[str]:
    """The names that load here (scikit-image downloads some of its images; those are left out)."""
    out = []
    for name in names:
        try:
            load_photo(name)
        except Exception:  # a missing optional package or a photo that needs a download
            continue
        out.append(name)
    return out


def colour_histogram(pixels: NDArray[np.uint8]) -> NDArray[np.float64]:
    """A 4×4×4 RGB histogram normalised to sum 1 (the same bins as the shot detector's)."""
    q = (pixels >> 6).astype(np.int32)
    bins = np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64).astype(np.float64)
    out: NDArray[np.float64] = bins / max(1.0, float(bins.sum()))
    return out


def colour_distance(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Half the L1 distance of the two pictures' colour histograms: 0 = same colours, 1 = none in common."""
    return 0.5 * float(np.abs(colour_histogram(a) - colour_histogram(b)).sum())


def _matched(photo: Image.Image, box: tuple[float, float, float, float], reference: Image.Image) -> Image.Image:
    """`photo` recoloured (one lookup table per channel) so that its part in `box` has the colour distribution
    of `reference`: histogram matching, so that a cut between the two barely changes the colours."""
    window = np.asarray(photo.resize((128, 72), Image.Resampling.BILINEAR, box=box))
    target = np.asarray(reference.resize((128, 72), Image.Resampling.BILINEAR))
    table: list[int] = []
    for c in range(3):
        source, wanted = np.sort(window[..., c].ravel()), np.sort(target[..., c].ravel())
        levels = np.arange(256)
        quantile = (np.searchsorted(source, levels, "left") + np.searchsorted(source, levels, "right")) / (
            2 * source.size
        )
        table += np.interp(quantile, np.linspace(0, 1, wanted.size), wanted).round().astype(int).tolist()
    return photo.point(table)


# -- the plan: scenes with their camera motion, and what happens between them ---------------------------------
@dataclass
class _Scene:
    photo: Image.Image
    frames: int
    start: int  # global index of its first frame
    fraction: float  # window width as a fraction of the widest window the photo allows
    c0: tuple[float, float]  # window centre (fractions of the free range) at the start and the end
    c1: tuple[float, float]
    z1: float  # window scale at the end (slow zoom; 1 = none)
    inner: str | None = None  # pan | flash | zoom
    inner_at: tuple[int, int] = (0, 0)  # local frames [a, b] of the inner event

    def box(self, j: int, aspect: float) -> tuple[float, float, float, float]:
        pw, ph = self.photo.size
        widest = min(pw, ph * aspect)
        u = j / max(1, self.frames - 1)
        scale = 1.0 + (self.z1 - 1.0) * u
        cx, cy = (self.c0[0] + (self.c1[0] - self.c0[0]) * u, self.c0[1] + (self.c1[1] - self.c0[1]) * u)
        a, b = self.inner_at
        if self.inner in ("pan", "zoom"):
            ramp = smoothstep((j - a) / max(1, b - a))
            if self.inner == "pan":
                cx += 0.8 * ramp  # a fast pan over most of the free range
            else:
                scale *= 1.0 - 0.45 * ramp  # a quick zoom in
        ww = widest * self.fraction * scale
        wh = ww / aspect
        x = ww / 2 + (pw - ww) * min(1.0, max(0.0, cx))
        y = wh / 2 + (ph - wh) * min(1.0, max(0.0, cy))
        return (x - ww / 2, y - wh / 2, x + ww / 2, y + wh / 2)


def smoothstep(x: float) -> float:
    """Ease in and out over 0..1 (clamped): 3x² - 2x³."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


@dataclass
class _Layer:
    scene: int
    local: int
    weight: float


@dataclass
class _Frame:
    layers: list[_Layer] = field(default_factory=list)
    gain: float = 1.0  # fades
    white: float = 0.0  # flashes: mix towards white


def _plan(
    total: int, fps: int, aspect: float, rng: np.random.Generator, ordinary: list[str], uniform: list[str]
) -> tuple[list[_Scene], list[_Frame], list[tuple[str, int, int]]]:
    """Scenes, the compositing of every frame, and the events as (kind, first frame, last frame)."""
    photos = {n: load_photo(n) for n in dict.fromkeys(ordinary + uniform)}
    # What follows scene k is follows[k]: every transition kind once per round, each round shuffled.
    follows = [str(k) for _ in range(total // fps + 1) for k in rng.permutation(TRANSITIONS)]
    inner_kinds = [str(k) for _ in range(total // fps + 1) for k in rng.permutation(NON_TRANSITIONS)]
    scenes: list[_Scene] = []
    events: list[tuple[str, int, int]] = []
    frames = [_Frame() for _ in range(total)]
    start = fade_start = 0
    name = ""
    while start < total:
        k = len(scenes)
        kind = follows[k - 1] if k else "start"  # the transition into this scene
        twin = "mirror"
        if kind == "same_colour_cut":
            prev = scenes[-1]
            if name in uniform:  # the same evenly coloured photo, mirrored, another part of it
                photo = ImageOps.mirror(prev.photo)
            else:  # another photo of the same family (colour / grey), recoloured below to the last one's colours
                twin = "matched"
                others = [n for n in ordinary if n != name]
                family = [n for n in others if (n in GREY_PHOTOS) == (name in GREY_PHOTOS)] or others
                photo = photos[family[0]]
        else:
            pool = uniform if follows[k] == "same_colour_cut" and uniform and rng.random() < 0.5 else ordinary
            order = [str(n) for n in rng.permutation([n for n in pool if n != name] or pool)]
            photo = photos[order[0]]  # chosen below, once the first window is known
        inner = inner_kinds[k // 2] if k % 2 == 1 else None
        length = int(fps * (rng.uniform(4.0, 5.0) if inner else rng.uniform(2.6, 3.6)))
        lead = 0  # frames of this scene that the transition into it takes
        if kind == "dissolve":
            lead = int(rng.integers(10, 26))
            start -= lead  # the scenes overlap by the dissolve's length
        elif kind == "fade":
            lead = int(rng.integers(12, 21))  # the fade-in
        here = min(length, total - start)
        if total - (start + here) < 2 * fps:
            here = total - start  # no stub of a scene at the end
        scene = _Scene(
            photo=photo,
            frames=here,
            start=start,
            fraction=float(rng.uniform(0.5, 0.62) if inner == "pan" else rng.uniform(0.62, 0.78)),
            c0=(float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.2, 0.8))),
            c1=(float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.2, 0.8))),
            z1=float(rng.uniform(0.88, 1.0)),
            inner=inner,
        )
        if follows[k] == "same_colour_cut" and name in uniform:
            scene.fraction = 0.5  # the mirrored twin then shows mostly another part of the photo
        if inner == "pan":
            scene.c0, scene.c1 = (0.05, scene.c0[1]), (0.12, scene.c0[1])
        if kind == "same_colour_cut":
            prev_x, prev_y = scenes[-1].c1
            x = prev_x if twin == "mirror" else 1.0 - prev_x  # mirrored: the same x is the other side
            scene.fraction = scenes[-1].fraction
            scene.c0 = (x, 1.0 - prev_y)
            scene.c1 = (x + (0.1 if x < 0.5 else -0.1), 1.0 - prev_y)
            if twin == "matched":  # of the family, the photo that matches the last one's colours best
                last = prev.photo.resize((128, 72), box=prev.box(prev.frames - 1, aspect))
                best: tuple[float, str, Image.Image] | None = None
                for candidate in family:
                    scene.photo = photos[candidate]
                    box = scene.box(0, aspect)
                    recoloured = _matched(photos[candidate], box, last)
                    window = np.asarray(recoloured.resize((128, 72), box=box))
                    distance = colour_distance(window, np.asarray(last))
                    if best is None or distance < best[0]:
                        best = (distance, candidate, recoloured)
                assert best is not None
                _, name, scene.photo = best
        elif k:  # a plain transition goes to a photo of clearly other colours (the first such, in random order)
            last = scenes[-1].photo.resize((128, 72), box=scenes[-1].box(scenes[-1].frames - 1, aspect))
            farthest: tuple[float, str] | None = None
            for candidate in order:
                scene.photo = photos[candidate]
                window = np.asarray(scene.photo.resize((128, 72), box=scene.box(0, aspect)))
                distance = colour_distance(window, np.asarray(last))
                if farthest is None or distance > farthest[0]:
                    farthest = (distance, candidate)
                if distance >= 0.4:
                    break
            assert farthest is not None
            name = farthest[1]
            scene.photo = photos[name]
        else:
            name = order[0]
        if inner:
            span = {"pan": int(fps * 0.8), "zoom": int(fps * 0.5), "flash": int(rng.integers(2, 4))}[inner]
            # Centred in the part of the shot no transition touches, at least half a second from either.
            tail = 25 if start + here < total and follows[k] in ("dissolve", "fade") else 0
            margin = fps // 2
            room = here - tail - lead - 2 * margin
            if room >= span:
                a = lead + margin + (room - span) // 2
                scene.inner_at = (a, a + span - 1)
            else:
                scene.inner = inner = None
        scenes.append(scene)
        for j in range(here):
            frames[start + j].layers.append(_Layer(k, j, 1.0))
        if kind == "dissolve":
            prev = scenes[-2]
            overlap = prev.start + prev.frames - start
            for j in range(overlap):
                alpha = (j + 1) / (overlap + 1)
                frames[start + j].layers[0].weight = 1.0 - alpha
                frames[start + j].layers[1].weight = alpha
            events.append(("dissolve", start, start + overlap - 1))
        elif kind == "fade":
            fade_in = lead
            for j in range(fade_in):
                frames[start + j].gain = (j + 1) / (fade_in + 1)
            events.append(("fade", fade_start, start + fade_in - 1))
        elif kind in ("cut", "same_colour_cut"):
            events.append((kind, start, start))
        if inner:
            a, b = scene.inner_at
            if inner == "flash":
                for j, w in zip(range(a, b + 1), (0.85, 0.7, 0.4), strict=False):
                    frames[start + j].white = w
            events.append((inner, start + a, start + b))
        start += here
        if start < total and follows[k] == "fade":  # fade out over the scene's last frames, then black ones
            fade_out, black = int(rng.integers(12, 21)), int(rng.integers(2, 7))
            for j in range(fade_out):
                frames[start - fade_out + j].gain = 1.0 - (j + 1) / (fade_out + 1)
            fade_start = start - fade_out
            start += black  # black frames have no layer
    return scenes, frames, sorted(events, key=lambda e: e[1])


# -- rendering and encoding -----------------------------------------------------------------------------------
def _render(frame: _Frame, scenes: Sequence[_Scene], size: tuple[int, int], aspect: float) -> Image.Image:
    image: Image.Image | None = None
    for layer in frame.layers:
        scene = scenes[layer.scene]
        box = scene.box(layer.local, aspect)
        here = scene.photo.resize(size, Image.Resampling.BILINEAR, box=box)
        image = here if image is None else Image.blend(image, here, layer.weight)
    if image is None:
        return Image.new("RGB", size)
    if frame.gain < 1.0:
        gain = frame.gain
        image = image.point(lambda v: v * gain)
    if frame.white > 0.0:
        white = frame.white
        image = image.point(lambda v: v + (255 - v) * white)
    return image


def generate_clips(
    folder: Path,
    name: str = "transitions",
    *,
    encodings: Sequence[Encoding] = (SPARSE,),
    size: tuple[int, int] = (1920, 1080),
    fps: int = 25,
    seconds: float = 30.0,
    seed: int = 0,
    photos: Sequence[str] | None = None,
) -> list[GeneratedClip]:
    """Render one timeline of real photos and encode it once per encoding, as `folder/<name>-<encoding>.mp4`.

    Every scene moves slowly (pan and zoom); between scenes come, in seeded shuffled rounds, a hard cut, a
    same-colour cut, a fade through black and a dissolve; every other scene holds a fast pan, a flash or a quick
    zoom. Frames are drawn at no more than 960 pixels wide and scaled to `size` by FFmpeg while converting to
    yuv420p (the photos have no more detail than that)."""
    if fps <= 0 or seconds * fps < 4 * fps:
        raise ValueError("a clip needs at least 4 seconds at a positive frame rate")
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("yuv420p needs an even width and height")
    rng = np.random.default_rng(seed)
    wanted = set(photos) if photos is not None else None
    ordinary = available_photos(n for n in dict.fromkeys(COLOUR_PHOTOS + GREY_PHOTOS) if not wanted or n in wanted)
    uniform = [n for n in UNIFORM_PHOTOS if n in ordinary]
    if len(ordinary) < 2:
        raise ValueError("need at least two photos (scikit-image's sample data)")
    total = round(seconds * fps)
    scenes, frames, raw_events = _plan(total, fps, width / height, rng, ordinary, uniform)
    draw_w = min(width, 960)
    draw = (draw_w - draw_w % 2, round(height * draw_w / width) // 2 * 2)
    aspect = width / height
    folder.mkdir(parents=True, exist_ok=True)
    outputs: list[tuple[Any, Any, Path, Encoding]] = []
    for encoding in encodings:
        path = folder / f"{name}-{encoding.name}.mp4"
        container = av.open(str(path), mode="w")
        stream: Any = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = encoding.keyint if encoding.keyint > 0 else fps
        stream.options = {"preset": encoding.preset, "crf": str(encoding.crf), "x264-params": encoding.x264_params(fps)}
        outputs.append((container, stream, path, encoding))
    # Each transition's colour distance: the last frame before it against the first one after (a cut: its frame).
    around = {i for kind, first, last in raw_events if kind in TRANSITIONS
              for i in (first - 1, first if first == last else last + 1)}  # fmt: skip
    small: dict[int, NDArray[np.uint8]] = {}
    try:
        for i, plan in enumerate(frames):
            image = _render(plan, scenes, draw, aspect)
            if i in around:
                small[i] = np.asarray(image.resize((64, 36), Image.Resampling.BILINEAR))
            video = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
                width=width, height=height, format="yuv420p", interpolation="BICUBIC"
            )
            video.pts = i
            for container, stream, _, _ in outputs:
                for packet in stream.encode(video):
                    container.mux(packet)
        for container, stream, _, _ in outputs:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        for container, *_ in outputs:
            container.close()
    events = []
    for kind, first, last in raw_events:
        before, after = first - 1, first if first == last else last + 1
        distance = (
            round(colour_distance(small[before], small[after]), 3) if before in small and after in small else None
        )
        events.append(Event(kind, first, last, first / fps, last / fps, distance if kind in TRANSITIONS else None))
    return [
        GeneratedClip(path, fps, total, total / fps, size, encoding, events, keyframe_times(path))
        for _, _, path, encoding in outputs
    ]


def generate_clip(path: Path, *, encoding: Encoding = SPARSE, **kwargs: Any) -> GeneratedClip:
    """One clip at `path` (see generate_clips for the keyword arguments)."""
    clip = generate_clips(path.parent, "tmp-" + path.stem, encodings=(encoding,), **kwargs)[0]
    clip.path.replace(path)
    clip.path = path
    return clip


def keyframe_times(path: Path) -> list[float]:
    """When the keyframes of the first video stream are (from the packets: nothing is decoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
        )


# -- scoring --------------------------------------------------------------------------------------------------
@dataclass
class KindScore:
    true: int = 0  # ground-truth transitions of this kind
    found: int = 0  # matched by a detection
    false_positives: int = 0  # unmatched detections whose nearest true transition is of this kind

    @property
    def recall(self) -> float:
        return self.found / self.true if self.true else 0.0

    @property
    def precision(self) -> float:
        hits = self.found + self.false_positives
        return self.found / hits if hits else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass
class TransitionScore:
    """Per kind and overall precision / recall / F1 of detected transition times against the ground truth.

    Matching: a detection can match a true transition when it lies in [start - tol, end + tol]; candidate pairs
    are taken greedily, nearest to the transition's centre first, each detection and transition used once.
    Unmatched detections are false positives. Each is counted once in `zones` by where it fell: inside a pan,
    flash or zoom event (± tol), else `duplicate` (inside a transition another detection already matched),
    else `other`. For the per-kind precision each false positive is attributed to the kind of the nearest true
    transition (distance to its [start, end]), so the per-kind false positives add up to all of them; per-kind F1
    is then the harmonic mean of that precision and the kind's recall. `f1_with_overall_precision` gives the
    other common choice (the kind's recall with the overall precision). Overall figures are micro-averaged."""

    kinds: dict[str, KindScore] = field(default_factory=lambda: {k: KindScore() for k in TRANSITIONS})
    detections: int = 0
    zones: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*NON_TRANSITIONS, "duplicate", "other"), 0))
    missed: list[Event] = field(default_factory=list)  # the true transitions no detection matched
    false_alarms: list[tuple[float, str]] = field(default_factory=list)  # (time, zone) of each false positive

    @property
    def true(self) -> int:
        return sum(k.true for k in self.kinds.values())

    @property
    def found(self) -> int:
        return sum(k.found for k in self.kinds.values())

    @property
    def false_positives(self) -> int:
        return self.detections - self.found

    @property
    def precision(self) -> float:
        return self.found / self.detections if self.detections else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.true if self.true else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def f1_with_overall_precision(self, kind: str) -> float:
        return _f1(self.precision, self.kinds[kind].recall)

    def __add__(self, other: TransitionScore) -> TransitionScore:
        out = TransitionScore(detections=self.detections + other.detections)
        for kind in TRANSITIONS:
            a, b = self.kinds[kind], other.kinds[kind]
            out.kinds[kind] = KindScore(a.true + b.true, a.found + b.found, a.false_positives + b.false_positives)
        out.zones = {z: self.zones.get(z, 0) + other.zones.get(z, 0) for z in self.zones}
        out.missed = self.missed + other.missed
        out.false_alarms = self.false_alarms + other.false_alarms
        return out

    def as_dict(self) -> dict[str, Any]:
        r = 3
        per_kind = {
            kind: {"true": s.true, "found": s.found, "false_positives": s.false_positives,
                   "precision": round(s.precision, r), "recall": round(s.recall, r), "f1": round(s.f1, r),
                   "f1_with_overall_precision": round(self.f1_with_overall_precision(kind), r)}
            for kind, s in self.kinds.items()
        }  # fmt: skip
        return {"true": self.true, "detections": self.detections, "found": self.found,
                "false_positives": self.false_positives, "false_positive_zones": dict(self.zones),
                "precision": round(self.precision, r), "recall": round(self.recall, r), "f1": round(self.f1, r),
                "kinds": per_kind}  # fmt: skip


def score_transitions(events: Sequence[Event], detections: Sequence[float], tol: float = 0.25) -> TransitionScore:
    """Score detected transition times (seconds, each a transition's centre) against ground-truth events."""
    truths = [e for e in events if e.transition]
    others = [e for e in events if not e.transition]
    pairs = sorted(
        (abs(d - t.centre), i, j)
        for i, d in enumerate(detections)
        for j, t in enumerate(truths)
        if t.start - tol <= d <= t.end + tol
    )
    matched_d: dict[int, int] = {}
    matched_t: set[int] = set()
    for _, i, j in pairs:
        if i not in matched_d and j not in matched_t:
            matched_d[i] = j
            matched_t.add(j)
    score = TransitionScore(detections=len(detections))
    for t in truths:
        score.kinds[t.kind].true += 1
    for j, t in enumerate(truths):
        if j in matched_t:
            score.kinds[t.kind].found += 1
        else:
            score.missed.append(t)
    for i, d in enumerate(detections):
        if i in matched_d:
            continue
        zone = next((e.kind for e in others if e.start - tol <= d <= e.end + tol), None)
        if zone is None:
            inside = any(truths[j].start - tol <= d <= truths[j].end + tol for j in matched_t)
            zone = "duplicate" if inside else "other"
        score.zones[zone] += 1
        score.false_alarms.append((d, zone))
        if truths:
            nearest = min(truths, key=lambda t: max(t.start - d, d - t.end, 0.0))
            score.kinds[nearest.kind].false_positives += 1
    return score


def combine(scores: Iterable[TransitionScore]) -> TransitionScore:
    total = TransitionScore()
    for s in scores:
        total = total + s
    return total


def event_counts(events: Iterable[Event]) -> Mapping[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for e in events:
        counts[e.kind] += 1
    return counts
