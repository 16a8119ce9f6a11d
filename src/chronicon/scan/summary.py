"""What a scan did: counts per change, per-file failures with reasons, per-pass timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chronicon.types import Change


@dataclass
class Failure:
    """One file that failed, the pass that failed on it, and why."""

    path: str
    reason: str
    stage: str  # "discover", "hash", or the pass name

    def __str__(self) -> str:
        return f"{self.path}: {self.stage}: {self.reason}"


@dataclass
class PassTiming:
    """Items and wall-clock seconds spent in one pass (summed over worker threads for per-item passes)."""

    items: int = 0
    seconds: float = 0.0
    errors: int = 0

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ScanSummary:
    """The result of one scan; `failed` counts files with any failure in this scan."""

    roots: list[str]
    catalog: str
    counts: dict[str, int] = field(default_factory=lambda: {c.value: 0 for c in Change})
    updated: int = 0  # unchanged files whose passes were (re)run: new pass versions, or an interrupted scan
    failures: list[Failure] = field(default_factory=list)
    plugin_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, PassTiming] = field(default_factory=dict)
    seconds: float = 0.0
    discover_seconds: float = 0.0
    files_seen: int = 0
    batches: int = 0  # catalog commits made
    interrupted: bool = False
    engine: str = "local"  # what ran the per-item work: "local" (this process's threads) or "ray"
    # What each model of the passes that ran used (device, backend, precision, batch size, threads) and why.
    models: list[dict[str, Any]] = field(default_factory=list)

    def count(self, change: Change, n: int = 1) -> None:
        self.counts[change.value] += n

    @property
    def failed(self) -> int:
        return self.counts[Change.FAILED.value]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.plugin_problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "roots": self.roots,
            "catalog": self.catalog,
            "counts": dict(self.counts),
            "updated": self.updated,
            "files_seen": self.files_seen,
            "batches": self.batches,
            "failures": [asdict(f) for f in self.failures],
            "plugin_problems": list(self.plugin_problems),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
            "discover_seconds": round(self.discover_seconds, 3),
            "passes": {
                name: {
                    "items": t.items,
                    "seconds": round(t.seconds, 3),
                    "errors": t.errors,
                    "items_per_second": round(t.per_second, 1),
                }
                for name, t in self.timings.items()
            },
            "models": list(self.models),
            "interrupted": self.interrupted,
            "engine": self.engine,
            "exit_code": self.exit_code,
        }
