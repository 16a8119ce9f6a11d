"""The learned head: ridge regression over image embeddings plus the four heuristic parts, cross-validated."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .metrics import PARTS

F64 = NDArray[np.float64]
HEAD_FILE = Path("aesthetic") / "head.json"
MIN_RATED = 8
MAX_FOLDS = 5


@dataclass
class Head:
    """A fitted linear head: score = clip((x_std · weights + bias − out_min) / (out_max − out_min), 0, 1)."""

    space: str | None  # the vector space whose segment-0 vectors come first in the features, or None: parts only
    dim: int  # vector dimension (0 without a space)
    feature_names: list[str]
    weights: list[float]
    bias: float
    mean: list[float]
    std: list[float]
    out_min: float
    out_max: float
    n: int
    alpha: float
    cv_spearman: float | None
    baseline_spearman: float | None
    folds: int
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def short_hash(self) -> str:
        payload = json.dumps([self.space, self.weights, self.bias, self.mean, self.std], sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:8]

    @property
    def source(self) -> str:
        return f"head:{self.short_hash}"

    def raw(self, features: NDArray[Any]) -> NDArray[Any]:
        """The linear output, computed in the features' dtype (float32 blocks when re-scoring a catalog)."""
        dtype = features.dtype
        x = (features - np.asarray(self.mean, dtype=dtype)) / np.asarray(self.std, dtype=dtype)
        out: NDArray[Any] = x @ np.asarray(self.weights, dtype=dtype) + dtype.type(self.bias)
        return out

    def score(self, features: NDArray[Any]) -> NDArray[Any]:
        """Scores 0..1 for a (n, d) feature matrix."""
        span = self.out_max - self.out_min
        raw = self.raw(features)
        scaled = (raw - self.out_min) / span if span > 0 else np.full_like(raw, 0.5)
        out: NDArray[Any] = np.clip(scaled, 0.0, 1.0)
        return out


def head_path(catalog_dir: Path) -> Path:
    return catalog_dir / HEAD_FILE


def load_head(catalog_dir: Path) -> Head | None:
    """The saved head of this catalog, or None (no head, or an unreadable one: the heuristic is used)."""
    path = head_path(catalog_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("source", None)
        return Head(**data)
    except (OSError, ValueError, TypeError):
        return None


def save_head(catalog_dir: Path, head: Head) -> Path:
    """Write head.json atomically (temporary file, then rename)."""
    path = head_path(catalog_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**asdict(head), "source": head.source}, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def ranks(values: F64) -> F64:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    out = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        out[order[start : stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return out


def spearman(a: F64, b: F64) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None when either side is constant."""
    ra, rb = ranks(np.asarray(a, dtype=np.float64)), ranks(np.asarray(b, dtype=np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra @ ra) * (rb @ rb)))
    return float(ra @ rb) / denominator if denominator > 0 else None


def standardise(x: F64, parts: int = len(PARTS)) -> tuple[F64, F64, F64]:
    """Columns to zero mean and unit variance; the embedding block (after the first `parts` columns) is further
    divided by √dim, so that all its dimensions together weigh about as much as one heuristic part."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    dim = x.shape[1] - parts
    if dim > 0:
        std[parts:] *= np.sqrt(dim)
    return (x - mean) / std, mean, std


def ridge(x: F64, y: F64, alpha: float) -> tuple[F64, float]:
    """Closed-form ridge on centred data: w = Xᵀ(XXᵀ + αI)⁻¹(y − ȳ) when n < d, else (XᵀX + αI)⁻¹Xᵀ(y − ȳ)."""
    bias = float(y.mean())
    yc = y - bias
    n, d = x.shape
    reg = max(alpha, 1e-9)
    if n < d:
        weights: F64 = x.T @ np.linalg.solve(x @ x.T + reg * np.eye(n), yc)
    else:
        weights = np.asarray(np.linalg.solve(x.T @ x + reg * np.eye(d), x.T @ yc), dtype=np.float64)
    return weights, bias


def fold_ids(n: int, folds: int, seed: int = 0) -> NDArray[np.int64]:
    """A fold number per item: a fixed shuffle, dealt round-robin (so folds differ in size by at most one)."""
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) % folds
    return out


def cross_validate(x: F64, y: F64, alpha: float, folds: int) -> F64:
    """Out-of-fold predictions of ridge (standardised within each training fold)."""
    assignment = fold_ids(len(y), folds)
    predictions = np.empty(len(y), dtype=np.float64)
    for fold in range(folds):
        test = assignment == fold
        train = ~test
        xs, mean, std = standardise(x[train])
        weights, bias = ridge(xs, y[train], alpha)
        predictions[test] = ((x[test] - mean) / std) @ weights + bias
    return predictions


def feature_names(space: str | None, dim: int) -> list[str]:
    return [f"part:{name}" for name in PARTS] + [f"{space}[{i}]" for i in range(dim)]


def fit_head(x: F64, y: F64, heuristic: F64, *, space: str | None, alpha: float) -> Head:
    """Fit on all rated items; report k-fold Spearman (k = min(5, n)) and the heuristic's on the same items."""
    n = len(y)
    folds = min(MAX_FOLDS, n)
    out_of_fold = cross_validate(x, y, alpha, folds)
    xs, mean, std = standardise(x)
    weights, bias = ridge(xs, y, alpha)
    fitted = xs @ weights + bias
    return Head(
        space=space,
        dim=x.shape[1] - len(PARTS),
        feature_names=feature_names(space, x.shape[1] - len(PARTS)),
        weights=[float(v) for v in weights],
        bias=bias,
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        out_min=float(fitted.min()),
        out_max=float(fitted.max()),
        n=n,
        alpha=alpha,
        cv_spearman=spearman(out_of_fold, y),
        baseline_spearman=spearman(heuristic, y),
        folds=folds,
    )


def parts_vector(parts_json: str | None) -> F64 | None:
    """The four parts from the `aesthetic_parts` column, in PARTS order, or None."""
    if not parts_json:
        return None
    try:
        data = json.loads(parts_json)
        return np.asarray([float(data[name]) for name in PARTS], dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        return None


def features_for(
    catalog: Any, rows: list[dict[str, Any]], space: str | None, dtype: type[np.floating[Any]] = np.float64
) -> tuple[list[dict[str, Any]], NDArray[Any], list[dict[str, Any]]]:
    """(rows that have every feature, their (n, 4 + dim) matrix in `dtype`, rows left out for a missing part or
    vector). `space` is `Library.image_space()` at training time (None: the parts only)."""
    vectors: dict[str, Any] = {}
    if space is not None:
        table = catalog.open_vector_table(space)
        if table is not None:
            for asset_id, segs in table.vectors_for([r["id"] for r in rows]).items():
                first = [s for s in segs if s.segment == 0]
                if first:
                    vectors[asset_id] = np.asarray(first[0].vector, dtype=dtype)
    kept: list[dict[str, Any]] = []
    matrix: list[NDArray[Any]] = []
    left: list[dict[str, Any]] = []
    for row in rows:
        parts = parts_vector(row.get("aesthetic_parts"))
        if parts is None or (space is not None and row["id"] not in vectors):
            left.append(row)
            continue
        kept.append(row)
        parts = parts.astype(dtype)
        matrix.append(np.concatenate([parts, vectors[row["id"]]]) if space is not None else parts)
    width = len(PARTS) + (len(next(iter(vectors.values()))) if space is not None and vectors else 0)
    return kept, (np.vstack(matrix) if matrix else np.empty((0, width), dtype=dtype)), left
