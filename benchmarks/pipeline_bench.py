"""Full-scan throughput benchmark: a default `chronicon scan` of N generated 12-megapixel photos (issue 20).

What it does, in one run:

1. **Library.** N JPEGs of 4000x3000 (quality 90, EXIF camera make/model and DateTimeOriginal) made from real
   photos that installed packages ship: scikit-image's sample data (astronaut, chelsea, coffee, rocket, camera,
   coins, moon, the left stereo motorcycle, the Hubble deep field) and matplotlib's grace_hopper.jpg. Each file
   is a different 4:3 crop of its source, flipped or not, brightened or darkened, upscaled with LANCZOS, with mild
   Gaussian noise (sigma 4) so the JPEG does not compress trivially. Generation is not measured; the library
   and the checkpoint are cached in a temp dir for the run (`--keep DIR` keeps them there and reuses them).
2. **CLIP.** An open_clip ViT-B-32 with random weights (`open_clip.create_model("ViT-B-32")`, no download)
   saved as a local state-dict file, which the clip pass loads through `clip.model: ViT-B-32` +
   `clip.pretrained: <file>` (a pretrained value that is a path is a checkpoint file). If open_clip cannot do
   that, the output says so and the run has `clip.enabled: false`.
3. **Full default scan**, in a child process (so its peak RSS is the scan's alone): `Library(catalog,
   config_file=<empty file>, environ={}, entry_points=True)` as `chronicon scan` builds it, every default pass and
   every installed plugin enabled, only `model_cache` (shared by all the runs of this benchmark, warmed first by a
   2-photo scan into a throwaway catalog) and the CLIP keys above set; HF_HUB_OFFLINE=1, so passes whose models
   are not on this machine (caption, extract without a schema) are skipped at once, as the scan's notes say.
   Measured around `Library.scan`: wall time, photos/s, per-pass worker-seconds (`summary.timings`), CPU
   utilisation = (user + sys CPU of the process and its children, `os.times`) / wall, as a percentage of one
   core (both of 2 cores busy = 200%), and peak RSS (VmHWM of /proc/self/status, MB = 10^6 bytes; ru_maxrss is
   printed beside it, but a child's ru_maxrss includes the RSS its parent had at the fork, see `peak_rss_mb`).
   The child counts every real JPEG decode of a library file (`PIL.ImageFile.ImageFile.load` calls that decode
   tiles, patched in that process only), the decoded size, and which pass's code asked for it (the first
   `chronicon.builtin.*` or `chronicon_*` module on the stack), plus calls of `chronicon.media.photo.open_image`.
4. **Naive baseline** (`--skip-baseline` leaves it out), in its own child, on the first K photos
   (`--baseline-photos`, default min(N, 40)): the same enabled, available passes in the scan's order, driven
   directly with no scanner: per photo once sniff + content hash (what every pipeline does), then each pass
   over all K photos before the next pass starts, one photo at a time (per-item passes through `run_one`,
   model passes through `prepare` + `run([item])`, i.e. batch 1), on one Python thread, each pass with a fresh
   `item.cache` so it decodes the file for itself; later passes see earlier passes' columns through the row,
   as if read back from the catalog. Each pass's model is loaded and warmed on one photo before its loop is
   timed, and nothing is written to a catalog, so the baseline time is a lower bound of a naive pipeline's and
   the speedup (baseline s/photo / scan s/photo, the scan's wall including its model loads and catalog writes)
   is conservative. The speedup with the scan's model-load time taken out is printed too.

Goals (issue 20, 2 cores): >= 10 photos/s, >= 4x the naive baseline, CPU >= 180%, peak RSS <= 2 GB.

    python benchmarks/pipeline_bench.py                                # 200 photos, baseline on 40
    python benchmarks/pipeline_bench.py --photos 10 --baseline-photos 4 --json
    python benchmarks/pipeline_bench.py --keep /tmp/pipeline-bench      # reuse the library between runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import ExifTags, Image, ImageEnhance, ImageOps

GENERATOR_VERSION = 1
WIDTH, HEIGHT = 4000, 3000
QUALITY = 90
NOISE_SIGMA = 4.0
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "coins",
    "moon",
    "stereo_motorcycle",
    "hubble_deep_field",
)
CAMERAS = (
    ("Canon", "EOS R5"),
    ("NIKON CORPORATION", "NIKON Z 6_2"),
    ("SONY", "ILCE-7M4"),
    ("FUJIFILM", "X-T5"),
    ("Apple", "iPhone 15 Pro"),
)
WARMUP_PHOTOS = 2

GOAL_PHOTOS_PER_S = 10.0
GOAL_SPEEDUP = 4.0
GOAL_CPU_PCT = 180.0
GOAL_RSS_MB = 2000.0  # 2 GB


# -- the generated library ------------------------------------------------------------------------------------
def source_photos() -> list[tuple[str, Image.Image]]:
    """The real photos this benchmark builds on, as RGB images."""
    import matplotlib
    import skimage.data

    out: list[tuple[str, Image.Image]] = []
    for name in SKIMAGE_PHOTOS:
        pixels = getattr(skimage.data, name)()
        if isinstance(pixels, tuple):  # stereo_motorcycle: (left, right, disparity)
            pixels = pixels[0]
        if pixels.dtype != np.uint8:
            pixels = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
        out.append((name, Image.fromarray(pixels).convert("RGB")))
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    with Image.open(hopper) as img:
        out.append(("grace_hopper", img.convert("RGB")))
    return out


_SOURCES: list[tuple[str, Image.Image]] = []
_NOISE: np.ndarray | None = None


def _init_generator() -> None:
    global _SOURCES, _NOISE
    _SOURCES = source_photos()
    rng = np.random.default_rng(0)
    _NOISE = np.clip(rng.normal(0.0, NOISE_SIGMA, (HEIGHT, WIDTH, 3)), -127, 127).astype(np.int16)


def photo_path(root: Path, i: int) -> Path:
    return root / f"{2015 + i % 8}" / f"{i % 12 + 1:02d}" / f"IMG_{i:05d}.jpg"


def make_photo(args: tuple[str, int]) -> str:
    """Photo number i: a crop/flip/brightness variant of one source, upscaled to 12 MP, noised, with EXIF."""
    root, i = Path(args[0]), args[1]
    assert _NOISE is not None
    name, src = _SOURCES[i % len(_SOURCES)]
    rng = np.random.default_rng(1000 + i)
    w, h = src.size
    box_w, box_h = (w, w * 3 / 4) if w * 3 / 4 <= h else (h * 4 / 3, h)  # the largest 4:3 box
    scale = rng.uniform(0.7, 1.0) if i >= len(_SOURCES) else 1.0
    cw, ch = box_w * scale, box_h * scale
    left, top = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    img = src.crop((round(left), round(top), round(left + cw), round(top + ch)))
    if (i // len(_SOURCES)) % 2:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.2)))
    img = img.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    noise = np.roll(_NOISE, (int(rng.integers(HEIGHT)), int(rng.integers(WIDTH))), axis=(0, 1))
    pixels = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    make, model = CAMERAS[i % len(CAMERAS)]
    taken = (datetime(2015, 1, 1, 9, 0) + timedelta(days=i * 3, minutes=i * 17)).strftime("%Y:%m:%d %H:%M:%S")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = model
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.Base.DateTime] = taken
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.DateTimeOriginal] = taken
    ifd[ExifTags.Base.DateTimeDigitized] = taken
    ifd[ExifTags.Base.ImageDescription] = f"generated from {name}"
    path = photo_path(root, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    Image.fromarray(pixels).save(tmp, "JPEG", quality=QUALITY, exif=exif)
    os.replace(tmp, path)
    return str(path)


def generate_library(root: Path, photos: int) -> dict[str, Any]:
    """Photos 0..N-1 under root (reusing those a matching earlier run left), and none beyond N."""
    manifest = root / "manifest.json"
    wanted = {"version": GENERATOR_VERSION, "size": [WIDTH, HEIGHT], "quality": QUALITY, "sigma": NOISE_SIGMA}
    if root.exists():
        try:
            same = {k: v for k, v in json.loads(manifest.read_text()).items() if k in wanted} == wanted
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(wanted))
    for stray in root.rglob("*.jpg"):
        match = re.fullmatch(r"IMG_(\d+)\.jpg", stray.name)
        if match is None or int(match.group(1)) >= photos or stray != photo_path(root, int(match.group(1))):
            stray.unlink()
    todo = [i for i in range(photos) if not photo_path(root, i).is_file()]
    started = time.perf_counter()
    if todo:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1, initializer=_init_generator) as pool:
            for _ in pool.imap_unordered(make_photo, [(str(root), i) for i in todo]):
                pass
    sizes = [photo_path(root, i).stat().st_size for i in range(photos)]
    return {
        "generated": len(todo),
        "reused": photos - len(todo),
        "seconds": round(time.perf_counter() - started, 1),
        "mb_per_photo": round(sum(sizes) / max(1, len(sizes)) / 1e6, 2),
        "library_mb": round(sum(sizes) / 1e6, 1),
    }


def make_clip_checkpoint(path: Path) -> tuple[bool, str]:
    """A random-weights ViT-B-32 state dict at `path`, loadable by open_clip as `pretrained=<path>`."""
    if path.is_file():
        return True, f"reused {path}"
    try:
        import logging

        import open_clip
        import torch

        logging.getLogger().setLevel(logging.ERROR)  # "no pretrained weights loaded" is the point
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-B-32")
        tmp = path.with_suffix(".part")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
        # The clip pass loads it the same way (create_model_and_transforms with pretrained=<file>).
        open_clip.create_model_and_transforms("ViT-B-32", pretrained=str(path), device="cpu")
    except Exception as exc:
        path.unlink(missing_ok=True)
        return False, f"open_clip could not build/load a local ViT-B-32 checkpoint ({type(exc).__name__}: {exc})"
    return True, f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB, random weights)"


# -- the child processes ----------------------------------------------------------------------------------------
class DecodeCounter:
    """Counts real decodes of library files (PIL tile decoding) by file, decoded size and asking pass."""

    def __init__(self, root: str) -> None:
        self.prefix = os.path.join(os.path.abspath(root), "")
        self.lock = threading.Lock()
        self.per_file: Counter[str] = Counter()
        self.by_pass: Counter[str] = Counter()
        self.by_size: Counter[str] = Counter()
        self.pixels = 0
        self.open_image_calls = 0
        self.active = True  # off while the baseline warms a pass up

    @staticmethod
    def _caller() -> str:
        frame = sys._getframe(2)
        for _ in range(60):
            if frame is None:
                break
            module = str(frame.f_globals.get("__name__", ""))
            if module.startswith("chronicon.builtin."):
                return module.split(".")[2]
            if module.startswith("chronicon_"):
                return module.split(".")[0][len("chronicon_") :]
            frame = frame.f_back  # type: ignore[assignment]
        return "other"

    def install(self) -> None:
        from PIL import ImageFile

        import chronicon.media.photo as photo

        counter = self
        original_load = ImageFile.ImageFile.load

        def load(img: Any) -> Any:
            decoding = bool(getattr(img, "tile", None))
            result = original_load(img)
            name = os.fspath(getattr(img, "filename", "") or "")
            if decoding and counter.active and name.startswith(counter.prefix):
                caller = counter._caller()
                with counter.lock:
                    counter.per_file[name] += 1
                    counter.by_pass[caller] += 1
                    counter.by_size[f"{img.size[0]}x{img.size[1]}"] += 1
                    counter.pixels += img.size[0] * img.size[1]
            return result

        ImageFile.ImageFile.load = load  # type: ignore[method-assign]
        original_open = photo.open_image

        def open_image(*args: Any, **kwargs: Any) -> Any:
            with counter.lock:
                counter.open_image_calls += counter.active
            return original_open(*args, **kwargs)

        # Every module that imported the function by name (the passes, chronicon.api) gets the counting one.
        for module in list(sys.modules.values()):
            if getattr(module, "open_image", None) is original_open:
                module.open_image = open_image  # type: ignore[attr-defined]

    def report(self, photos: int) -> dict[str, Any]:
        n = max(1, photos)
        counts = [self.per_file.get(p, 0) for p in self.per_file] or [0]
        return {
            "decodes": sum(self.per_file.values()),
            "per_photo": round(sum(self.per_file.values()) / n, 2),
            "photos_decoded_more_than_once": sum(1 for c in self.per_file.values() if c > 1),
            "max_per_photo": max(counts),
            "by_pass": dict(self.by_pass.most_common()),
            "by_size": dict(self.by_size.most_common()),
            "megapixels_per_photo": round(self.pixels / n / 1e6, 2),
            "open_image_calls_per_photo": round(self.open_image_calls / n, 2),
        }


class LoadTimer:
    """Wall time of `Analyzer.load` calls that really load (first use), per pass, and the union of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []
        self.per_pass: dict[str, float] = {}

    def install(self) -> None:
        from chronicon.analyzers.base import Analyzer

        timer = self
        original = Analyzer.load

        def load(analyzer: Any) -> None:
            if analyzer._loaded or analyzer._load_error is not None:
                return original(analyzer)
            start = time.perf_counter()
            try:
                return original(analyzer)
            finally:
                end = time.perf_counter()
                with timer.lock:
                    timer.spans.append((start, end))
                    # Threads that wait on the load lock overlap the loading one: the longest span is the load.
                    timer.per_pass[analyzer.name] = max(timer.per_pass.get(analyzer.name, 0.0), end - start)

        Analyzer.load = load  # type: ignore[method-assign]

    def union_seconds(self) -> float:
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import torch

        from chronicon.runtime import bf16_supported_on_cpu

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(), bf16_on_cpu=bf16_supported_on_cpu())
    except Exception as exc:  # no torch: the ML passes are skipped anyway
        info.update(torch=None, bf16_on_cpu=None, torch_error=str(exc))
    return info


def peak_rss_mb() -> dict[str, float | None]:
    """This process's peak RSS: VmHWM of /proc/self/status (its own address space), and ru_maxrss.

    ru_maxrss is not the scan's alone on Linux: execve keeps the high-water mark of the address space it
    replaces, and a forked child's copy of its parent counts, so a child reports at least its parent's RSS at
    the fork. VmHWM starts afresh with the exec'd program; it is the figure reported as the peak."""
    import resource

    hwm = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError, IndexError):
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return {"peak_rss_mb": hwm if hwm is not None else maxrss, "ru_maxrss_mb": maxrss}


def _usage() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _library(spec: dict[str, Any]) -> Any:
    from chronicon.library import Library

    return Library(
        spec["catalog"], config_file=spec["config_file"], overrides=spec["overrides"], environ={}, entry_points=True
    )


def child_scan(spec: dict[str, Any]) -> dict[str, Any]:
    """A full default scan of spec["root"] into a fresh catalog: timings, CPU, peak RSS, decodes."""
    lib = _library(spec)
    decodes = DecodeCounter(spec["root"])
    decodes.install()
    loads = LoadTimer()
    loads.install()
    load_before = os.getloadavg()[0]
    cpu0, t0 = _usage(), time.perf_counter()
    summary = lib.scan([spec["root"]])
    wall, cpu = time.perf_counter() - t0, _usage() - cpu0
    photos = summary.counts.get("new", 0) + summary.counts.get("failed", 0)
    skipped = {}
    for note in summary.notes:
        match = re.match(r"pass (\S+) skipped: (.*)", note)
        if match:
            skipped[match.group(1)] = match.group(2)
    return {
        "photos": photos,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_pct": 100 * cpu / wall,
        **peak_rss_mb(),
        "model_load_s": loads.union_seconds(),
        "model_load_s_per_pass": {k: round(v, 2) for k, v in loads.per_pass.items()},
        "passes": {
            name: {"items": t.items, "seconds": t.seconds, "errors": t.errors} for name, t in summary.timings.items()
        },
        "skipped": skipped,
        "counts": summary.counts,
        "failures": [str(f) for f in summary.failures[:10]],
        "notes": summary.notes,
        "plugin_problems": summary.plugin_problems + [str(p) for p in lib.plugins.problems],
        "decodes": decodes.report(photos),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "machine": machine_info(),
    }


def child_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The naive pipeline (see the module docstring) over spec["paths"]."""
    import uuid

    from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, PerItemAnalyzer
    from chronicon.errors import ModelUnavailableError
    from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes
    from chronicon.scan.hashing import content_hash

    lib = _library(spec)
    analyzers = lib.analyzers()
    decodes = DecodeCounter(spec["root"])
    decodes.install()
    paths: list[str] = spec["paths"]
    cpu0, t0 = _usage(), time.perf_counter()

    # Common per-file work, once per photo: sniff and content hash.
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    formats: list[tuple[Any, str]] = []
    for path in paths:
        with open(path, "rb") as fh:
            sniffed = sniff_bytes(fh.read(SNIFF_BYTES))
        assert sniffed is not None, path
        formats.append((sniffed.kind, sniffed.format))
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "path": path,
                "kind": sniffed.kind.value,
                "format": sniffed.format,
                "content_hash": content_hash(path, "sampled"),
            }
        )
    passes: dict[str, dict[str, Any]] = {
        "sniff+hash": {"items": len(paths), "seconds": time.perf_counter() - start, "errors": 0}
    }
    skipped: dict[str, str] = {}
    load_s: dict[str, float] = {}

    def run_once(analyzer: Analyzer, i: int, keep: bool) -> bool:
        st = os.stat(paths[i])
        kind, fmt = formats[i]
        item = AssetItem(rows[i]["id"], paths[i], kind, fmt, st.st_size, st.st_mtime_ns, row=dict(rows[i]))
        if not analyzer.applies_to(item):
            return True
        try:
            if isinstance(analyzer, PerItemAnalyzer):
                outcome: Any = analyzer.run_one(item)
            else:
                if type(analyzer).prepare is not Analyzer.prepare:
                    item.cache[analyzer.input_key] = analyzer.prepare(item)
                outcome = analyzer.run([item])[0]
        except ModelUnavailableError:
            raise
        except Exception as exc:
            outcome = exc
        if isinstance(outcome, BaseException):
            if isinstance(outcome, ModelUnavailableError):
                raise outcome
            return False
        if keep:
            outcome.pop(VECTORS_KEY, None)
            rows[i].update(outcome)
        return True

    for analyzer in analyzers:
        try:
            reason = analyzer.unavailable()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if reason is not None:
            skipped[analyzer.name] = reason
            continue
        applies = [i for i in range(len(paths)) if analyzer.applies_to(AssetItem("", paths[i], *formats[i], 0, 0))]
        if not applies:
            continue  # a video-only pass on a photo library
        try:
            start = time.perf_counter()
            analyzer.load()
            decodes.active = False
            try:
                run_once(analyzer, applies[0], keep=False)  # warm-up (first-call set-up of the runtime)
            finally:
                decodes.active = True
            load_s[analyzer.name] = time.perf_counter() - start
            errors = 0
            start = time.perf_counter()
            for i in applies:
                errors += not run_once(analyzer, i, keep=True)
            passes[analyzer.name] = {"items": len(applies), "seconds": time.perf_counter() - start, "errors": errors}
        except ModelUnavailableError as exc:
            skipped[analyzer.name] = str(exc)
        finally:
            analyzer.close()
    wall, cpu = time.perf_counter() - t0, _usage() - cpu0
    timed = sum(p["seconds"] for p in passes.values())
    return {
        "photos": len(paths),
        "seconds": timed,
        "wall_s_incl_model_loads": wall,
        "model_load_s": sum(load_s.values()),
        "model_load_s_per_pass": {k: round(v, 2) for k, v in load_s.items()},
        "cpu_pct": 100 * cpu / wall,
        **peak_rss_mb(),
        "passes": passes,
        "skipped": skipped,
        "plugin_problems": [str(p) for p in lib.plugins.problems],
        "decodes": decodes.report(len(paths)),
    }


def run_child(mode: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    spec_file = work / f"{mode}-spec.json"
    result_file = work / f"{mode}-result.json"
    result_file.unlink(missing_ok=True)
    spec_file.write_text(json.dumps({**spec, "result": str(result_file)}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = work / f"{mode}.log"
    with open(log, "w") as err:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--_child", mode, "--_spec", str(spec_file)],
            stdout=err,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0 or not result_file.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"the {mode} child failed (exit {proc.returncode}); the end of {log}:\n{tail}")
    return dict(json.loads(result_file.read_text()))


def child_main(mode: str, spec_file: Path) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(spec_file.read_text())
    if mode == "checkpoint":
        ok, note = make_clip_checkpoint(Path(spec["path"]))
        result: dict[str, Any] = {"ok": ok, "note": note}
    else:
        result = child_scan(spec) if mode == "scan" else child_baseline(spec)
    Path(spec["result"]).write_text(json.dumps(result, default=str))


# -- the parent: orchestration and report ---------------------------------------------------------------------
def per_pass(passes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "items": p["items"],
            "seconds": round(p["seconds"], 2),
            "photos_per_s": round(p["items"] / p["seconds"], 2) if p["seconds"] > 0 else None,
            "errors": p["errors"],
        }
        for name, p in passes.items()
    }


def goal(value: float | None, wanted: float, higher: bool = True) -> dict[str, Any]:
    met = value is not None and (value >= wanted if higher else value <= wanted)
    return {"goal": f"{'>=' if higher else '<='} {wanted:g}", "value": value, "met": met}


def benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    root = work / "library"
    generated = generate_library(root, args.photos)
    paths = [str(photo_path(root, i)) for i in range(args.photos)]
    checkpoint = work / "vit-b-32-random.pt"
    clip_ok, clip_note = False, "--no-clip"
    if not args.no_clip:  # in a child: torch and a 600 MB model stay out of this process
        try:
            made = run_child("checkpoint", {"path": str(checkpoint)}, work)
            clip_ok, clip_note = bool(made["ok"]), str(made["note"])
        except SystemExit as exc:
            clip_ok, clip_note = False, f"building the checkpoint failed: {str(exc)[-300:]}"
        if not clip_ok:
            clip_note += "; running with clip.enabled: false"
    overrides: dict[str, Any] = {"model_cache": str(work / "model-cache")}
    if clip_ok:
        overrides.update({"clip.model": "ViT-B-32", "clip.pretrained": str(checkpoint)})
    else:
        overrides["clip.enabled"] = False
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    config_file = work / "empty-config.yaml"
    config_file.write_text("# the defaults, and nothing from the user's config\n")

    def fresh(name: str) -> str:
        folder = work / name
        shutil.rmtree(folder, ignore_errors=True)
        return str(folder)

    base = {"config_file": str(config_file), "overrides": overrides}
    # Warm the model cache (label embeddings, exports) and the page cache of the model files.
    warm_root = work / "warmup"
    shutil.rmtree(warm_root, ignore_errors=True)
    warm_root.mkdir()
    for i in range(min(WARMUP_PHOTOS, args.photos)):
        shutil.copyfile(paths[i], warm_root / f"warm{i}.jpg")
    started = time.perf_counter()
    run_child("warmup", {**base, "root": str(warm_root), "catalog": fresh("catalog-warmup")}, work)
    warmup_s = time.perf_counter() - started

    baseline = None
    if not args.skip_baseline:
        k = min(args.photos, args.baseline_photos if args.baseline_photos is not None else 40)
        baseline = run_child(
            "baseline", {**base, "root": str(root), "paths": paths[:k], "catalog": fresh("catalog-baseline")}, work
        )
    scan = run_child("scan", {**base, "root": str(root), "catalog": fresh("catalog-scan")}, work)

    photos = scan["photos"]
    scan_rate = photos / scan["wall_s"]
    net = scan["wall_s"] - scan["model_load_s"]
    scan_rate_net = photos / net if net > 0 else None
    result: dict[str, Any] = {
        "benchmark": "full default scan of generated 12 MP JPEGs (issue 20)",
        "machine": scan["machine"],
        "load_average": {"before_scan": scan["load_average_before"], "after_scan": scan["load_average_after"]},
        "library": {
            "photos": args.photos,
            "size": f"{WIDTH}x{HEIGHT}",
            "quality": QUALITY,
            **generated,
            "dir": str(root),
        },
        "clip": {"enabled": clip_ok, "note": clip_note, "model": "ViT-B-32", "pretrained": str(checkpoint)},
        "warmup_scan_s": round(warmup_s, 1),
        "scan": {
            "photos": photos,
            "wall_s": round(scan["wall_s"], 2),
            "photos_per_s": round(scan_rate, 2),
            "model_load_s": round(scan["model_load_s"], 2),
            "model_load_s_per_pass": scan["model_load_s_per_pass"],
            "photos_per_s_excl_model_load": round(scan_rate_net, 2) if scan_rate_net else None,
            "cpu_s": round(scan["cpu_s"], 1),
            "cpu_pct": round(scan["cpu_pct"], 1),
            "peak_rss_mb": round(scan["peak_rss_mb"], 1),
            "ru_maxrss_mb": round(scan["ru_maxrss_mb"], 1),
            "passes": per_pass(scan["passes"]),
            "skipped": scan["skipped"],
            "counts": scan["counts"],
            "failures": scan["failures"],
            "plugin_problems": scan["plugin_problems"],
            "decodes": scan["decodes"],
            "notes": scan["notes"],
        },
        "baseline": None,
        "speedup": None,
    }
    speedup = speedup_net = None
    if baseline is not None:
        base_rate = baseline["photos"] / baseline["seconds"]
        speedup = scan_rate / base_rate
        speedup_net = scan_rate_net / base_rate if scan_rate_net else None
        result["baseline"] = {
            "method": "each pass alone over the photos, batch 1, one thread, own decode, no catalog writes; "
            "model loads and a 1-photo warm-up per pass not timed",
            "photos": baseline["photos"],
            "seconds": round(baseline["seconds"], 2),
            "photos_per_s": round(base_rate, 3),
            "model_load_and_warmup_s": round(baseline["model_load_s"], 1),
            "model_load_and_warmup_s_per_pass": baseline["model_load_s_per_pass"],
            "cpu_pct": round(baseline["cpu_pct"], 1),
            "peak_rss_mb": round(baseline["peak_rss_mb"], 1),
            "passes": per_pass(baseline["passes"]),
            "skipped": baseline["skipped"],
            "decodes": baseline["decodes"],
        }
        result["speedup"] = round(speedup, 2)
        result["speedup_excl_scan_model_load"] = round(speedup_net, 2) if speedup_net else None
    result["goals"] = {
        "photos_per_s": goal(round(scan_rate, 2), GOAL_PHOTOS_PER_S),
        "speedup_vs_naive": goal(round(speedup, 2) if speedup is not None else None, GOAL_SPEEDUP),
        "cpu_pct": goal(round(scan["cpu_pct"], 1), GOAL_CPU_PCT),
        "peak_rss_mb": goal(round(scan["peak_rss_mb"], 1), GOAL_RSS_MB, higher=False),
    }
    return result


def print_table(r: dict[str, Any]) -> None:
    m, lib, s, b = r["machine"], r["library"], r["scan"], r["baseline"]
    bf16 = {True: "yes", False: "no", None: "?"}[m.get("bf16_on_cpu")]
    print(
        f"Chronicon pipeline benchmark: {lib['photos']} photos {lib['size']} JPEG q{lib['quality']} "
        f"({lib['mb_per_photo']} MB each; {lib['generated']} generated in {lib['seconds']} s, {lib['reused']} reused)"
    )
    print(
        f"machine: {m['cpu']}, {m['cpu_count']} CPUs, torch {m.get('torch')} ({m.get('torch_threads')} threads), "
        f"bf16 on CPU: {bf16}; load average {r['load_average']['before_scan']:.2f} before the scan, "
        f"{r['load_average']['after_scan']:.2f} after"
    )
    print(
        f"clip: {'local ViT-B-32 checkpoint, random weights' if r['clip']['enabled'] else 'DISABLED'} "
        f"({r['clip']['note']}); warm-up scan of {WARMUP_PHOTOS} photos {r['warmup_scan_s']} s (not counted)"
    )
    print()
    print(
        f"full default scan: {s['photos']} photos in {s['wall_s']:.1f} s = {s['photos_per_s']:.2f} photos/s "
        f"({s['photos_per_s_excl_model_load']} photos/s without the {s['model_load_s']:.1f} s of model loads)"
    )
    print(
        f"  CPU {s['cpu_pct']:.0f}% of one core ({s['cpu_s']:.0f} CPU-s), peak RSS {s['peak_rss_mb']:.0f} MB"
        f" (VmHWM; ru_maxrss {s['ru_maxrss_mb']:.0f} MB)"
    )
    d = s["decodes"]
    print(
        f"  decodes per photo {d['per_photo']} (by pass: {d['by_pass']}; sizes: {d['by_size']}), "
        f"{d['megapixels_per_photo']} MP decoded per photo, open_image calls / photo {d['open_image_calls_per_photo']}"
    )
    header = f"  {'pass':<12} {'items':>6} {'worker-s':>9} {'photos/s':>9} {'share':>6} {'errors':>6}"
    print(header)
    total = sum(p["seconds"] for p in s["passes"].values()) or 1.0
    for name, p in sorted(s["passes"].items(), key=lambda kv: -kv[1]["seconds"]):
        rate = f"{p['photos_per_s']:.2f}" if p["photos_per_s"] else "-"
        print(
            f"  {name:<12} {p['items']:>6} {p['seconds']:>9.1f} {rate:>9} {100 * p['seconds'] / total:>5.0f}% "
            f"{p['errors']:>6}"
        )
    for name, reason in s["skipped"].items():
        print(f"  skipped {name}: {reason[:150]}")
    for problem in s["plugin_problems"]:
        print(f"  plugin problem: {problem}")
    if s["counts"].get("failed"):
        print(f"  FAILED files: {s['counts']['failed']}: {s['failures'][:3]}")
    if b is not None:
        print()
        print(
            f"naive baseline: {b['photos']} photos in {b['seconds']:.1f} s = {b['photos_per_s']:.3f} photos/s "
            f"(CPU {b['cpu_pct']:.0f}%, peak RSS {b['peak_rss_mb']:.0f} MB; model loads + warm-up "
            f"{b['model_load_and_warmup_s']} s not timed)"
        )
        d = b["decodes"]
        print(f"  {b['method']}")
        print(
            f"  decodes per photo {d['per_photo']} (by pass: {d['by_pass']}), {d['megapixels_per_photo']} MP per photo"
        )
        print(f"  {'pass':<12} {'items':>6} {'seconds':>9} {'photos/s':>9}")
        for name, p in b["passes"].items():
            rate = f"{p['photos_per_s']:.2f}" if p["photos_per_s"] else "-"
            print(f"  {name:<12} {p['items']:>6} {p['seconds']:>9.1f} {rate:>9}")
        print(
            f"speedup (per photo, scan wall incl. model loads vs baseline): {r['speedup']:.2f}x; "
            f"without the scan's model loads: {r['speedup_excl_scan_model_load']}x"
        )
    print()
    units = {"photos_per_s": "", "speedup_vs_naive": "x", "cpu_pct": "%", "peak_rss_mb": " MB"}
    for name, g in r["goals"].items():
        value = "not measured" if g["value"] is None else f"{g['value']}{units[name]}"
        print(f"goal {name} {g['goal']}{units[name]}: {value}: {'MET' if g['met'] else 'NOT MET'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200, help="generated 12 MP photos (default 200)")
    parser.add_argument("--baseline-photos", type=int, help="photos of the naive baseline (default min(N, 40))")
    parser.add_argument("--skip-baseline", action="store_true", help="leave the naive baseline out")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep library, checkpoint and catalogs in DIR and reuse what an earlier run left there",
    )
    parser.add_argument("--no-clip", action="store_true", help="run with clip.enabled: false")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for the scans and the baseline (YAML value), e.g. --set scan.model_chunk=0",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--_child", choices=("scan", "warmup", "baseline", "checkpoint"), help=argparse.SUPPRESS)
    parser.add_argument("--_spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        child_main("scan" if args._child == "warmup" else args._child, args._spec)
        return 0
    if args.photos < 1:
        parser.error("--photos must be at least 1")
    work = args.keep.expanduser().absolute() if args.keep else Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = benchmark(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
