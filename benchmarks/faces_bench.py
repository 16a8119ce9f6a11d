"""Face detection: recall, false positives and cost per photo of detector configurations on real faces.

The labelled set is built from real photos that installed packages ship, as 12-megapixel JPEGs (4000 x 3000):
- composites: a real non-face photo (scikit-image's cat, coffee, rocket, coins, ..., scikit-learn's china and
  flower when present) upscaled as the background, with real faces pasted at known boxes (soft-edged, sometimes
  mirrored, brightness and contrast varied): portraits (one face, 8-30% of the picture height), pairs and trios
  (5-15%) and group photos (4-8 faces of 3-8%). The faces are Eileen Collins (skimage astronaut), the cameraman
  (skimage camera), Grace Hopper (matplotlib's sample data) and, when ultralytics is installed, the two men of
  its zidane.jpg and the two people of its bus.jpg; the frontal ones are drawn twice as often;
- the original photos with faces, upscaled to a 4000-px long side, with hand-checked face boxes;
- the non-face photos themselves, upscaled (negatives).
Ground truth = the (pasted) face boxes, dlib style (brows to chin). A detection matches a true face when their
IoU is at least 0.3, or when its centre lies inside the true box and its size is 0.5-2x the true box's.

Each configuration runs the faces pass's own code (plugins/chronicon_faces/detect.py) on the photo as the pass
gets it (decoded with JPEG draft scaling, decoding not timed): shrinking to the working size + detection
("detect"), then the 5 landmarks and the 128-d descriptor of each face found ("describe"). All in one thread:
photos/s per core = 1000 / ms per photo. The configurations take turns photo by photo, so load from other jobs on
the machine hits all of them alike; "x old" is the speed relative to the old default (HOG at 1024 px,
upsampled once, RGB) in the same run; "new default" is what the pass does now (HOG at 1600 px on the grey
picture; its doubling of small pictures does not apply to these 12 MP photos).
Descriptor quality: "dist" is the mean distance of the found faces' descriptors to the descriptor of the same
face computed on its source photo at native size; "same" the share of them below dlib's 0.6 same-person line.

    .venv/bin/python benchmarks/faces_bench.py [--composites 48] [--seed 7] [--cache DIR] [--configs A,B,...]
        [--cnn] [--haar] [--mtcnn] [--json] [--save FILE]

--cnn adds dlib's MMOD CNN on the CPU (about 10 s per photo), --haar OpenCV's Haar cascade (cv2.data), --mtcnn
facenet-pytorch's MTCNN when it can be imported (its weights ship in its wheel, but it pins old torch, so it is
not a dependency: `pip install --no-deps --target /tmp/fnp facenet-pytorch` and PYTHONPATH=/tmp/fnp).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "plugins"))

WIDTH, HEIGHT = 4000, 3000
SET_VERSION = 2  # bump when the set's recipe changes (the cache folder is keyed by it)
BUCKETS = ((0.0, 0.05, "<5%"), (0.05, 0.10, "5-10%"), (0.10, 0.20, "10-20%"), (0.20, 9.0, ">=20%"))
SAME_PERSON = 0.6


@dataclass(frozen=True)
class Truth:
    """A true face: its box in the photo's pixels and whose face it is."""

    box: tuple[float, float, float, float]
    identity: str


@dataclass
class Photo:
    path: Path
    kind: str  # composite | original | negative
    size: tuple[int, int]
    faces: list[Truth]


@dataclass(frozen=True)
class Config:
    """One way of finding faces: detector, working size, upsampling, grey or RGB, descriptor picture size."""

    name: str
    detector: str = "hog"  # hog | cnn | haar | mtcnn
    max_side: int = 1024
    upsample: int = 0
    grey: bool = False
    describe_side: int = 0  # landmarks + descriptors on the photo at this long side; 0: on the detection picture
    min_size: int = 40
    min_score: float = 0.4


TODAY = Config("old default: hog 1024 up1 rgb", max_side=1024, upsample=1)  # the pass's default before
NEW = Config("new default: hog 1600 up0 grey", max_side=1600, grey=True)  # FacesPass.settings (checked in main)
CONFIGS = [
    TODAY,
    NEW,
    Config("hog 1024 up1 grey", max_side=1024, upsample=1, grey=True),
    Config("hog 2000 up0 grey", max_side=2000, grey=True),
    Config("hog 1800 up0 grey", max_side=1800, grey=True),
    Config("hog 1600 up0 rgb", max_side=1600),
    Config("hog 1400 up0 grey", max_side=1400, grey=True),
    Config("hog 1280 up0 grey", max_side=1280, grey=True),
    Config("hog 1000 up0 grey", max_side=1000, grey=True),
    Config("hog 1000 up0 grey d2000", max_side=1000, grey=True, describe_side=2000),
    Config("hog 640 up1 grey", max_side=640, upsample=1, grey=True),
]
EXTRA = {
    "cnn": Config("cnn 1024 up0 (CPU)", detector="cnn", max_side=1024, min_score=0.0),
    "haar": Config("haar 1024 grey", detector="haar", max_side=1024, grey=True),
    "mtcnn": Config("mtcnn 1024", detector="mtcnn", max_side=1024, min_score=0.9),
}


# --- the labelled set --------------------------------------------------------------------------------------


@dataclass
class Source:
    """A real photo with faces: (identity, box (x, y, w, h) in its pixels, weight) each; the weight says how
    often the face is drawn for pasting (the frontal ones more often, as in most photos)."""

    name: str
    image: Image.Image
    faces: list[tuple[str, tuple[int, int, int, int], int]]
    max_scale: float = 8.0  # largest upscaling of its faces when pasted (the pass looks at about a quarter)


def sources() -> list[Source]:
    """The photos with faces; boxes found with dlib's CNN detector and checked by eye."""
    import matplotlib
    from skimage import data

    hopper = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    out = [
        Source("astronaut", Image.fromarray(data.astronaut()), [("collins", (165, 73, 99, 99), 2)]),
        Source("camera", Image.fromarray(data.camera()).convert("RGB"), [("cameraman", (189, 117, 69, 69), 1)]),
        Source("grace_hopper", hopper, [("hopper", (187, 145, 171, 171), 2)]),
    ]
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        zidane = Image.open(assets / "zidane.jpg").convert("RGB")  # Zidane looks down, Ancelotti at the camera
        out.append(
            Source("zidane", zidane, [("ancelotti", (910, 120, 142, 143), 2), ("zidane", (523, 264, 142, 142), 1)])
        )
        # The bus photo without the man cut off by its right edge; two small faces with sunglasses.
        bus = Image.open(assets / "bus.jpg").convert("RGB").crop((0, 0, 770, 1080))
        out.append(Source("bus", bus, [("bus-left", (113, 421, 40, 41), 1), ("bus-right", (269, 429, 40, 41), 1)], 4.0))
    except (ImportError, OSError):
        pass
    return out


def backgrounds() -> dict[str, Image.Image]:
    """Real photos without faces."""
    from skimage import data

    out: dict[str, Image.Image] = {}
    for name in (
        "chelsea",
        "coffee",
        "rocket",
        "coins",
        "hubble_deep_field",
        "motorcycle_left",
        "brick",
        "grass",
        "gravel",
        "page",
        "immunohistochemistry",
    ):
        fn = getattr(data, name, None)
        if fn is None:
            continue
        pixels = fn()
        if isinstance(pixels, tuple):
            pixels = pixels[0]
        if pixels.dtype != np.uint8:
            pixels = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
        out[name] = Image.fromarray(pixels).convert("RGB")
    try:
        from sklearn.datasets import load_sample_images

        for fname, pixels in zip(("china", "flower"), load_sample_images().images, strict=False):
            out[fname] = Image.fromarray(pixels).convert("RGB")
    except ImportError:
        pass
    return out


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(image, size, Image.Resampling.BICUBIC)


def patch_of(source: Source, box: tuple[int, int, int, int]) -> tuple[Image.Image, tuple[float, float]]:
    """The head around a face box (hair, neck) and the box's offset in it."""
    x, y, w, h = box
    x0, y0 = max(0, round(x - 0.55 * w)), max(0, round(y - 0.6 * h))
    x1, y1 = min(source.image.width, round(x + 1.55 * w)), min(source.image.height, round(y + 1.6 * h))
    return source.image.crop((x0, y0, x1, y1)), (x - x0, y - y0)


def soft_mask(size: tuple[int, int]) -> Image.Image:
    w, h = size
    mask = Image.new("L", size, 0)
    inset = max(2, round(min(w, h) * 0.06))
    ImageDraw.Draw(mask).ellipse((inset, inset, w - inset, h - inset), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1.0, min(w, h) * 0.04)))


def paste_faces(
    background: Image.Image,
    faces: list[tuple[Source, str, tuple[int, int, int, int], float]],
    rng: random.Random,
    rows: int = 0,
) -> list[Truth] | None:
    """Paste faces (source, identity, box, target face height in px) at free spots; None when they do not fit."""
    taken: list[tuple[float, float, float, float]] = []
    truths: list[Truth] = []
    for i, (source, identity, box, target) in enumerate(faces):
        patch, (ox, oy) = patch_of(source, box)
        scale = target / box[3]
        if rng.random() < 0.5:
            patch = ImageOps.mirror(patch)
            ox = patch.width - ox - box[2]
        pw, ph = max(1, round(patch.width * scale)), max(1, round(patch.height * scale))
        patch = patch.resize((pw, ph), Image.Resampling.BICUBIC)
        patch = ImageEnhance.Brightness(patch).enhance(rng.uniform(0.8, 1.2))
        patch = ImageEnhance.Contrast(patch).enhance(rng.uniform(0.85, 1.15))
        for _ in range(300):
            if rows:  # group photo: faces in rows across the middle of the picture
                per_row = math.ceil(len(faces) / rows)
                row, col = divmod(i, per_row)
                cx = (col + 0.5) * WIDTH / per_row + rng.uniform(-0.15, 0.15) * WIDTH / per_row
                cy = HEIGHT * (0.35 + 0.25 * row) + rng.uniform(-0.05, 0.05) * HEIGHT
                px, py = round(cx - pw / 2), round(cy - ph / 2)
            else:
                px, py = rng.randrange(0, max(1, WIDTH - pw)), rng.randrange(0, max(1, HEIGHT - ph))
            spot = (px, py, px + pw, py + ph)
            if all(spot[2] <= t[0] or spot[0] >= t[2] or spot[3] <= t[1] or spot[1] >= t[3] for t in taken):
                break
        else:
            return None
        taken.append(spot)
        background.paste(patch, (px, py), soft_mask((pw, ph)))
        truths.append(Truth((px + ox * scale, py + oy * scale, box[2] * scale, box[3] * scale), identity))
    return truths


def build_set(folder: Path, composites: int, seed: int) -> list[Photo]:
    """Write the labelled photos into `folder` (reused when already there) and return them."""
    manifest = folder / f"faces-set-v{SET_VERSION}-{composites}-{seed}.json"
    if manifest.is_file():
        rows = json.loads(manifest.read_text())
        return [
            Photo(
                folder / r["file"],
                r["kind"],
                tuple(r["size"]),
                [Truth(tuple(t["box"]), t["identity"]) for t in r["faces"]],
            )
            for r in rows
        ]  # type: ignore[arg-type]
    rng = random.Random(seed)
    srcs, backs = sources(), backgrounds()
    pool = [(s, identity, box) for s in srcs for identity, box, weight in s.faces for _ in range(weight)]
    photos: list[Photo] = []

    def save(image: Image.Image, name: str, kind: str, faces: list[Truth]) -> None:
        path = folder / f"{name}.jpg"
        image.save(path, quality=90)
        photos.append(Photo(path, kind, image.size, faces))

    back_names = sorted(backs)
    n = 0
    while n < composites:
        layout = ("portrait", "pair", "group")[n % 3]
        back = cover(backs[back_names[rng.randrange(len(back_names))]], (WIDTH, HEIGHT))
        if layout == "portrait":
            count, low, high, rows = 1, 0.08, 0.30, 0
        elif layout == "pair":
            count, low, high, rows = rng.choice((2, 3)), 0.05, 0.15, 0
        else:
            count, low, high, rows = rng.randint(4, 8), 0.03, 0.08, rng.choice((1, 2))
        chosen = []
        for _ in range(count):
            source, identity, box = pool[rng.randrange(len(pool))]
            target = HEIGHT * math.exp(rng.uniform(math.log(low), math.log(high)))
            chosen.append((source, identity, box, min(target, box[3] * source.max_scale)))
        truths = paste_faces(back, chosen, rng, rows)
        if truths is None:
            continue
        save(back, f"composite-{n:03d}-{layout}", "composite", truths)
        n += 1
    for source in srcs:
        scale = 4000 / max(source.image.size)
        size = (round(source.image.width * scale), round(source.image.height * scale))
        truths = [Truth(tuple(v * scale for v in box), identity) for identity, box, _ in source.faces]  # type: ignore[misc]
        save(source.image.resize(size, Image.Resampling.BICUBIC), f"original-{source.name}", "original", truths)
    for name in back_names:
        image = backs[name]
        scale = 4000 / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        save(image.resize(size, Image.Resampling.BICUBIC), f"negative-{name}", "negative", [])
    manifest.write_text(
        json.dumps(
            [
                {
                    "file": p.path.name,
                    "kind": p.kind,
                    "size": list(p.size),
                    "faces": [{"box": list(t.box), "identity": t.identity} for t in p.faces],
                }
                for p in photos
            ]
        )
    )
    return photos


def references(models: Any) -> dict[str, np.ndarray]:
    """Each identity's descriptor on its source photo at native size (from the true box)."""
    from chronicon_faces.detect import FaceBox, describe

    out: dict[str, np.ndarray] = {}
    for source in sources():
        rgb = np.ascontiguousarray(np.asarray(source.image, dtype=np.uint8))
        for identity, (x, y, w, h), _ in source.faces:
            out[identity] = describe(models, rgb, [FaceBox(x, y, w, h, 1.0)], jitters=0)[0].descriptor
    return out


# --- running a configuration -------------------------------------------------------------------------------


@dataclass
class Tally:
    found: int = 0
    faces: int = 0
    false_pos: int = 0
    photos: int = 0
    detect_s: float = 0.0
    describe_s: float = 0.0
    bucket_found: dict[str, int] = field(default_factory=dict)
    bucket_faces: dict[str, int] = field(default_factory=dict)
    distances: list[float] = field(default_factory=list)
    identity_found: dict[str, int] = field(default_factory=dict)
    identity_faces: dict[str, int] = field(default_factory=dict)


class Runner:
    """Runs configurations with the plugin's models (one copy each of HOG and, when asked, the CNN)."""

    def __init__(self, configs: list[Config]) -> None:
        from chronicon_faces.models import FaceModels

        self.models = {"hog": FaceModels.load("hog")}
        if any(c.detector == "cnn" for c in configs):
            self.models["cnn"] = FaceModels.load("cnn")
        self.haar: Any = None
        self.mtcnn: Any = None
        if any(c.detector == "haar" for c in configs):
            import cv2

            cv2.setNumThreads(1)
            self.haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if any(c.detector == "mtcnn" for c in configs):
            import torch
            from facenet_pytorch import MTCNN

            torch.set_num_threads(1)
            self.mtcnn = MTCNN(min_face_size=40, keep_all=True, post_process=False, device="cpu")

    def run(
        self, config: Config, decoded: Image.Image
    ) -> tuple[list[tuple[float, ...]], list[np.ndarray], float, float]:
        """Face boxes (x, y, w, h, in the detection picture), descriptors, seconds detecting, seconds describing."""
        from chronicon_faces.detect import FaceBox, describe, detect_boxes, detection_array, grey_array, shrunk

        models = self.models["cnn" if config.detector == "cnn" else "hog"]
        t0 = time.perf_counter()
        small, rgb = detection_array(decoded, config.max_side)
        pixels = grey_array(small) if config.grey else rgb
        if config.detector in ("hog", "cnn"):
            boxes = detect_boxes(
                models, pixels, upsample=config.upsample, min_size=config.min_size, min_score=config.min_score
            )
        elif config.detector == "haar":
            found = self.haar.detectMultiScale(
                pixels, scaleFactor=1.1, minNeighbors=5, minSize=(config.min_size, config.min_size)
            )
            boxes = [FaceBox(int(x), int(y), int(w), int(h), 1.0) for x, y, w, h in found]
        else:
            rects, probs = self.mtcnn.detect(small)
            boxes = []
            for (x0, y0, x1, y1), p in zip(
                rects if rects is not None else [], probs if probs is not None else [], strict=True
            ):
                if p >= config.min_score and min(x1 - x0, y1 - y0) >= config.min_size:
                    x0, y0 = max(0, round(x0)), max(0, round(y0))
                    boxes.append(FaceBox(x0, y0, round(x1) - x0, round(y1) - y0, float(p)))
        t1 = time.perf_counter()
        if config.describe_side and boxes:
            large_image = shrunk(decoded if decoded.mode == "RGB" else decoded.convert("RGB"), config.describe_side)
            large = np.ascontiguousarray(np.asarray(large_image, dtype=np.uint8))
            faces = describe(self.models["hog"], large, boxes, jitters=0, scale=large.shape[1] / rgb.shape[1])
        else:
            faces = describe(self.models["hog"], rgb, boxes, jitters=0)
        t2 = time.perf_counter()
        return (
            [(b.left, b.top, b.width, b.height, b.score) for b in boxes],
            [f.descriptor for f in faces],
            t1 - t0,
            t2 - t1,
        )


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def matches(det: tuple[float, ...], truth: tuple[float, ...]) -> bool:
    if iou(det, truth) >= 0.3:
        return True
    cx, cy = det[0] + det[2] / 2, det[1] + det[3] / 2
    inside = truth[0] <= cx <= truth[0] + truth[2] and truth[1] <= cy <= truth[1] + truth[3]
    ratio = math.sqrt((det[2] * det[3]) / (truth[2] * truth[3]))
    return inside and 0.5 <= ratio <= 2.0


def score(
    tally: Tally,
    photo: Photo,
    boxes: list[tuple[float, ...]],
    descriptors: list[np.ndarray],
    scale: float,
    refs: dict[str, np.ndarray],
) -> None:
    """Match detections (in detection-picture pixels; `scale` = photo px per detection px) to the true faces."""
    dets = sorted(
        ((tuple(v * scale for v in b[:4]), b[4], d) for b, d in zip(boxes, descriptors, strict=True)),
        key=lambda t: -t[1],
    )
    free = list(range(len(photo.faces)))
    for box, _, descriptor in dets:
        best = max(free, key=lambda i: iou(box, photo.faces[i].box), default=None)
        hit = next((i for i in ([best] if best is not None else []) + free if matches(box, photo.faces[i].box)), None)
        if hit is None:
            tally.false_pos += 1
            continue
        free.remove(hit)
        truth = photo.faces[hit]
        tally.found += 1
        label = bucket(truth, photo)
        tally.bucket_found[label] = tally.bucket_found.get(label, 0) + 1
        tally.identity_found[truth.identity] = tally.identity_found.get(truth.identity, 0) + 1
        tally.distances.append(float(np.linalg.norm(descriptor - refs[truth.identity])))
    for truth in photo.faces:
        label = bucket(truth, photo)
        tally.bucket_faces[label] = tally.bucket_faces.get(label, 0) + 1
        tally.identity_faces[truth.identity] = tally.identity_faces.get(truth.identity, 0) + 1
    tally.faces += len(photo.faces)
    tally.photos += 1


def bucket(truth: Truth, photo: Photo) -> str:
    frac = truth.box[3] / photo.size[1]
    return next(label for low, high, label in BUCKETS if low <= frac < high)


def decode(path: Path, side: int) -> Image.Image:
    """The photo as the faces pass decodes it for a working size `side` (JPEG draft scaling)."""
    from chronicon.api import open_image

    with Image.open(path) as probe:
        width, height = probe.size
    draft = math.ceil(side * min(width, height) / max(width, height))
    image = open_image(str(path), max_pixels=200_000_000, draft_size=draft)
    image.load()
    return image


def evaluate(configs: list[Config], photos: list[Photo]) -> list[dict[str, Any]]:
    runner = Runner(configs)
    refs = references(runner.models["hog"])
    tallies = {c.name: Tally() for c in configs}
    warm = decode(photos[0].path, 1024)
    for config in configs:
        runner.run(config, warm)
    for index, photo in enumerate(photos):
        decoded: dict[int, Image.Image] = {}
        order = configs[index % len(configs) :] + configs[: index % len(configs)]  # take turns going first
        for config in order:
            side = max(config.max_side, config.describe_side)
            if side not in decoded:
                decoded[side] = decode(photo.path, side)
            image = decoded[side]
            boxes, descriptors, t_detect, t_describe = runner.run(config, image)
            small_width = min(image.width, round(image.width * config.max_side / max(image.size)))
            tally = tallies[config.name]
            score(tally, photo, boxes, descriptors, photo.size[0] / small_width, refs)
            tally.detect_s += t_detect
            tally.describe_s += t_describe
    base = tallies[configs[0].name]
    base_detect, base_total = base.detect_s, base.detect_s + base.describe_s
    rows = []
    for config in configs:
        t = tallies[config.name]
        total = t.detect_s + t.describe_s
        rows.append(
            {
                "config": config.name,
                "detector": config.detector,
                "max_side": config.max_side,
                "upsample": config.upsample,
                "grey": config.grey,
                "describe_side": config.describe_side,
                "recall": t.found / max(1, t.faces),
                "recall_by_height": {
                    label: t.bucket_found.get(label, 0) / t.bucket_faces[label]
                    for *_, label in BUCKETS
                    if t.bucket_faces.get(label)
                },
                "recall_by_identity": {k: t.identity_found.get(k, 0) / v for k, v in sorted(t.identity_faces.items())},
                "fp_per_image": t.false_pos / max(1, t.photos),
                "detect_ms": 1000 * t.detect_s / t.photos,
                "describe_ms": 1000 * t.describe_s / t.photos,
                "total_ms": 1000 * total / t.photos,
                "detect_photos_per_s": t.photos / t.detect_s,
                "total_photos_per_s": t.photos / total,
                "detect_speedup": base_detect / t.detect_s,
                "total_speedup": base_total / total,
                "descriptor_distance": float(np.mean(t.distances)) if t.distances else None,
                "same_person": float(np.mean([d < SAME_PERSON for d in t.distances])) if t.distances else None,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "config",
        "recall",
        *[label for *_, label in BUCKETS],
        "FP/img",
        "det ms",
        "desc ms",
        "total ms",
        "det /s/core",
        "total /s/core",
        "det x old",
        "total x old",
        "dist",
        "same",
    ]
    lines = [head]
    for r in rows:
        by = r["recall_by_height"]
        lines.append(
            [
                r["config"],
                f"{r['recall']:.3f}",
                *[f"{by[label]:.2f}" if label in by else "-" for *_, label in BUCKETS],
                f"{r['fp_per_image']:.2f}",
                f"{r['detect_ms']:.0f}",
                f"{r['describe_ms']:.0f}",
                f"{r['total_ms']:.0f}",
                f"{r['detect_photos_per_s']:.1f}",
                f"{r['total_photos_per_s']:.1f}",
                f"{r['detect_speedup']:.2f}",
                f"{r['total_speedup']:.2f}",
                "-" if r["descriptor_distance"] is None else f"{r['descriptor_distance']:.3f}",
                "-" if r["same_person"] is None else f"{r['same_person']:.2f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--composites", type=int, default=48, help="composite photos (a third each: portraits, pairs/trios, groups)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, help="keep the generated photos here (reused by later runs)")
    parser.add_argument("--configs", help="comma-separated config names to run (the old default always runs first)")
    parser.add_argument("--cnn", action="store_true", help="add dlib's MMOD CNN on the CPU (slow)")
    parser.add_argument("--haar", action="store_true", help="add OpenCV's Haar cascade")
    parser.add_argument("--mtcnn", action="store_true", help="add facenet-pytorch's MTCNN (must be importable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--save", type=Path, help="also write the JSON to this file")
    args = parser.parse_args()
    from chronicon_faces.analyzer import FacesPass
    from chronicon_faces.models import missing

    if missing():
        sys.exit(f"faces_bench: {missing()}")
    keys = ("max_side", "upsample", "grey", "min_size", "min_score")
    defaults = {k: FacesPass.settings[k].default for k in keys}
    if defaults != {k: getattr(NEW, k) for k in keys}:
        sys.exit(f"faces_bench: the pass's defaults changed ({defaults}): update NEW")
    configs = list(CONFIGS)
    if args.configs:
        wanted = {name.strip() for name in args.configs.split(",")}
        configs = [TODAY, *[c for c in CONFIGS[1:] if c.name in wanted]]
    configs += [EXTRA[name] for name in ("cnn", "haar", "mtcnn") if getattr(args, name)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.cache or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        photos = build_set(folder, args.composites, args.seed)
        built = time.perf_counter() - t0
        rows = evaluate(configs, photos)
    faces = sum(len(p.faces) for p in photos)
    summary = {
        "photos": len(photos),
        "faces": faces,
        "kinds": {k: sum(p.kind == k for p in photos) for k in ("composite", "original", "negative")},
        "faces_by_height": {
            label: sum(bucket(t, p) == label for p in photos for t in p.faces) for *_, label in BUCKETS
        },
        "set_seconds": round(built, 1),
        "cpu_count": os.cpu_count(),
        "configs": rows,
    }
    if args.save:
        args.save.write_text(json.dumps(summary, indent=2))
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    kinds = summary["kinds"]
    print(
        f"{len(photos)} photos ({kinds['composite']} composites, {kinds['original']} originals, "
        f"{kinds['negative']} without faces), {faces} faces by height {summary['faces_by_height']}"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
