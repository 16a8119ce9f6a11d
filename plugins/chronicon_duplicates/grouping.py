"""Near-duplicate groups: pHash candidates, embedding confirmation, video frame signatures, union-find, and the best
member of each group."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.api import Catalog, Where, col, cosine_radius, display_path, is_pixel_space, self_join

from .mih import near_pairs, parse_hashes
from .videos import COLUMNS as VIDEO_COLUMNS
from .videos import Alignment, FrameSequence, compare, sequence_of, video_links

RANKS = ("resolution", "duration", "sharpness", "aesthetic", "size")
_COLUMNS = ["id", "path", "kind", "width", "height", "size", "sharpness", "phash", "missing", "colors", "color_shares",
            "duration"]  # fmt: skip


@dataclass
class Options:
    """What `chronicon duplicates` was asked for (config defaults filled in)."""

    phash_distance: int = 8
    min_cosine: float = 0.9
    max_color_distance: float = 40.0
    cosine_alone: float = 0.97
    cosine_neighbors: int = 10
    cosine_probes: int = 3  # lists of the vector index searched per asset (catalogs over 20k vectors)
    rank_by: Sequence[str] = RANKS
    video_frame_distance: int = 12
    video_min_coverage: float = 0.8
    video_max_trim: float = 5.0
    video_max_trim_ratio: float = 0.2
    kind: str | None = None
    under: str | None = None
    # Stack columns (`Library.stack_kinds`: RAW + JPEG pairs, bursts, Live Photos): members of one stack are never
    # each other's duplicates.
    stacks: Sequence[str] = ()


@dataclass
class Edge:
    """Why two assets are linked: their pHash distance (None: found by cosine alone) and embedding cosine, or for
    two videos with frame signatures the alignment of their frames."""

    phash_distance: int | None
    cosine: float | None
    frames: Alignment | None = None

    @property
    def reason(self) -> str:
        if self.frames is not None:
            return "video-frames"
        if self.phash_distance is None:
            return "cosine"
        return "phash+cosine" if self.cosine is not None else "phash"


@dataclass
class Group:
    """A group of near-duplicates of one kind; members[0] is the best."""

    kind: str
    members: list[dict[str, Any]] = field(default_factory=list)


def pixel_space(space: str | None) -> str | None:
    """The space if its vectors embed pixels (CLIP-like: no `:suffix`), else None. ConSE vectors (`…:conse`) are
    label mixtures: two different photos of one kind of thing agree, a picture and its small copy may not."""
    return space if space is not None and is_pixel_space(space) else None


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def load_assets(catalog: Catalog, options: Options) -> list[dict[str, Any]]:
    """Present assets with a pHash, of the asked kind and under the asked folder (both filtered in the query)."""
    names = catalog.schema.names
    optional = ["aesthetic", *options.stacks,
                *(VIDEO_COLUMNS.values() if options.kind != "image" else ())]  # fmt: skip
    columns = _COLUMNS + [name for name in optional if name in names]
    parts = [col("phash").not_null(), col("missing").is_not_true()]
    if options.kind:
        parts.append(col("kind") == options.kind)
    if options.under:
        prefix = display_path(os.path.abspath(os.path.expanduser(options.under))).rstrip(os.sep) + os.sep
        parts.append(col("path").startswith(prefix))
    where = Where.all_of(parts)
    return [r for r in catalog.rows(where, columns) if r.get("phash") and len(r["phash"]) == 16]


class Vectors:
    """Segment-0 vectors of some assets in one space, L2-normalised float32 rows of `matrix`."""

    def __init__(self, ids: list[str], matrix: NDArray[np.float32]) -> None:
        self.ids = ids
        self.matrix = matrix
        self.row = {asset_id: i for i, asset_id in enumerate(ids)}

    def cosine(self, a: str, b: str) -> float | None:
        i, j = self.row.get(a), self.row.get(b)
        if i is None or j is None:
            return None
        return round(float(self.matrix[i] @ self.matrix[j]), 4)


WHOLE_TABLE = 5_000  # above this many ids the space's segment-0 vectors are read in one scan, not by `IN` lists


def load_vectors(catalog: Catalog, space: str | None, ids: Sequence[str]) -> Vectors:
    """The segment-0 vectors of these assets in `space` (none when it is None or has no table)."""
    empty = Vectors([], np.zeros((0, 0), np.float32))
    table = catalog.open_vector_table(space) if space is not None and ids else None
    if table is None:
        return empty
    wanted = set(ids)
    found: list[str] = []
    vectors: list[NDArray[np.float32]] = []
    if len(wanted) > WHOLE_TABLE:
        data = table.read(["asset_id", "vector"], col("segment") == 0)
        flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        matrix = np.ascontiguousarray(flat, dtype=np.float32).reshape(len(data), table.dim)
        for i, asset_id in enumerate(data.column("asset_id").to_pylist()):
            if asset_id in wanted:
                found.append(asset_id)
                vectors.append(matrix[i])
    else:
        for asset_id, rows in table.vectors_for(sorted(wanted)).items():
            first = [r for r in rows if r.segment == 0]
            if first:
                found.append(asset_id)
                vectors.append(np.asarray(first[0].vector, dtype=np.float32))
    if not found:
        return empty
    stacked = np.stack(vectors).astype(np.float32)
    norms = np.linalg.norm(stacked, axis=1)
    keep = norms > 0
    stacked = stacked[keep] / norms[keep, None]
    return Vectors([a for a, k in zip(found, keep.tolist(), strict=True) if k], stacked)


def cosine_pairs(vectors: Vectors, neighbors: int, threshold: float, probes: int = 3) -> list[tuple[str, str, float]]:
    """Pairs (a, b, cosine) where b is among the `neighbors` nearest vectors of a (itself left out) with a cosine
    of at least `threshold`: a self-join over an IVF index (`chronicon.api.self_join`; exact below 20k vectors,
    else each asset searched in its `probes` nearest k-means lists, sub-quadratic)."""
    n = len(vectors.ids)
    if n < 2 or neighbors < 1 or threshold > 1.0:
        return []
    found = self_join(vectors.matrix, min(neighbors, n - 1), cosine_radius(threshold), probes=probes)
    cosines = 1.0 - found.distance.astype(np.float64) ** 2 / 2.0
    ids = vectors.ids
    return [
        (ids[a], ids[b], c)
        for a, b, c in zip(found.left.tolist(), found.right.tolist(), cosines.tolist(), strict=True)
        if c >= threshold  # the radius is the cosine bound up to rounding: the cosine decides
    ]


def exact_cosine_pairs(
    vectors: Vectors, neighbors: int, threshold: float, block: int = 2048
) -> list[tuple[str, str, float]]:
    """The same pairs by comparing every pair, by blocks of `block` rows times the whole matrix (the former way,
    O(n²): for tests and the benchmark)."""
    matrix = vectors.matrix
    n = len(vectors.ids)
    out: list[tuple[str, str, float]] = []
    if n < 2 or neighbors < 1:
        return out
    take = min(neighbors, n - 1)
    for start in range(0, n, block):
        scores = matrix[start : start + block] @ matrix.T
        rows = np.arange(scores.shape[0])
        scores[rows, rows + start] = -np.inf  # not its own neighbour
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best = scores[rows[:, None], top]
        for r, c in zip(*np.nonzero(best >= threshold), strict=True):
            out.append((vectors.ids[start + int(r)], vectors.ids[int(top[r, c])], float(best[r, c])))
    return out


def _rgb(color: str) -> tuple[int, int, int] | None:
    text = color.lstrip("#")
    if len(text) != 6:
        return None
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        return None


def color_distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How far apart two assets' dominant colours are (0 = same; RGB units, up to 441): each colour of one,
    weighted by its share, to the nearest colour of the other, both ways, averaged. 0 when either has none."""

    def one_way(x: dict[str, Any], y: dict[str, Any]) -> float | None:
        xs = [(c, w) for c, w in zip(x.get("colors") or [], x.get("color_shares") or [], strict=False) if _rgb(c)]
        ys = [_rgb(c) for c in y.get("colors") or []]
        targets = [t for t in ys if t is not None]
        if not xs or not targets:
            return None
        total = sum(float(w) for _, w in xs) or 1.0
        spent = 0.0
        for color, weight in xs:
            rgb = _rgb(color)
            assert rgb is not None
            spent += float(weight) * min(math.dist(rgb, t) for t in targets)
        return spent / total

    there, back = one_way(a, b), one_way(b, a)
    if there is None or back is None:
        return 0.0
    return (there + back) / 2


def _rank_key(row: dict[str, Any], rank_by: Sequence[str]) -> tuple[float, ...]:
    values: list[float] = []
    for name in rank_by:
        if name == "resolution":
            values.append(float((row.get("width") or 0) * (row.get("height") or 0)))
        elif name == "duration":  # videos: the untrimmed copy first (whole seconds: a frame more is no better)
            value = row.get("duration")
            values.append(float(round(value)) if value is not None and math.isfinite(float(value)) else -math.inf)
        elif name in ("sharpness", "aesthetic", "size"):
            value = row.get(name)
            values.append(float(value) if value is not None and math.isfinite(float(value)) else -math.inf)
    return tuple(values)


def find_edges(
    catalog: Catalog,
    rows: list[dict[str, Any]],
    options: Options,
    space: str | None,
    sequences: Sequence[FrameSequence | None] | None = None,
) -> tuple[dict[tuple[int, int], Edge], Vectors]:
    """Links between rows (indices, i < j) of one kind: confirmed pHash pairs, plus cosine-only pairs in a
    pixel space, and for videos the pairs whose frame signatures align (`sequences`: `video_sequences(rows)`,
    computed here when not given); and the vectors read for them."""
    hashes = parse_hashes([r["phash"] for r in rows])
    left, right, dist = near_pairs(hashes, options.phash_distance)
    vectors = load_vectors(catalog, pixel_space(space), [r["id"] for r in rows])
    edges: dict[tuple[int, int], Edge] = {}
    for i, j, d in zip(left.tolist(), right.tolist(), dist.tolist(), strict=True):
        if color_distance(rows[i], rows[j]) > options.max_color_distance:
            continue  # the pHash sees only luminance: same layout in other colours is another picture
        cosine = vectors.cosine(rows[i]["id"], rows[j]["id"])
        if cosine is not None and cosine < options.min_cosine:
            continue  # looks alike at 8×8 DCT scale but the embeddings disagree: rejected
        edges[(i, j)] = Edge(int(d), cosine)
    if options.cosine_alone <= 1.0:
        index = {r["id"]: k for k, r in enumerate(rows)}
        for a, b, _ in cosine_pairs(vectors, options.cosine_neighbors, options.cosine_alone,
                                 options.cosine_probes):  # fmt: skip
            i, j = sorted((index[a], index[b]))
            if (i, j) not in edges:
                edges[(i, j)] = Edge(None, vectors.cosine(rows[i]["id"], rows[j]["id"]))
    if rows and rows[0]["kind"] == "video":
        edges = _frame_edges(rows, options, edges, vectors, video_sequences(rows) if sequences is None else sequences)
    return edges, vectors


def apart_from_stacks(
    rows: list[dict[str, Any]], edges: dict[tuple[int, int], Edge], columns: Sequence[str]
) -> dict[tuple[int, int], Edge]:
    """Members of one stack (the same cover in a stack column: a burst's frames, a RAW and its JPEG) are not
    duplicates of each other: their links are dropped, and an asset outside a stack keeps only its closest link
    into it (a copy of one frame in another folder groups with that frame, not with its siblings through it)."""
    for column in columns:
        edges = _apart(rows, edges, column)
    return edges


def _apart(rows: list[dict[str, Any]], edges: dict[tuple[int, int], Edge], column: str) -> dict[tuple[int, int], Edge]:
    stack = [r.get(column) for r in rows]
    if not any(stack):
        return edges

    def into(i: int, j: int) -> list[tuple[int, str]]:
        """(the asset outside, the stack) for each side of the link that leads into a stack the other is not in."""
        return [(o, str(stack[m])) for o, m in ((i, j), (j, i)) if stack[m] and stack[o] != stack[m]]

    def closeness(edge: Edge) -> tuple[float, float]:
        distance = float(edge.phash_distance) if edge.phash_distance is not None else math.inf
        return distance, -(edge.cosine if edge.cosine is not None else -1.0)

    apart = {k: e for k, e in edges.items() if not (stack[k[0]] and stack[k[0]] == stack[k[1]])}
    best: dict[tuple[int, str], tuple[tuple[float, float], tuple[int, int]]] = {}
    for (i, j), edge in sorted(apart.items()):
        for key in into(i, j):
            if key not in best or closeness(edge) < best[key][0]:
                best[key] = (closeness(edge), (i, j))
    return {(i, j): e for (i, j), e in apart.items() if all(best[key][1] == (i, j) for key in into(i, j))}


def video_sequences(rows: list[dict[str, Any]]) -> list[FrameSequence | None]:
    """Each row's frame sequence when its signature can decide (enough informative frames), else None."""
    out: list[FrameSequence | None] = []
    for row in rows:
        seq = sequence_of(row) if row.get("kind") == "video" else None
        out.append(seq if seq is not None and seq.usable else None)
    return out


def _frame_edges(
    rows: list[dict[str, Any]],
    options: Options,
    edges: dict[tuple[int, int], Edge],
    vectors: Vectors,
    sequences: Sequence[FrameSequence | None],
) -> dict[tuple[int, int], Edge]:
    """Between two videos that both have a frame signature, the signatures decide: their poster-frame links (pHash
    or cosine of the poster: the same opening) are dropped, and pairs whose frames align are linked instead. A
    video without one (the pass did not run, or too few informative frames) keeps its poster links."""
    kept = {k: e for k, e in edges.items() if sequences[k[0]] is None or sequences[k[1]] is None}
    for link in video_links(
        sequences,
        distance=options.video_frame_distance,
        min_coverage=options.video_min_coverage,
        max_trim=options.video_max_trim,
        max_trim_ratio=options.video_max_trim_ratio,
    ):
        a, b = rows[link.i], rows[link.j]
        poster = (int(a["phash"], 16) ^ int(b["phash"], 16)).bit_count()
        kept[(link.i, link.j)] = Edge(poster, vectors.cosine(a["id"], b["id"]), link.alignment)
    return kept


def group_rows(
    catalog: Catalog,
    rows: list[dict[str, Any]],
    options: Options,
    space: str | None,
    progress: Callable[[str], None] | None = None,
) -> list[Group]:
    """Groups of near-duplicates among rows, images with images and videos with videos, best member first."""
    groups: list[Group] = []
    for kind in sorted({r["kind"] for r in rows}):
        subset = [r for r in rows if r["kind"] == kind]
        if progress is not None:
            progress(f"{kind}: {len(subset)} assets")
        sequences = video_sequences(subset) if kind == "video" else []
        edges, vectors = find_edges(catalog, subset, options, space, sequences)
        edges = apart_from_stacks(subset, edges, options.stacks)
        sets = UnionFind(len(subset))
        for i, j in edges:
            sets.union(i, j)
        members: dict[int, list[int]] = {}
        for i in range(len(subset)):
            if sets.size[sets.find(i)] > 1:
                members.setdefault(sets.find(i), []).append(i)
        linked: dict[int, set[str]] = {}
        for (i, j), edge in edges.items():
            linked.setdefault(i, set()).add(edge.reason)
            linked.setdefault(j, set()).add(edge.reason)
        for indices in members.values():
            ranked = sorted(
                indices, key=lambda i: (tuple(-v for v in _rank_key(subset[i], options.rank_by)), subset[i]["path"])
            )
            best = subset[ranked[0]]
            group = Group(kind)
            for position, i in enumerate(ranked):
                row = subset[i]
                member: dict[str, Any] = {
                    "id": row["id"],
                    "path": row["path"],
                    "best": position == 0,
                    "width": row.get("width"),
                    "height": row.get("height"),
                    "size": row.get("size"),
                    "sharpness": row.get("sharpness"),
                    "aesthetic": row.get("aesthetic"),
                    "phash": row["phash"],
                    "phash_distance": (int(row["phash"], 16) ^ int(best["phash"], 16)).bit_count(),
                    "cosine": vectors.cosine(row["id"], best["id"]) if position else None,
                    "linked_by": sorted(linked.get(i, set())),
                }
                if kind == "video":
                    member.update(_video_fields(row, sequences[i], sequences[ranked[0]] if position else None, options))
                group.members.append(member)
            groups.append(group)
    groups.sort(key=lambda g: (-len(g.members), g.members[0]["path"]))
    return groups


def _video_fields(
    row: dict[str, Any], seq: FrameSequence | None, best: FrameSequence | None, options: Options
) -> dict[str, Any]:
    """A video member's duration, and how its frames align with the best member's: the share of the shorter one's
    frames matched and the offset (seconds into the best member where this one starts). None for the best member,
    or when either has no signature or their durations rule out a trim."""
    found = None
    if seq is not None and best is not None:
        found = compare(
            seq,
            best,
            distance=options.video_frame_distance,
            max_trim=options.video_max_trim,
            max_trim_ratio=options.video_max_trim_ratio,
        )
    return {
        "duration": row.get("duration"),
        "video_coverage": found.coverage if found is not None else None,
        "video_offset": found.offset if found is not None else None,
    }
