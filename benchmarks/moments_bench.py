"""Several frames per long shot against one (issue 18 part 3): which clip and which moment a search finds.

The search-evaluation photos (real photos from installed packages, `scripts/make_eval_library.py`) become pan
clips: each clip is ONE shot in which the camera holds on a photo for 6 s and slides to the next over 2 s, three
photos a clip, in the library's file order (unrelated to subjects), so 23 photos make 8 clips of 22 s
(`chronicon.evaluation.moments`). The labelled queries of `evaluation/search_queries.yaml` (written for the photos,
before any of this) are asked of the clips: a query is right at top-1 when the first result is the clip that shows
an expected photo, and its moment is right when the hit's time (`SearchHit.t`) lies in the span where that photo
fills the frame (± 0.5 s). Negatives and queries whose photos are missing are not counted.

Each configuration scans the same clips into a fresh catalog with the default passes (CLIP off: no weights
here; offline search then runs on the tagger's ConSE vectors, fused with captions and OCR text):

- one frame: `shots.max_frames_per_segment: 1`, the behaviour before (one frame per shot, moment = shot start);
- several frames (one per visually distinct stretch, at least one every 8 s, at most 6), the moment always the
  best-matching frame, and the video ranked by
  - pooled, labels: the shot's vector from the labels of all its frames (best score each);
  - pooled, mean: the mean of its frames' ConSE vectors (`tags.segment_pooling: mean`);
  - best frame (the default, `search.video_score: best_frame`): the better of its best row (pooled shot or
    whole video) and its best-matching frame.
- the photos: the same queries over the 23 photos as files (the ceiling of offline search on these photos).

    .venv/bin/python benchmarks/moments_bench.py           # ~3 min on 2 cores
    .venv/bin/python benchmarks/moments_bench.py --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from chronicon.evaluation.moments import make_pan_library, score_moments  # noqa: E402
from chronicon.evaluation.search import load_queries  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "one frame": {"shots.max_frames_per_segment": 1},
    "pooled, labels": {"search.video_score": "pooled", "tags.segment_pooling": "labels"},
    "pooled, mean": {"search.video_score": "pooled"},
    "best frame": {},  # the default: mean-pooled shots, each video ranked by the better of its rows and frames
}


def run(config: dict[str, Any], videos: Path, catalog: Path, queries: list[Any]) -> tuple[dict[str, Any], Any]:
    from chronicon.library import Library

    library = Library(catalog, overrides={"clip.enabled": False, **config})
    started = time.perf_counter()
    summary = library.scan([videos])
    seconds = time.perf_counter() - started
    shots = frames = 0
    for path in sorted(videos.glob("*.mp4")):
        segments = json.loads(library.info(path).get("segments") or "[]")
        shots += len(segments)
        frames += sum(len(s.get("frame_times") or []) for s in segments)
    results = {}
    for q in queries:
        hits = library.search(q.query, limit=3, show_all=True)  # ranking, not the cutoff
        results[q.query] = [(Path(h.path).name, h.t if h.t is not None else h.t_start) for h in hits]
    facts = {"scan_s": round(seconds, 1), "failures": len(summary.failures), "shots": shots, "frames": frames}
    return facts, results


def photo_reference(photos: Path, catalog: Path, queries: list[Any]) -> dict[str, Any]:
    """The same queries over the photos themselves: what offline search gets when each is its own file."""
    from chronicon.library import Library

    library = Library(catalog, overrides={"clip.enabled": False})
    library.scan([photos])
    top1 = top3 = 0
    for q in queries:
        names = [Path(h.path).name for h in library.search(q.query, limit=3, show_all=True)]
        top1 += bool(names) and names[0] in q.expect
        top3 += any(n in q.expect for n in names)
    return {"queries": len(queries), "top1": round(top1 / len(queries), 3), "top3": round(top3 / len(queries), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default=str(ROOT / "evaluation" / "search_queries.yaml"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    queries = [q for q in load_queries(args.queries) if not q.negative]
    with tempfile.TemporaryDirectory(prefix="moments-bench-") as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_eval_library.py"), str(work / "photos")],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        photos = sorted((work / "photos").glob("*.JPG"))
        clips = make_pan_library(photos, work / "videos")
        report: dict[str, Any] = {"clips": len(clips), "seconds": round(sum(c.duration for c in clips), 1)}
        for name, config in CONFIGS.items():
            facts, results = run(config, work / "videos", work / f"catalog-{name.replace(' ', '-')}", queries)
            score = score_moments(clips, [(q.query, q.expect) for q in queries], results)
            report[name] = {**facts, **score.as_dict(), "misses": score.misses}
        report["photos"] = photo_reference(work / "photos", work / "catalog-photos", queries)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['clips']} pan clips, {report['seconds']} s in all; one shot each, 3 photos in view in turn")
    print(f"{'':16} {'queries':>7} {'top-1':>6} {'top-3':>6} {'moment':>7} {'med err':>8} {'shots':>5} "
          f"{'frames':>6} {'scan s':>7}")  # fmt: skip
    for name in CONFIGS:
        r = report[name]
        err = "-" if r["median_error_s"] is None else f"{r['median_error_s']:.1f}s"
        print(f"{name:16} {r['queries']:>7} {r['top1']:>6.2f} {r['top3']:>6.2f} {r['moment']:>7.2f} {err:>8} "
              f"{r['shots']:>5} {r['frames']:>6} {r['scan_s']:>7}")  # fmt: skip
    p = report["photos"]
    print(f"{'the photos':16} {p['queries']:>7} {p['top1']:>6.2f} {p['top3']:>6.2f}   (each photo its own file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
