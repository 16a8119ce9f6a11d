"""Near-duplicate groups: pHash candidates, embedding confirmation, union-find, and the best member of each group."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chronicon.catalog.store import display_path

from .mih import near_pairs, parse_hashes

CONSE_SUFFIX = ":conse"
RANKS = ("resolution", "sharpness", "aesthetic", "size")
_COLUMNS = ["id", "path", "kind", "width", "height", "size", "sharpness", "phash", "missing", "colors", "color_shares"]


@dataclass
class Options:
    """What `chronicon duplicates` was asked for (config defaults filled in)."""

    phash_distance: int = 8
    min_cosine: float = 0.9
    max_color_distance: float = 40.0
    cosine_alone: float = 0.97
    cosine_neighbors: int = 10
    rank_by: Sequence[str] = RANKS
    kind: str | None = None
    under: str | None = None


@dataclass
class Edge:
    """Why two assets are linked: their pHash distance (None: found by cosine alone) and embedding cosine."""

    phash_distance: int | None
    cosine: float | None

    @property
    def reason(self) -> str:
        if self.phash_distance is None:
            return "cosine"
        return "phash+cosine" if self.cosine is not None else "phash"


@dataclass
class Group:
    """A group of near-duplicates of one kind; members[0] is the best."""

    kind: str
    members: list[dict[str, Any]] = field(default_factory=list)


def image_space(spaces: Sequence[str]) -> str | None:
    """The catalog's image-embedding space: a CLIP one first (name starts with "clip"), else the ConSE one."""
    clip = sorted(s for s in spaces if s.startswith("clip"))
    if clip:
        return clip[0]
    conse = sorted(s for s in spaces if s.endswith(CONSE_SUFFIX))
    return conse[0] if conse else None


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


def _under(path: str, folder: str) -> bool:
    prefix = display_path(os.path.abspath(folder)).rstrip(os.sep)
    return path == prefix or path.startswith(prefix + os.sep)


def load_assets(catalog: Any, options: Options) -> list[dict[str, Any]]:
    """Present assets with a pHash, of the asked kind and under the asked folder."""
    columns = _COLUMNS + (["aesthetic"] if "aesthetic" in catalog.schema.names else [])
    where = "phash IS NOT NULL AND (missing IS NULL OR missing = false)"
    if options.kind:
        where += f" AND kind = '{options.kind}'"
    rows = [r for r in catalog.rows(where, columns) if r.get("phash") and len(r["phash"]) == 16]
    if options.under:
        rows = [r for r in rows if _under(r["path"], options.under)]
    return rows


def _vectors(catalog: Any, space: str | None, ids: Sequence[str]) -> dict[str, np.ndarray[Any, Any]]:
    if space is None or not ids:
        return {}
    table = catalog.open_vector_table(space)
    if table is None:
        return {}
    out: dict[str, np.ndarray[Any, Any]] = {}
    for asset_id, rows in table.vectors_for(ids).items():
        first = [r for r in rows if r.segment == 0]
        if first:
            vector = np.asarray(first[0].vector, dtype=np.float64)
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                out[asset_id] = vector / norm
    return out


def _cosine(vectors: dict[str, np.ndarray[Any, Any]], a: str, b: str) -> float | None:
    if a in vectors and b in vectors:
        return round(float(vectors[a] @ vectors[b]), 4)
    return None


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
        elif name in ("sharpness", "aesthetic", "size"):
            value = row.get(name)
            values.append(float(value) if value is not None and math.isfinite(float(value)) else -math.inf)
    return tuple(values)


def find_edges(
    catalog: Any, rows: list[dict[str, Any]], options: Options, space: str | None
) -> dict[tuple[int, int], Edge]:
    """Links between rows (indices, i < j) of one kind: confirmed pHash pairs, plus cosine-only pairs in a
    CLIP-like space."""
    hashes = parse_hashes([r["phash"] for r in rows])
    left, right, dist = near_pairs(hashes, options.phash_distance)
    clip_like = space is not None and not space.endswith(CONSE_SUFFIX)
    # ConSE vectors are label distributions: an ambiguous photo and its resized copy can disagree, and two
    # different photos of one class agree, so only a CLIP-like space may confirm or add pairs.
    vectors = _vectors(catalog, space, [r["id"] for r in rows]) if clip_like else {}
    edges: dict[tuple[int, int], Edge] = {}
    for i, j, d in zip(left.tolist(), right.tolist(), dist.tolist(), strict=True):
        if color_distance(rows[i], rows[j]) > options.max_color_distance:
            continue  # the pHash sees only luminance: same layout in other colours is another picture
        cosine = _cosine(vectors, rows[i]["id"], rows[j]["id"])
        if cosine is not None and cosine < options.min_cosine:
            continue  # looks alike at 8×8 DCT scale but the embeddings disagree: rejected
        edges[(i, j)] = Edge(int(d), cosine)
    if clip_like and space is not None and options.cosine_alone <= 1.0:
        table = catalog.open_vector_table(space)
        index = {r["id"]: k for k, r in enumerate(rows)}
        allowed = set(index)
        for asset_id, vector in vectors.items():
            hits = table.search(
                vector.astype(np.float32),
                k=options.cosine_neighbors + 1,
                asset_ids=allowed,
                min_score=options.cosine_alone,
            )
            for hit in hits:
                if hit.asset_id == asset_id or hit.asset_id not in index:
                    continue
                i, j = sorted((index[asset_id], index[hit.asset_id]))
                if (i, j) not in edges:
                    edges[(i, j)] = Edge(None, _cosine(vectors, rows[i]["id"], rows[j]["id"]))
    return edges


def group_rows(
    catalog: Any,
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
        edges = find_edges(catalog, subset, options, space)
        sets = UnionFind(len(subset))
        for i, j in edges:
            sets.union(i, j)
        members: dict[int, list[int]] = {}
        for i in range(len(subset)):
            if sets.size[sets.find(i)] > 1:
                members.setdefault(sets.find(i), []).append(i)
        shown = space if space is not None and not space.endswith(CONSE_SUFFIX) else None  # see find_edges
        vectors = _vectors(catalog, shown, [subset[i]["id"] for idx in members.values() for i in idx])
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
                group.members.append(
                    {
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
                        "cosine": _cosine(vectors, row["id"], best["id"]) if position else None,
                        "linked_by": sorted(linked.get(i, set())),
                    }
                )
            groups.append(group)
    groups.sort(key=lambda g: (-len(g.members), g.members[0]["path"]))
    return groups
