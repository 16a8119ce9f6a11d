"""Shot-transition benchmark: Chronicon's shot detectors against PySceneDetect on generated clips with known
transitions (issue 18).

Generates 1080p H.264 clips of real photos (scikit-image's and scikit-learn's sample photos, each scene under a
slow pan / zoom) with hard cuts, same-colour cuts (another picture with nearly the same colours), fades through
black and dissolves, plus what must not count: fast pans, flashes and quick zooms inside a shot
(`chronicon.evaluation.transitions`). Each clip is encoded three ways from the same frames:

- keyint250: a keyframe at least every 250 frames and x264's default scenecut, which adds keyframes at hard
  cuts (and at flashes and in fades) - a keyframe-only detector gets the cuts handed to it;
- keyint250-noscenecut: keyframes every 250 frames and nowhere else, as in much web and camera video;
- gop1s: a keyframe every second (keyint = fps), as phones write them.

Detectors, each timed on its own after an untimed warm-up (× realtime = video seconds / wall seconds), on the
same files:

- chronicon fast / fast+refine / accurate / accurate-nospikes (TransNetV2 alone, `spike_cuts=False`):
  `sample_video(path, SamplingOptions(mode="shots", detector=...))`'s `cuts` (without a `detector` option in
  the checkout, fast is the default detector and accurate is skipped).
  accurate (TransNetV2 on every frame) runs on keyint250-noscenecut only unless --accurate-everywhere: it
  decodes every frame whatever the keyframes, and costs about the clip's length on 2 cores;
- PySceneDetect AdaptiveDetector (the baseline of the speed ratios, same encoding), ContentDetector and
  HistogramDetector with their defaults, through `SceneManager` on its PyAV backend (auto downscale on, as in
  `scenedetect.detect()`), with FFmpeg's threads on (`threading_mode="AUTO"`, as Chronicon decodes; its default
  is one thread). Its cuts are the start times of the scenes after the first.

Scoring (`score_transitions`): a detection matches a true transition within [start - tol, end + tol], one to
one, nearest first. Per type: recall, precision with each false positive charged to the type of the nearest true
transition, and the F1 of those two; overall: micro precision / recall / F1. False positives are also counted by
where they fell: in a pan, zoom or flash (± tol), on a transition already matched (dup), or elsewhere. The
summary adds the overall F1 at ±1 s: a detector that finds a transition but places it up to a second off (a
keyframe-only detector without refinement) scores there. Speeds on shared cores vary by ±30% between runs.

    .venv/bin/python benchmarks/shots_bench.py            # 2 clips, 56 s of 1080p (25 and 30 fps), ~4 min on 2 cores
    .venv/bin/python benchmarks/shots_bench.py --quick    # 1 clip of 20 s, ~1 min
    .venv/bin/python benchmarks/shots_bench.py --quick --size 640x360 --only chronicon --json
    .venv/bin/python benchmarks/shots_bench.py --save report.json   # table, plus every detection and miss in JSON
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chronicon.evaluation.transitions import (
    ENCODINGS,
    NON_TRANSITIONS,
    TRANSITIONS,
    GeneratedClip,
    TransitionScore,
    combine,
    event_counts,
    generate_clips,
    score_transitions,
)
from chronicon.media.shots import SamplingOptions, sample_video

FULL: list[dict[str, Any]] = [{"fps": 25, "seconds": 30.0, "seed": 11}, {"fps": 30, "seconds": 26.0, "seed": 12}]
QUICK: list[dict[str, Any]] = [{"fps": 25, "seconds": 20.0, "seed": 11}]
BASELINE = "scenedetect adaptive"
LOOSE_TOL = 1.0  # the summary's second F1: where a detector finds the transition but places it within a second
SHORT = {"cut": "cut", "same_colour_cut": "same-colour cut", "fade": "fade", "dissolve": "dissolve"}


@dataclass
class Detector:
    name: str
    run: Callable[[Path], tuple[list[float], str, int]]  # path -> (transition times, method, frames decoded)
    skipped: str | None = None
    once: bool = False  # decodes every frame whatever the keyframes: by default run on one encoding only


def _chronicon(
    detector: str | None, refine: bool = False, **extra: Any
) -> Callable[[Path], tuple[list[float], str, int]]:
    def run(path: Path) -> tuple[list[float], str, int]:
        options: dict[str, Any] = {"mode": "shots", "refine": refine, **extra}
        if detector is not None:
            options["detector"] = detector
        boundaries = None
        if detector == "accurate":
            from chronicon.embed.transnet import default_model

            boundaries = default_model()
        result = sample_video(str(path), SamplingOptions(**options), boundaries)
        return list(result.cuts), result.method, result.frames_decoded

    return run


def _scenedetect(kind: str) -> Callable[[Path], tuple[list[float], str, int]]:
    def run(path: Path) -> tuple[list[float], str, int]:
        import scenedetect  # type: ignore[import-untyped]

        detector = {"adaptive": scenedetect.AdaptiveDetector, "content": scenedetect.ContentDetector,
                    "histogram": scenedetect.HistogramDetector}[kind]()  # fmt: skip
        video = scenedetect.open_video(str(path), backend="pyav", threading_mode="AUTO")
        manager = scenedetect.SceneManager()
        manager.add_detector(detector)
        frames = manager.detect_scenes(video)
        scenes = manager.get_scene_list()
        return [float(start.seconds) for start, _ in scenes[1:]], "every frame", int(frames)

    return run


def _scenedetect_version() -> str | None:
    try:
        import scenedetect
    except ImportError:
        return None
    return str(getattr(scenedetect, "__version__", "?"))


def detectors() -> list[Detector]:
    has_choice = "detector" in SamplingOptions.__dataclass_fields__
    fast = "fast" if has_choice else None
    no_choice = None if has_choice else "SamplingOptions has no `detector` field in this checkout"
    out = [
        Detector("chronicon fast", _chronicon(fast)),
        Detector("chronicon fast+refine", _chronicon(fast, refine=True)),
        Detector("chronicon accurate", _chronicon("accurate"), no_choice, once=True),
    ]
    if "spike_cuts" in SamplingOptions.__dataclass_fields__:  # TransNetV2 alone, without the spike cuts
        out.append(Detector("chronicon accurate-nospikes", _chronicon("accurate", spike_cuts=False), once=True))
    missing = None if _scenedetect_version() is not None else "scenedetect is not installed"
    logging.getLogger("pyscenedetect").setLevel(logging.ERROR)
    return out + [Detector(f"scenedetect {k}", _scenedetect(k), missing) for k in ("adaptive", "content", "histogram")]


def _clip_info(clips: list[GeneratedClip]) -> dict[str, Any]:
    events = [e for c in clips for e in c.events]
    frame = 1.0 / min(c.fps for c in clips)
    # Keyframes x264 put on (or within a frame of) an event: hard cuts, but also flashes and fades.
    on_events = sum(
        1 for c in clips for k in c.keyframes if any(e.start - frame <= k <= e.end + frame for e in c.events)
    )
    same = [e.colour_distance for e in events if e.kind == "same_colour_cut" and e.colour_distance is not None]
    cuts = [e.colour_distance for e in events if e.kind == "cut" and e.colour_distance is not None]
    return {
        "clips": len(clips),
        "seconds": round(sum(c.duration for c in clips), 2),
        "events": dict(event_counts(events)),
        "keyframes": sum(len(c.keyframes) for c in clips),
        "keyframes_on_events": on_events,
        "same_colour_cut_colour_distance": [round(d, 3) for d in same],
        "cut_colour_distance": [round(d, 3) for d in cuts],
    }


def _measure(detector: Detector, clips: list[GeneratedClip], tol: float) -> dict[str, Any]:
    scores: list[TransitionScore] = []
    loose: list[TransitionScore] = []
    wall = 0.0
    found: list[list[float]] = []
    methods: set[str] = set()
    decoded = 0
    for clip in clips:
        t0 = time.perf_counter()
        cuts, method, frames = detector.run(clip.path)
        wall += time.perf_counter() - t0
        methods.add(method)
        decoded += frames
        found.append([round(c, 3) for c in cuts])
        scores.append(score_transitions(clip.events, cuts, tol))
        loose.append(score_transitions(clip.events, cuts, max(tol, LOOSE_TOL)))
    total = combine(scores)
    seconds = sum(c.duration for c in clips)
    return {
        "score": total.as_dict(),
        f"f1_at_{max(tol, LOOSE_TOL):g}s": round(combine(loose).f1, 3),
        "wall_s": round(wall, 3),
        "x_realtime": round(seconds / max(wall, 1e-9), 1),
        "method": "/".join(sorted(methods)),
        "frames_decoded": decoded,
        "frames": sum(c.frames for c in clips),
        "detections": found,
        "missed": [{"kind": e.kind, "start": round(e.start, 3), "end": round(e.end, 3)} for e in total.missed],
        "false_alarms": [{"t": round(t, 3), "zone": z} for t, z in total.false_alarms],
    }


def _print_block(encoding: str, info: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    ev = info["events"]
    print(f"\n== {encoding}: {info['seconds']:.0f} s in {info['clips']} clip(s), {info['keyframes']} keyframes "
          f"({info['keyframes_on_events']} on a transition/flash); true: "
          + ", ".join(f"{ev[k]} {SHORT[k]}" for k in TRANSITIONS)
          + "; not transitions: " + ", ".join(f"{ev[k]} {k}" for k in NON_TRANSITIONS))  # fmt: skip
    header = f"{'detector':24} {'type':16} {'true':>4} {'hit':>4} {'FP':>4} {'P':>5} {'R':>5} {'F1':>5}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:24} {r['skipped']}")
            continue
        s = r["score"]
        for i, kind in enumerate(TRANSITIONS):
            k = s["kinds"][kind]
            print(f"{name if i == 0 else '':24} {SHORT[kind]:16} {k['true']:>4} {k['found']:>4} "
                  f"{k['false_positives']:>4} {k['precision']:>5.2f} {k['recall']:>5.2f} {k['f1']:>5.2f}")  # fmt: skip
        z = s["false_positive_zones"]
        speed = f"{r['x_realtime']}x realtime"
        if "speed_vs_baseline" in r and name != BASELINE:
            speed += f" = {r['speed_vs_baseline']}x {BASELINE}"
        print(f"{'':24} {'all':16} {s['true']:>4} {s['found']:>4} {s['false_positives']:>4} "
              f"{s['precision']:>5.2f} {s['recall']:>5.2f} {s['f1']:>5.2f}  "
              f"FP in pan {z['pan']} zoom {z['zoom']} flash {z['flash']} dup {z['duplicate']} other {z['other']}; "
              f"{speed}; {r['method']}, {r['frames_decoded']}/{r['frames']} frames decoded")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one clip of 20 s instead of two (56 s)")
    parser.add_argument("--size", default="1920x1080", help="frame size, WxH (default 1920x1080)")
    parser.add_argument("--tol", type=float, default=0.25, help="matching tolerance in seconds (default 0.25)")
    parser.add_argument("--encodings", default=",".join(ENCODINGS), help=f"comma list of {', '.join(ENCODINGS)}")
    parser.add_argument("--only", default="", help="comma list of detector-name substrings to run (default: all)")
    parser.add_argument("--accurate-everywhere", action="store_true",
                        help="run the accurate detector on every encoding, not only keyint250-noscenecut")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", metavar="PATH", help="also write the JSON report (detections, misses) there")
    parser.add_argument("--keep", action="store_true", help="keep the generated clips")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    encodings = [ENCODINGS[e] for e in args.encodings.split(",") if e]
    once_on = next((e.name for e in encodings if e.scenecut == 0 and e.keyint > 0), encodings[0].name)
    chosen = [d for d in detectors() if not args.only or any(o in d.name for o in args.only.split(","))]
    tmp = Path(tempfile.mkdtemp(prefix="chronicon-shots-bench-"))
    try:
        t0 = time.perf_counter()
        by_encoding: dict[str, list[GeneratedClip]] = {e.name: [] for e in encodings}
        for i, spec in enumerate(QUICK if args.quick else FULL):
            for clip in generate_clips(tmp, f"clip{i}", encodings=encodings, size=(width, height), **spec):
                by_encoding[clip.encoding.name].append(clip)
        made = time.perf_counter() - t0
        # Untimed warm-up on a tiny clip: imports, model loading (TransNetV2) and first-call costs stay out.
        warm = generate_clips(tmp / "warm", encodings=encodings[:1], size=(160, 90), fps=25, seconds=5.0, seed=1)[0]
        for d in chosen:
            if not d.skipped:
                d.run(warm.path)
        report: dict[str, Any] = {
            "size": f"{width}x{height}",
            "tol_s": args.tol,
            "generate_s": round(made, 1),
            "scenedetect_version": _scenedetect_version(),
            "detector_option": "detector" in SamplingOptions.__dataclass_fields__,
            "clips": [{"path": c.path.name, "fps": c.fps, "seconds": c.duration,
                       "events": [{"kind": e.kind, "start": round(e.start, 3), "end": round(e.end, 3),
                                   "colour_distance": e.colour_distance} for e in c.events]}
                      for c in by_encoding[encodings[0].name]],
            "encodings": {},
        }  # fmt: skip
        for encoding in encodings:
            clips = by_encoding[encoding.name]
            results: dict[str, dict[str, Any]] = {}
            for d in chosen:
                if d.skipped:
                    results[d.name] = {"skipped": d.skipped}
                elif d.once and not args.accurate_everywhere and encoding.name != once_on:
                    results[d.name] = {"skipped": f"run on {once_on} only (every frame decoded: same input)"}
                else:
                    results[d.name] = _measure(d, clips, args.tol)
            base = results.get(BASELINE, {}).get("wall_s")
            for r in results.values():
                if base and "wall_s" in r:
                    r["speed_vs_baseline"] = round(base / max(r["wall_s"], 1e-9), 2)
            report["encodings"][encoding.name] = {"clips": _clip_info(clips), "x264_params": encoding.x264_params(25),
                                                  "detectors": results}  # fmt: skip
        if args.save:
            Path(args.save).write_text(json.dumps(report, indent=2), encoding="utf-8")
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        choice = "yes" if report["detector_option"] else "no (fast = the current detector)"
        seconds = sum(c["seconds"] for c in report["clips"])
        print(f"{len(report['clips'])} clip(s), {seconds:.0f} s at {width}x{height} per encoding, generated in "
              f"{made:.0f} s; tolerance ±{args.tol} s; PySceneDetect {report['scenedetect_version']}; "
              f"SamplingOptions.detector: {choice}")  # fmt: skip
        for name, block in report["encodings"].items():
            _print_block(name, block["clips"], block["detectors"])
        loose = f"f1_at_{max(args.tol, LOOSE_TOL):g}s"
        print(f"\nsummary: overall F1 at ±{args.tol} s / at ±{max(args.tol, LOOSE_TOL):g} s / x realtime")
        print(f"{'detector':24} " + " ".join(f"{e.name:>24}" for e in encodings))
        for d in chosen:
            cells = []
            for e in encodings:
                r = report["encodings"][e.name]["detectors"][d.name]
                cells.append("-" if "skipped" in r else f"{r['score']['f1']:.2f} / {r[loose]:.2f} / {r['x_realtime']}x")
            print(f"{d.name:24} " + " ".join(f"{c:>24}" for c in cells))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
