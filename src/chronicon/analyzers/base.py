"""The one analyzer base class every pass derives from, and the per-asset item it works on."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.config import Section, Setting, core_section
from chronicon.errors import ModelUnavailableError
from chronicon.types import MediaKind, Phase


@dataclass
class AssetItem:
    """One asset while a scan works on it: where it is, what it is, and its catalog row so far."""

    id: str
    path: str  # filesystem path; may hold surrogate escapes for names that are not UTF-8
    kind: MediaKind
    format: str
    size: int
    mtime_ns: int
    row: dict[str, Any] = field(default_factory=dict)
    # The sidecar files (XMP) the scan found next to it, most specific first; None = not looked for.
    sidecars: tuple[str, ...] | None = None
    # Scratch space shared by the passes of one item during one scan (e.g. a decoded image); never stored.
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyzerContext:
    """What an analyzer may use besides its input: its own config section and the catalog's folders."""

    config: Mapping[str, Any]  # the pass's own section (a `Section`; a plain mapping is checked by the pass)
    catalog_dir: Path
    scan: Mapping[str, Any] = field(default_factory=dict)  # the `scan` section
    catalog: Any = None  # the open Catalog during a scan (passes read their own vector tables through it)
    models_dir: Path | None = None  # shared model cache (config `model_cache`); default <catalog>/models
    # The whole resolved config, dotted keys ("caption.model"), for passes that fall back on another section.
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scan", core_section("scan", self.scan))

    @property
    def scan_section(self) -> Section:
        """The `scan` section, typed (e.g. `scan_section.int("max_image_pixels")`)."""
        assert isinstance(self.scan, Section)
        return self.scan

    @property
    def thumbnails_dir(self) -> Path:
        return self.catalog_dir / "thumbnails"

    @property
    def model_cache_dir(self) -> Path:
        """Exported ONNX models, cached text embeddings, download notes: safe to delete, rebuilt on demand."""
        return self.models_dir or self.catalog_dir / "models"


# What `run` returns per item: the columns to set, or the exception that made this item fail.
Outcome = dict[str, Any] | BaseException

# An outcome may carry, under this key, vectors for the catalog's per-model vector tables:
# {space: (dim, [VectorRow, ...])}. The scanner writes them in the same batch commit as the asset rows.
VECTORS_KEY = "__vectors__"


class Analyzer(ABC):
    """A pass over assets. Subclasses set the class attributes and implement `_load` (optional) and `_run`."""

    name: ClassVar[str]
    version: ClassVar[int]
    phase: ClassVar[Phase]
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    depends: ClassVar[tuple[str, ...]] = ()
    # Passes whose output this one reads when they ran (it re-runs after them) but can do without.
    uses: ClassVar[tuple[str, ...]] = ()
    batch_size: ClassVar[int] = 16
    # Catalog columns this pass writes that the core schema does not have; added to the catalog on open.
    columns: ClassVar[dict[str, pa.DataType]] = {}
    # Settings of this pass's own config section (named after the pass); `enabled` is added for every pass.
    settings: ClassVar[dict[str, Setting]] = {}
    # The models this pass runs (names registered in runtime.models). Each one gets its device, backend,
    # precision, batch size and threads from this pass's section (`runtime_choice`); a pass that runs models
    # declares the runtime keys too (`**RUNTIME_SETTINGS`).
    model_names: ClassVar[tuple[str, ...]] = ()
    # Whether this pass reads the file's sidecars (`AssetItem.sidecars`): it alone re-runs when they change.
    reads_sidecars: ClassVar[bool] = False

    def __init__(self, context: AnalyzerContext) -> None:
        self.context = context
        # This pass's section, typed; a plain mapping (tests, tools) gets the declared defaults for what it lacks.
        declared = {"enabled": Setting("bool", True), **self.settings}
        given = context.config
        self.config: Section = (
            given if isinstance(given, Section) else Section.declared(self.name, declared, **dict(given))
        )
        self._load_lock = threading.Lock()
        self._loaded = False
        self._load_error: ModelUnavailableError | None = None
        # What this pass could not use in this process while it still ran (e.g. the detector of `tags`): the
        # scanner prints each once in the scan's notes, and `doctor` shows them. Set by `_load` via `degrade`.
        self.degraded: list[str] = []
        # How many assets this scan may hand the pass (set by the scanner before it loads; None outside a scan),
        # for choices that pay off only over enough work (the CLIP pass's int8 measurement).
        self.expected_items: int | None = None

    def load(self) -> None:
        """Load models or other heavy state once, on first use, safely from several threads.

        A model that cannot load is never a file's fault: whatever `_load` raises becomes a
        ModelUnavailableError (the scanner then skips the pass with one note), and it is raised again at
        once on later calls instead of retrying the load for every file."""
        if self._loaded:
            return
        with self._load_lock:
            if self._load_error is not None:
                raise self._load_error
            if self._loaded:
                return
            try:
                self.runtime_choices()  # recorded first; what `_load` chooses itself (older keys) replaces it
                self._load()
            except ModelUnavailableError as exc:
                self._load_error = exc
                raise
            except Exception as exc:
                self._load_error = ModelUnavailableError(
                    f"its model could not be loaded ({type(exc).__name__}: {exc}); `chronicon doctor` says more"
                )
                raise self._load_error from exc
            self._loaded = True

    def degrade(self, note: str) -> None:
        """Record that part of this pass's models could not load and the pass runs without it."""
        if note not in self.degraded:
            self.degraded.append(note)

    def limitations(self) -> list[str]:
        """What this pass will run without on this machine, known before loading anything (cheap checks).

        Part of `fingerprint()` should reflect these, so results made without a part are redone once it
        works; the scanner prints each in the scan's notes."""
        return []

    def _load(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Subclasses load their model here."""

    def unavailable(self) -> str | None:
        """Why this pass cannot run on this machine (weights or runtime missing), or None when it can.

        Checked once per scan, cheaply: an unavailable pass is left out of that scan (and of the asset
        signatures) with one note, so it runs by itself on the next scan after its model is installed."""
        return None

    def fingerprint(self) -> str:
        """What makes this pass's results what they are: the version, plus e.g. the model it uses.

        A change re-runs the pass on every asset (the scanner compares it with the stored record)."""
        return str(self.version)

    def reuse(self, items: Sequence[AssetItem]) -> dict[str, dict[str, Any]]:
        """Results this pass already has for some unchanged items (by asset id), so they are not recomputed.

        Called in the scan's main thread before anything is decoded; e.g. vectors of a model that was used
        before, switched away from and switched back to."""
        return {}

    def prepare(self, item: AssetItem) -> Any:
        """Decode and pre-process one item in a worker thread, before `run` sees the batch (optional).

        Whatever it returns is kept in `item.cache[self.input_key]` until the batch is committed, so keep it
        small (a model-sized array, not a full-size image)."""
        return None

    def runtime_models(self) -> tuple[str, ...]:
        """The models this pass runs with its current settings (default: the class's `model_names`)."""
        return self.model_names

    def runtime_choice(self, model: str, **overrides: Any) -> Any:
        """How `model` runs for this pass here (a runtime.models.RuntimeChoice), from this pass's section;
        `overrides` replace keys of the section (e.g. a legacy key that still wins)."""
        from chronicon.runtime.models import choose

        section: Mapping[str, Any] = {**dict(self.config.items()), **overrides} if overrides else self.config
        return choose(model, section, pass_name=self.name)

    def runtime_choices(self) -> list[Any]:
        """How each of this pass's models runs here (recorded for `doctor` and `scan --json`); loads nothing."""
        return [self.runtime_choice(model) for model in self.runtime_models()]

    def picture_side(self, item: AssetItem) -> int:
        """The shorter side (px) of the decoded photo or poster this pass reads for `item` (`inputs.picture`);
        0 when it reads no pixels. The scan decodes each picture once, at the largest side its due passes ask
        for, and shares it, so declare what `prepare`/`analyze` will ask `picture` for."""
        return 0

    def items_per_batch(self) -> int:
        """Assets per `run` call: the pass's own `batch_size` setting when it declares one and it is a number
        (one number for the user to tune), else the class's `batch_size` (what 'auto' means for it)."""
        declared = self.settings.get("batch_size")
        if declared is not None and declared.kind == "int":
            return max(1, self.config.int("batch_size"))
        if declared is not None:  # the runtime's 'auto' or a number (as text)
            text = self.config.str("batch_size").strip().lower()
            if text.isdigit() and int(text) > 0:
                return int(text)
        return max(1, self.batch_size)

    @property
    def input_key(self) -> str:
        return f"input:{self.name}"

    def applies_to(self, item: AssetItem) -> bool:
        """Whether this pass runs on this item at all."""
        return item.kind in self.kinds

    def run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        """Analyse a batch; the result has one entry per item, in order."""
        self.load()
        outcomes = self._run(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"analyzer {self.name} returned {len(outcomes)} results for {len(items)} items")
        return outcomes

    @abstractmethod
    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        """Analyse a loaded batch."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Release what `_load` took (called at the end of a scan)."""


class PerItemAnalyzer(Analyzer):
    """An analyzer that looks at one item at a time; the scanner runs these in worker threads."""

    batch_size: ClassVar[int] = 1

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            try:
                outcomes.append(self.analyze(item))
            except Exception as exc:  # per-item boundary: one bad file never fails the batch
                outcomes.append(exc)
        return outcomes

    def run_one(self, item: AssetItem) -> dict[str, Any]:
        """Analyse a single item, raising on failure (the scanner's worker threads call this)."""
        self.load()
        return self.analyze(item)

    @abstractmethod
    def analyze(self, item: AssetItem) -> dict[str, Any]:
        """Columns for one item; raise MediaError (or OSError) with a clear reason on bad input."""
