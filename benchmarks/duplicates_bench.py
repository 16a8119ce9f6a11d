"""Near-duplicate candidate search: multi-index hashing on 100k random pHashes with planted near-duplicates, against
brute force (every pair) on a 10k subset, and the recall of the planted pairs; then the cosine-only pairs (blocked
NumPy top-k over segment-0 vectors) against one vector-table search per asset; then video signatures: what
the `duplicates` pass costs per video (1080p clips as phones and as x264 write them) against decoding every frame,
and how long matching takes on many synthetic signatures with planted copies.

    .venv/bin/python benchmarks/duplicates_bench.py [--n 100000] [--subset 10000] [--distance 8]
        [--vectors 100000] [--dim 512] [--search-subset 2000]
        [--video-seconds 30] [--video-step 1.0] [--signatures 5000] [--json]

The brute-force time for all n is extrapolated from the subset (it grows with n²); the speed-up is that
extrapolation divided by the multi-index time. The subset is also searched both ways and the pair sets compared.
The per-asset searches (the old way) run on `--search-subset` vectors in a temporary LanceDB table and are
extrapolated linearly (each search is exact over the table, so this understates the n² growth).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "plugins"))

from chronicon_duplicates.frames import read_signature  # noqa: E402
from chronicon_duplicates.grouping import Vectors, cosine_pairs  # noqa: E402
from chronicon_duplicates.mih import brute_force_pairs, near_pairs, pair_set, plan_for  # noqa: E402
from chronicon_duplicates.videos import (  # noqa: E402
    FrameSequence,
    candidate_pairs,
    durations_compatible,
    video_links,
)


def planted(n: int, pairs: int, distance: int, seed: int) -> tuple[np.ndarray[Any, Any], set[tuple[int, int]]]:
    """n random 64-bit hashes; `pairs` of them are copies of another with 0..distance bits flipped."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    slots = rng.permutation(n)[: 2 * pairs].reshape(pairs, 2)
    truth: set[tuple[int, int]] = set()
    for source, target in slots.tolist():
        value = int(hashes[source])
        for bit in rng.choice(64, size=int(rng.integers(0, distance + 1)), replace=False):
            value ^= 1 << int(bit)
        hashes[target] = np.uint64(value)
        truth.add((min(source, target), max(source, target)))
    return hashes, truth


def planted_vectors(n: int, dim: int, seed: int) -> np.ndarray[Any, Any]:
    """n random unit vectors (float32); a tenth of them near copies of another (cosine about 0.99)."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    sources, targets = rng.integers(0, n, size=n // 10), rng.integers(0, n, size=n // 10)
    matrix[targets] = matrix[sources] + 0.1 * rng.standard_normal((len(targets), dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def cosine_report(n: int, dim: int, search_subset: int) -> dict[str, Any]:
    """Blocked top-k cosine pairs on n vectors; per-asset vector-table searches on a subset, extrapolated."""
    import tempfile

    import lancedb

    from chronicon.catalog.vectors import VectorRow, VectorTable

    matrix = planted_vectors(n, dim, seed=1)
    vectors = Vectors([f"a{i:07d}" for i in range(n)], matrix)
    start = time.perf_counter()
    pairs = cosine_pairs(vectors, 10, 0.97)
    blocked_s = time.perf_counter() - start
    m = min(search_subset, n)
    with tempfile.TemporaryDirectory() as folder:
        table = VectorTable(lancedb.connect(folder), "bench-pixels", dim)
        table.replace([VectorRow(vectors.ids[i], matrix[i]) for i in range(m)])
        allowed = set(vectors.ids[:m])
        table.load()
        start = time.perf_counter()
        for i in range(m):
            table.search(matrix[i], k=11, asset_ids=allowed, min_score=0.97)
        search_s = time.perf_counter() - start
    sub = Vectors(vectors.ids[:m], matrix[:m])
    start = time.perf_counter()
    cosine_pairs(sub, 10, 0.97)
    blocked_sub_s = time.perf_counter() - start
    return {
        "vectors": n,
        "dim": dim,
        "blocked_seconds": round(blocked_s, 2),
        "cosine_pairs": len(pairs),
        "search_subset": m,
        "subset_per_asset_search_seconds": round(search_s, 2),
        "subset_blocked_seconds": round(blocked_sub_s, 3),
        "per_asset_search_seconds_extrapolated": round(search_s * (n / m) ** 2, 1),
    }


# -- videos ---------------------------------------------------------------------------------------------------
VIDEO_KINDS = {
    # name: (codec, encoder options) — a phone (a keyframe every second, no B-frames), x264's defaults (keyframes
    # at scene cuts and every 250 frames, B-frames), a phone writing HEVC
    "phone-h264": ("h264", {"preset": "veryfast", "crf": "20",
                            "x264-params": "keyint=30:min-keyint=30:scenecut=0:bframes=0"}),
    "x264-defaults": ("h264", {"preset": "veryfast", "crf": "23"}),
    "phone-hevc": ("libx265", {"preset": "ultrafast", "crf": "24",
                               "x265-params": "keyint=30:min-keyint=30:scenecut=0:bframes=0:log-level=error"}),
}  # fmt: skip


def make_video(path: Path, seconds: float, codec: str, options: dict[str, str], fps: int = 30) -> None:
    """A 1080p clip of scikit-image's photos, each for 4 s with a slow zoom and pan (a hard cut between them), with
    a little grain (cycled from a few noise frames) so that it compresses like camera footage, not like a drawing."""
    import av
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(7)
    width, height = 1920, 1080
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "horse")
    photos = []
    for name in names:
        pixels = getattr(skimage.data, name)()
        photos.append(
            Image.fromarray(pixels if pixels.dtype == np.uint8 else (pixels * 255).astype(np.uint8)).convert("RGB")
        )
    grain = [rng.normal(0, 4, (height, width, 1)).astype(np.int16) for _ in range(4)]
    out = av.open(str(path), mode="w")
    stream: Any = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = options
    shot = 4 * fps
    for i in range(int(seconds * fps)):
        photo = photos[(i // shot) % len(photos)]
        u = (i % shot) / shot
        crop_w = min(photo.width, photo.height * width / height) * (1.0 - 0.2 * u)
        crop_h = crop_w * height / width
        x, y = (photo.width - crop_w) * (0.3 + 0.4 * u), (photo.height - crop_h) / 2
        frame_pixels = np.asarray(
            photo.resize((width, height), Image.Resampling.BILINEAR, box=(x, y, x + crop_w, y + crop_h))
        )
        noisy = np.clip(frame_pixels.astype(np.int16) + grain[i % len(grain)], 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()


def decode_all(path: Path, threads: bool) -> tuple[int, float]:
    """The baseline: every frame decoded (with FFmpeg's threads, or on one core as the pass decodes), and the
    seconds it took."""
    import av

    start = time.perf_counter()
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        else:
            stream.codec_context.thread_count = 1
        for _ in container.decode(stream):
            frames += 1
    return frames, time.perf_counter() - start


def video_report(seconds: float, step: float, snap: float) -> dict[str, Any]:
    """Per kind of clip: the signature's cost (best of 3) against decoding every frame."""
    import tempfile

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (codec, options) in VIDEO_KINDS.items():
            path = Path(folder) / f"{name}.mp4"
            make_video(path, seconds, codec, options)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                signature = read_signature(path, step=step, snap=snap)
                times.append(time.perf_counter() - start)
            frames, one_core_s = decode_all(path, threads=False)
            _, threads_s = decode_all(path, threads=True)
            best = min(times)
            out[name] = {
                "seconds_of_video": seconds,
                "megabytes": round(path.stat().st_size / 1e6, 1),
                "samples": len(signature.times),
                "frames_decoded": signature.frames_decoded,
                "seeks": signature.seeks,
                "signature_seconds": round(best, 3),
                "x_realtime": round(seconds / best, 1),
                "all_frames": frames,
                "decode_all_one_core_seconds": round(one_core_s, 3),
                "decode_all_threads_seconds": round(threads_s, 3),
                "speedup_one_core": round(one_core_s / best, 1),
            }
    return out


def planted_signatures(n: int, seed: int) -> tuple[list[FrameSequence | None], set[tuple[int, int]]]:
    """n videos of 5..120 s (a hash per second that drifts a few bits per second, a new shot now and then); a
    tenth are copies of another, re-encoded (up to 3 bits off per frame) and trimmed by up to 3 s at each end."""
    rng = np.random.default_rng(seed)
    sequences: list[FrameSequence | None] = []
    truth: set[tuple[int, int]] = set()
    for index in range(n):
        if index and rng.random() < 0.1:
            source = int(rng.integers(0, index))
            original = sequences[source]
            assert original is not None
            head, tail = int(rng.integers(0, 4)), int(rng.integers(0, 4))
            keep = original.hashes[head : max(head + 2, len(original.hashes) - tail)].copy()
            for k in range(len(keep)):
                for bit in rng.choice(64, size=int(rng.integers(0, 4)), replace=False):
                    keep[k] ^= np.uint64(1 << int(bit))
            sequences.append(FrameSequence(np.arange(len(keep), dtype=np.float64), keep, 1.0, float(len(keep))))
            truth.add((source, index))
            continue
        length = int(rng.integers(5, 121))
        values = np.empty(length, dtype=np.uint64)
        value = int(rng.integers(0, 2**63))
        for k in range(length):
            if rng.random() < 0.1:  # a cut
                value = int(rng.integers(0, 2**63))
            for bit in rng.choice(64, size=int(rng.integers(0, 6)), replace=False):
                value ^= 1 << int(bit)
            values[k] = np.uint64(value)
        sequences.append(FrameSequence(np.arange(length, dtype=np.float64), values, 1.0, float(length)))
    return sequences, truth


def matching_report(n: int) -> dict[str, Any]:
    sequences, truth = planted_signatures(n, seed=5)
    start = time.perf_counter()
    candidates = candidate_pairs(sequences, 12)
    candidates_s = time.perf_counter() - start
    start = time.perf_counter()
    links = video_links(sequences, distance=12, min_coverage=0.8, max_trim=5.0, max_trim_ratio=0.2)
    links_s = time.perf_counter() - start
    found = {(link.i, link.j) for link in links}
    # Copies a trim of more than max(5 s, 20 %) made, or with fewer than two frames left, are not copies by the
    # settings: recall counts the others. A link between two copies of one original is right too (a family).
    wanted = {
        (i, j)
        for i, j in truth
        if (a := sequences[i]) is not None and (b := sequences[j]) is not None and b.usable
        and durations_compatible(a.duration, b.duration, 5.0, 0.2)
    }  # fmt: skip
    parent = {j: i for i, j in truth}

    def family(x: int) -> int:
        while x in parent:
            x = parent[x]
        return x

    return {
        "videos": n,
        "frames": int(sum(len(s.hashes) for s in sequences if s is not None)),
        "candidate_pairs": len(candidates),
        "candidates_seconds": round(candidates_s, 2),
        "links_seconds_with_candidates": round(links_s, 2),
        "planted": len(truth),
        "planted_within_the_trim_settings": len(wanted),
        "recall": round(len(wanted & found) / len(wanted), 4) if wanted else 1.0,
        "links_between_copies_of_one_original": sum(1 for i, j in found - truth if family(i) == family(j)),
        "false_links": sum(1 for i, j in found if family(i) != family(j)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--planted", type=int, default=1_000, help="near-duplicate pairs planted")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors for the cosine-only pairs (0: skip)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--search-subset", type=int, default=2_000)
    parser.add_argument("--video-seconds", type=float, default=30.0, help="length of the 1080p clips (0: skip)")
    parser.add_argument("--video-step", type=float, default=1.0, help="the pass's video_step")
    parser.add_argument("--video-snap", type=float, default=0.5, help="the pass's video_snap")
    parser.add_argument("--signatures", type=int, default=5_000, help="synthetic video signatures to match (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    hashes, truth = planted(args.n, args.planted, args.distance, seed=0)
    start = time.perf_counter()
    found = near_pairs(hashes, args.distance)
    mih_s = time.perf_counter() - start
    found_set = pair_set(found)
    recall = len(truth & found_set) / len(truth) if truth else 1.0

    sub = hashes[: args.subset]
    start = time.perf_counter()
    brute = brute_force_pairs(sub, args.distance)
    brute_sub_s = time.perf_counter() - start
    start = time.perf_counter()
    fast_sub = near_pairs(sub, args.distance)
    mih_sub_s = time.perf_counter() - start
    brute_full_s = brute_sub_s * (args.n / args.subset) ** 2
    plan = plan_for(args.n, args.distance)
    report = {
        "n": args.n,
        "distance": args.distance,
        "plan": {"bands": list(plan.widths), "radius": plan.radius, "probes_per_hash": plan.probes},
        "mih_seconds": round(mih_s, 3),
        "pairs_found": len(found_set),
        "planted_pairs": len(truth),
        "recall_of_planted": round(recall, 4),
        "subset": args.subset,
        "subset_brute_seconds": round(brute_sub_s, 3),
        "subset_mih_seconds": round(mih_sub_s, 3),
        "subset_same_pairs": pair_set(fast_sub) == pair_set(brute),
        "subset_speedup": round(brute_sub_s / mih_sub_s, 1) if mih_sub_s else None,
        "brute_full_seconds_extrapolated": round(brute_full_s, 1),
        "speedup_full_extrapolated": round(brute_full_s / mih_s, 1) if mih_s else None,
    }
    if args.vectors:
        report["cosine"] = cosine_report(args.vectors, args.dim, args.search_subset)
    if args.video_seconds:
        report["video_signatures"] = video_report(args.video_seconds, args.video_step, args.video_snap)
    if args.signatures:
        report["video_matching"] = matching_report(args.signatures)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.n:,} hashes, distance <= {args.distance}: bands {list(plan.widths)}, radius {plan.radius}")
    print(f"  multi-index: {mih_s:.2f} s, {len(found_set):,} pairs, recall of planted pairs {recall:.4f}")
    print(
        f"  brute force on {args.subset:,}: {brute_sub_s:.2f} s (multi-index {mih_sub_s:.2f} s, "
        f"same pairs: {report['subset_same_pairs']})"
    )
    print(
        f"  brute force on all {args.n:,} (extrapolated x{(args.n / args.subset) ** 2:.0f}): {brute_full_s:.0f} s "
        f"-> multi-index is {report['speedup_full_extrapolated']}x faster"
    )
    if args.vectors:
        c = report["cosine"]
        print(
            f"  cosine-only pairs, {c['vectors']:,} x {c['dim']}-d: blocked top-k {c['blocked_seconds']:.1f} s "
            f"({c['cosine_pairs']:,} pairs); one table search per asset on {c['search_subset']:,}: "
            f"{c['subset_per_asset_search_seconds']:.1f} s (blocked {c['subset_blocked_seconds']:.2f} s), "
            f"about {c['per_asset_search_seconds_extrapolated']:,.0f} s extrapolated to all"
        )
    for name, v in report.get("video_signatures", {}).items():
        print(
            f"  video signature, {v['seconds_of_video']:.0f} s of 1080p {name} ({v['megabytes']} MB): "
            f"{v['signature_seconds']:.2f} s ({v['x_realtime']}x realtime; {v['samples']} samples, "
            f"{v['frames_decoded']} frames decoded, {v['seeks']} seeks); decoding all {v['all_frames']} frames "
            f"{v['decode_all_one_core_seconds']:.2f} s on one core ({v['speedup_one_core']}x more), "
            f"{v['decode_all_threads_seconds']:.2f} s with threads"
        )
    if "video_matching" in report:
        m = report["video_matching"]
        print(
            f"  video matching, {m['videos']:,} signatures ({m['frames']:,} frames): candidates "
            f"{m['candidates_seconds']:.2f} s ({m['candidate_pairs']:,} pairs), with alignment "
            f"{m['links_seconds_with_candidates']:.2f} s; recall {m['recall']} of "
            f"{m['planted_within_the_trim_settings']} planted copies within the trim settings, "
            f"{m['links_between_copies_of_one_original']} links between copies of one original, "
            f"{m['false_links']} false links"
        )


if __name__ == "__main__":
    main()
