"""The per-item work of a scan: sniff, hash, the per-item passes, the model passes; shared by every engine."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, PerItemAnalyzer
from chronicon.analyzers.inputs import PICTURE_PLAN_KEY
from chronicon.catalog.store import display_path
from chronicon.errors import MediaError, ModelUnavailableError
from chronicon.media.sniff import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, SNIFF_BYTES, describe_head, sniff_bytes
from chronicon.scan.discover import FoundFile
from chronicon.scan.hashing import content_hash
from chronicon.scan.summary import Failure
from chronicon.types import Change, ErrorKind, MediaKind, PassStatus

log = logging.getLogger(__name__)


class ScanProgress(Protocol):
    """Where the scanner reports progress (the CLI draws a bar; the API default does nothing)."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def detail(self, text: str) -> None: ...


class NoProgress:
    """A ScanProgress that ignores everything."""

    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def detail(self, text: str) -> None:
        pass


@dataclass
class WorkItem:
    """One file the scan has to do something with, and the state of that work."""

    item: AssetItem
    change: Change
    found: FoundFile
    needs_sniff: bool = False
    needs_hash: bool = False
    reset: bool = False  # the file changed: previous analysis is void
    sidecars_changed: bool = False  # a sidecar was added, edited or removed: the passes that read them re-run
    previous: dict[str, Any] | None = None  # the catalog row before a change, kept until the hash decides
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    error_kinds: list[str] = field(default_factory=list)
    drop: bool = False  # turned out not to be media: not catalogued
    aborted: bool = False  # sniffing or hashing failed: no pass runs on it
    timings: dict[str, float] = field(default_factory=dict)
    vectors: dict[str, tuple[int, list[Any]]] = field(default_factory=dict)  # space -> (dim, VectorRows)

    def fail(self, stage: str, reason: str, kind: ErrorKind) -> None:
        self.failures.append(Failure(display_path(self.item.path), reason, stage))
        self.error_kinds.append(kind.value)


def _now() -> datetime:
    return datetime.now(UTC)


def _error_text(exc: BaseException) -> tuple[str, ErrorKind]:
    if isinstance(exc, MediaError):
        return str(exc), ErrorKind.MEDIA
    if isinstance(exc, PermissionError):
        return "permission denied", ErrorKind.IO
    if isinstance(exc, FileNotFoundError):
        return "file vanished during the scan", ErrorKind.IO
    if isinstance(exc, OSError):
        return exc.strerror or str(exc), ErrorKind.IO
    return f"{type(exc).__name__}: {exc}", ErrorKind.PLUGIN


class ItemRunner:
    """Runs the passes on work items: what the scan's worker threads do locally, and what Ray actors do remotely.

    It needs no catalog: the driver loads the rows the passes read (`Scanner._load_rows`, `_reuse`) and commits."""

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        *,
        schema_names: set[str],
        hash_mode: str,
        progress: ScanProgress | None = None,
        retry_errors: bool = False,
    ) -> None:
        self.analyzers = list(analyzers)
        self.schema_names = schema_names
        self.hash_mode = hash_mode
        self.progress: ScanProgress = progress or NoProgress()
        self.retry_errors = retry_errors
        self.late_unavailable: dict[str, str] = {}  # passes whose model failed to load during the scan

    @property
    def per_item(self) -> list[PerItemAnalyzer]:
        """The per-item passes, in order."""
        return [a for a in self.analyzers if isinstance(a, PerItemAnalyzer)]

    @property
    def batched(self) -> list[Analyzer]:
        """The batched (model) passes, in order."""
        return [a for a in self.analyzers if not isinstance(a, PerItemAnalyzer)]

    def _run_models(self, batched: Sequence[Analyzer], items: list[WorkItem]) -> None:
        """The batched passes, in order, over some items whose per-item passes are done."""
        if items:
            for analyzer in batched:
                self._run_batched(analyzer, items)

    def _run_chain(
        self, w: WorkItem, analyzers: Sequence[PerItemAnalyzer], batched: Sequence[Analyzer] = ()
    ) -> WorkItem:
        """Sniff, hash, run the per-item passes and prepare the inputs of the batched ones, in a worker thread."""
        w.item.cache[PICTURE_PLAN_KEY] = lambda: self._picture_side(w, (*analyzers, *batched))
        try:
            if w.needs_sniff and not self._sniff(w):
                w.aborted = True
                return w
            if w.needs_hash:
                try:
                    w.item.row["content_hash"] = content_hash(w.item.path, self.hash_mode)
                except OSError as exc:
                    reason, kind = _error_text(exc)
                    w.fail("hash", reason, kind)
                    w.aborted = True
                    return w
                if w.previous is not None and w.previous.get("content_hash") == w.item.row["content_hash"]:
                    self._keep_previous(w)
            for analyzer in analyzers:
                self._run_one(analyzer, w)
            for model_pass in batched:
                if type(model_pass).prepare is Analyzer.prepare or not self._needed(model_pass, w):
                    continue
                t0 = time.perf_counter()
                try:
                    w.item.cache[model_pass.input_key] = model_pass.prepare(w.item)
                except Exception as exc:  # reported when the batch runs; the other passes go on
                    w.item.cache[model_pass.input_key] = exc
                w.timings[model_pass.name] = time.perf_counter() - t0
            return w
        finally:
            # Keep only the prepared model inputs (small) until the batch is committed.
            for key in [k for k in w.item.cache if not k.startswith("input:")]:
                del w.item.cache[key]

    def _picture_side(self, w: WorkItem, passes: Sequence[Analyzer]) -> int:
        """The shorter side to decode this item's picture at: the largest any of its due passes reads."""
        side = 0
        for analyzer in passes:
            try:
                if self._needed(analyzer, w):
                    side = max(side, int(analyzer.picture_side(w.item)))
            except Exception as exc:  # a pass's broken wish costs it a second decode, nothing more
                log.debug("pass %s: picture_side failed", analyzer.name, exc_info=exc)
        return side

    def _keep_previous(self, w: WorkItem) -> None:
        """A file whose mtime changed but whose bytes did not (touched, copied back): keep its analysis."""
        assert w.previous is not None
        row = dict(w.previous)
        for key in ("path", "path_raw", "root", "size", "mtime_ns", "missing", "missing_since", "content_hash",
                    "sidecars"):  # fmt: skip
            row[key] = w.item.row[key]
        w.item.row = row
        w.phases = _load_phases(row.get("phases"))
        w.item.format = row.get("format") or w.item.format
        w.reset = False
        w.change = Change.UNCHANGED

    def _sniff(self, w: WorkItem) -> bool:
        item = w.item
        ext = os.path.splitext(item.path)[1].lower()
        guess = MediaKind.IMAGE if ext in IMAGE_EXTENSIONS else MediaKind.VIDEO
        try:
            with open(item.path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except OSError as exc:
            if ext not in MEDIA_EXTENSIONS:
                w.drop = True
                return False
            reason, kind = _error_text(exc)
            item.kind = guess
            w.fail("sniff", reason, kind)
            return False
        sniffed = sniff_bytes(head, name=item.path)
        if sniffed is None:
            if ext not in MEDIA_EXTENSIONS:
                w.drop = True
                return False
            item.kind = guess
            if not head:
                w.fail("sniff", "empty file", ErrorKind.MEDIA)
            else:
                w.fail(
                    "sniff",
                    f"not a recognised image or video: content is {describe_head(head)}",
                    ErrorKind.MEDIA,
                )
            return False
        item.kind = sniffed.kind
        item.format = sniffed.format
        item.row["kind"] = sniffed.kind.value
        item.row["format"] = sniffed.format
        return True

    def _needed(self, analyzer: Analyzer, w: WorkItem) -> bool:
        if not analyzer.applies_to(w.item):
            return False
        if w.reset or w.change == Change.NEW or (w.sidecars_changed and analyzer.reads_sidecars):
            return True
        record = w.phases.get(analyzer.name)
        if record is None or str(record.get("fingerprint", record.get("version"))) != analyzer.fingerprint():
            return True
        if record.get("degraded"):  # ran without a part that failed to load: try it whole again
            return True
        if record.get("status") == PassStatus.ERROR:
            return record.get("error_kind") == ErrorKind.IO or self.retry_errors
        # A pass whose input was re-made in this scan runs again too.
        return any(w.phases.get(dep, {}).get("rerun") for dep in (*analyzer.depends, *analyzer.uses))

    def _run_one(self, analyzer: PerItemAnalyzer, w: WorkItem) -> None:
        if not self._needed(analyzer, w):
            return
        failed_deps = [d for d in analyzer.depends if w.phases.get(d, {}).get("status") not in (PassStatus.DONE, None)]
        if failed_deps:
            w.phases[analyzer.name] = _record(analyzer, PassStatus.SKIPPED, f"needs {', '.join(failed_deps)}")
            return
        t0 = time.perf_counter()
        try:
            columns = analyzer.run_one(w.item)
            self._apply(analyzer, w, columns)
        except ModelUnavailableError as exc:
            self._skip_unavailable(analyzer, w, exc)
        except Exception as exc:
            reason, kind = _error_text(exc)
            if kind == ErrorKind.PLUGIN:
                log.debug("pass %s raised on %s", analyzer.name, w.item.path, exc_info=exc)
            w.fail(analyzer.name, reason, kind)
            w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, reason, kind)
        finally:
            w.timings[analyzer.name] = time.perf_counter() - t0

    def _fail_pass(self, analyzer: Analyzer, w: WorkItem, exc: BaseException) -> None:
        """Record what a pass's input preparation or its run raised for one item: a missing model skips it."""
        if isinstance(exc, ModelUnavailableError):
            self._skip_unavailable(analyzer, w, exc)
            return
        reason, kind = _error_text(exc)
        w.fail(analyzer.name, reason, kind)
        w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, reason, kind)

    def _skip_unavailable(self, analyzer: Analyzer, w: WorkItem, exc: ModelUnavailableError) -> None:
        """Not the file's fault: the pass is skipped for it (and retried by a later scan), with no error."""
        self.late_unavailable.setdefault(analyzer.name, str(exc))
        record = _record(analyzer, PassStatus.SKIPPED, str(exc))
        record["fingerprint"] = "unavailable"
        w.phases[analyzer.name] = record

    def _apply(self, analyzer: Analyzer, w: WorkItem, columns: dict[str, Any]) -> None:
        vectors = columns.pop(VECTORS_KEY, None)
        unknown = [k for k in columns if k not in self.schema_names]
        if unknown:
            raise TypeError(f"pass {analyzer.name} returned columns the catalog lacks: {', '.join(unknown)}")
        w.item.row.update(columns)
        if vectors is not None:  # an empty list for a space clears this asset's rows there (e.g. no faces now)
            w.vectors.update(vectors)
        w.phases[analyzer.name] = _record(analyzer, PassStatus.DONE)
        w.phases[analyzer.name]["rerun"] = True
        if vectors is not None:  # which vector tables this pass wrote: `catalog restore` redoes exactly these
            w.phases[analyzer.name]["spaces"] = sorted(vectors)

    def _run_batched(self, analyzer: Analyzer, batch: list[WorkItem]) -> None:
        todo = [w for w in batch if not w.drop and not w.aborted and self._needed(analyzer, w)]
        ready: list[WorkItem] = []
        prepares = type(analyzer).prepare is not Analyzer.prepare
        for w in todo:
            if prepares and analyzer.input_key not in w.item.cache:
                # Became due only now (a dependency re-ran in this batch): prepare here, in this thread.
                try:
                    w.item.cache[analyzer.input_key] = analyzer.prepare(w.item)
                except Exception as exc:
                    w.item.cache[analyzer.input_key] = exc
            failed_deps = [
                d for d in analyzer.depends if w.phases.get(d, {}).get("status") not in (PassStatus.DONE, None)
            ]
            unprepared = w.item.cache.get(analyzer.input_key)
            if failed_deps:
                w.phases[analyzer.name] = _record(analyzer, PassStatus.SKIPPED, f"needs {', '.join(failed_deps)}")
            elif isinstance(unprepared, BaseException):
                self._fail_pass(analyzer, w, unprepared)
            else:
                ready.append(w)
        size = analyzer.items_per_batch()
        for start in range(0, len(ready), size):
            chunk = ready[start : start + size]
            t0 = time.perf_counter()
            try:
                outcomes = analyzer.run([w.item for w in chunk])
            except Exception as exc:  # the whole batch failed: every item gets the reason
                log.debug("pass %s failed on a batch", analyzer.name, exc_info=exc)
                outcomes = [exc] * len(chunk)
            elapsed = time.perf_counter() - t0
            per_item = elapsed / max(1, len(chunk))
            self.progress.detail(f"analysing ({analyzer.name}: {len(chunk) / max(elapsed, 1e-9):,.1f} items/s)")
            for w, outcome in zip(chunk, outcomes, strict=True):
                w.timings[analyzer.name] = w.timings.get(analyzer.name, 0.0) + per_item
                if isinstance(outcome, BaseException):
                    self._fail_pass(analyzer, w, outcome)
                else:
                    try:
                        self._apply(analyzer, w, outcome)
                    except TypeError as exc:
                        w.fail(analyzer.name, str(exc), ErrorKind.PLUGIN)
                        w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, str(exc), ErrorKind.PLUGIN)


def _record(
    analyzer: Analyzer, status: PassStatus, error: str | None = None, kind: ErrorKind | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": analyzer.version,
        "fingerprint": analyzer.fingerprint(),
        "status": status.value,
        "error": error,
        "error_kind": kind.value if kind else None,
        "at": _now().isoformat(timespec="seconds"),
    }
    if analyzer.degraded:
        # Ran without a part that failed to load only now (its fingerprint could not know): redone next scan.
        record["degraded"] = "; ".join(analyzer.degraded)
    return record


def _load_phases(text: Any) -> dict[str, dict[str, Any]]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
