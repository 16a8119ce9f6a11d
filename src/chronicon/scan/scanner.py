"""The scan pipeline: walk, diff against the catalog, detect moves, run the passes in batches, commit, report."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, PerItemAnalyzer
from chronicon.analyzers.graph import pass_signature
from chronicon.analyzers.inputs import PICTURE_PLAN_KEY
from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import Catalog, IndexEntry, display_path, fs_path, raw_path
from chronicon.config import core_section
from chronicon.errors import MediaError, ModelUnavailableError
from chronicon.events import AssetEvent
from chronicon.media.sniff import IMAGE_EXTENSIONS, MEDIA_EXTENSIONS, SNIFF_BYTES, describe_head, sniff_bytes
from chronicon.media.xmp import SIDECAR_EXTENSION
from chronicon.scan.discover import FoundFile, Walker
from chronicon.scan.globs import PathFilter
from chronicon.scan.hashing import content_hash
from chronicon.scan.summary import Failure, PassTiming, ScanSummary
from chronicon.types import AssetStatus, Change, ErrorKind, MediaKind, PassStatus

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


EventSink = Callable[[str, AssetEvent], None]


@dataclass
class ScanOptions:
    """Per-scan switches (the rest comes from the `scan` config section)."""

    full: bool = False  # re-run every pass on every file
    retry_errors: bool = False  # re-run the passes that failed, even on unchanged files


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


class Scanner:
    """Runs one scan of some roots into a catalog with a fixed, ordered set of analyzers."""

    def __init__(
        self,
        catalog: Catalog,
        analyzers: Sequence[Analyzer],
        scan_config: Mapping[str, Any],
        *,
        progress: ScanProgress | None = None,
        emit: EventSink | None = None,
    ) -> None:
        self.catalog = catalog
        self.unavailable: dict[str, str] = {}
        self.late_unavailable: dict[str, str] = {}  # passes whose model failed to load during the scan
        self.analyzers = self._available(analyzers)
        self.cfg = scan_config = core_section("scan", scan_config)
        self.progress = progress or NoProgress()
        self.emit = emit or (lambda hook, event: None)
        workers = scan_config.int("workers")
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.batch_size = scan_config.int("batch_size")
        self.hash_mode = scan_config.str("hash")
        # Read once: columns change only when the catalog opens, and on an object-store catalog each read of
        # the table's schema is a LIST of its versions.
        self.schema = catalog.schema
        self.schema_names = set(self.schema.names)
        self.signatures = {kind: pass_signature(self.analyzers, kind) for kind in MediaKind}
        self.retry_errors = False

    def _available(self, analyzers: Sequence[Analyzer]) -> list[Analyzer]:
        """The passes that can run here; the others (and what depends on them) are left out with a reason."""
        kept: list[Analyzer] = []
        for analyzer in analyzers:
            try:
                reason = analyzer.unavailable()
            except Exception as exc:  # a broken check must not break the scan
                reason = f"{type(exc).__name__}: {exc}"
            if reason is None:
                missing = [d for d in analyzer.depends if d in self.unavailable]
                if missing:
                    reason = f"needs {', '.join(missing)}, which is unavailable"
            if reason is None:
                kept.append(analyzer)
            else:
                self.unavailable[analyzer.name] = reason
        return kept

    # -- the whole scan ----------------------------------------------------------------------------------
    def scan(self, roots: Sequence[str], options: ScanOptions | None = None) -> ScanSummary:
        opts = options or ScanOptions()
        self.retry_errors = opts.retry_errors
        started = time.perf_counter()
        roots = _normalise_roots(roots)
        summary = ScanSummary(roots=[display_path(r) for r in roots], catalog=self.catalog.location.uri)
        for name, reason in self.unavailable.items():
            summary.notes.append(f"pass {name} skipped: {reason}")
        for analyzer in self.analyzers:
            summary.timings[analyzer.name] = PassTiming()
            summary.notes.extend(f"pass {analyzer.name} runs without {note}" for note in _limitations(analyzer))

        self.progress.stage("reading catalog", None)
        index = self.catalog.index()
        by_path = {e.path: e for e in index}

        walker = Walker(
            roots,
            path_filter=PathFilter(self.cfg.list("include"), self.cfg.list("exclude")),
            follow_symlinks=self.cfg.bool("follow_symlinks"),
            skip_dirs=frozenset({os.path.realpath(self.catalog.dir)}),
            skip_extensions=frozenset(e.lower() for e in self.cfg.list("skip_extensions")),
            sidecar_extensions=(SIDECAR_EXTENSION,),
            on_file=lambda n: self.progress.advance(1),
        )
        self.progress.stage("discovering", None)
        work: list[WorkItem] = []
        seen_ids: set[str] = set()
        new_found: list[FoundFile] = []
        for found in walker:
            summary.files_seen += 1
            entry = by_path.get(found.path)
            if entry is None:
                new_found.append(found)
                continue
            seen_ids.add(entry.id)
            planned = self._plan_known(entry, found, opts)
            if planned is None:
                summary.count(Change.UNCHANGED)
            else:
                work.append(planned)
        summary.discover_seconds = time.perf_counter() - started
        summary.notes.extend(walker.notes)
        for problem in walker.problems:
            summary.failures.append(Failure(display_path(problem.path), problem.reason, "discover"))
            summary.count(Change.FAILED)

        # Files that left the scanned roots (not those under a root that could not be read: an unplugged
        # drive must not look like a mass deletion).
        live_roots = [r for r in roots if r not in walker.missing_roots]
        gone = [e for e in index if e.id not in seen_ids and not e.missing and _under_any(e.path, live_roots)]
        already_missing = [e for e in index if e.missing and e.id not in seen_ids]
        moved_work, new_found = self._detect_moves(new_found, gone + already_missing)
        moved_ids = {w.item.id for w in moved_work}
        gone = [e for e in gone if e.id not in moved_ids]
        work.extend(moved_work)
        work.extend(self._plan_new(f) for f in new_found)

        self._process(work, summary)
        for name, reason in self.late_unavailable.items():
            summary.notes.append(f"pass {name} skipped: {reason}")
        for analyzer in self.analyzers:
            summary.notes.extend(f"pass {analyzer.name} ran without {note}" for note in analyzer.degraded)
        self._remove(gone, [e for e in already_missing if e.id not in moved_ids], summary)

        summary.seconds = time.perf_counter() - started
        return summary

    # -- planning ----------------------------------------------------------------------------------------
    def _plan_known(self, entry: IndexEntry, found: FoundFile, opts: ScanOptions) -> WorkItem | None:
        kind = _kind(entry.kind)
        item = AssetItem(entry.id, found.path, kind, "", found.size, found.mtime_ns)
        if entry.size != found.size or entry.mtime_ns != found.mtime_ns:
            return WorkItem(item, Change.CHANGED, found, needs_sniff=True, needs_hash=True, reset=True)
        if opts.full:
            return WorkItem(item, Change.UNCHANGED, found, needs_sniff=True, needs_hash=True, reset=True)
        stale = (
            entry.missing
            or entry.pass_signature != self.signatures[kind]
            or entry.status == AssetStatus.PENDING
            or (entry.status == AssetStatus.ERROR and (opts.retry_errors or entry.error_kind == ErrorKind.IO))
        )
        if not stale:
            if entry.sidecars == found.sidecar_signature():
                return None
            # Only a sidecar changed: the passes that read sidecars re-run (`_load_rows` sees the difference).
            return WorkItem(item, Change.UNCHANGED, found)
        # A file that failed before may never have been sniffed or hashed: do both again (cheap).
        retry = entry.status == AssetStatus.ERROR
        return WorkItem(item, Change.UNCHANGED, found, needs_sniff=retry, needs_hash=retry or not entry.content_hash)

    def _plan_new(self, found: FoundFile) -> WorkItem:
        item = AssetItem(uuid.uuid4().hex, found.path, MediaKind.IMAGE, "", found.size, found.mtime_ns)
        return WorkItem(item, Change.NEW, found, needs_sniff=True, needs_hash=True, reset=True)

    def _detect_moves(
        self, new_found: list[FoundFile], vanished: list[IndexEntry]
    ) -> tuple[list[WorkItem], list[FoundFile]]:
        """A new path whose content hash equals that of a vanished asset is that asset, moved."""
        by_size: dict[int, list[IndexEntry]] = {}
        for entry in vanished:
            if entry.content_hash:
                by_size.setdefault(entry.size, []).append(entry)
        candidates = [f for f in new_found if f.size in by_size]
        if not candidates:
            return [], new_found
        self.progress.stage("matching moved files", len(candidates))

        def hash_or_none(found: FoundFile) -> str | None:
            try:
                return content_hash(found.path, self.hash_mode)
            except OSError:
                return None  # reported when the file is processed as new
            finally:
                self.progress.advance(1)

        with ThreadPoolExecutor(self.workers) as pool:
            hashes = list(pool.map(hash_or_none, candidates))
        moved: list[WorkItem] = []
        claimed: set[str] = set()
        moved_paths: set[str] = set()
        for found, digest in zip(candidates, hashes, strict=True):
            if digest is None:
                continue
            match = next((e for e in by_size[found.size] if e.content_hash == digest and e.id not in claimed), None)
            if match is None:
                continue
            claimed.add(match.id)
            moved_paths.add(found.path)
            kind = _kind(match.kind)
            item = AssetItem(match.id, found.path, kind, "", found.size, found.mtime_ns)
            work = WorkItem(item, Change.MOVED, found)
            work.item.row["content_hash"] = digest
            moved.append(work)
        return moved, [f for f in new_found if f.path not in moved_paths]

    # -- processing --------------------------------------------------------------------------------------
    def _process(self, work: list[WorkItem], summary: ScanSummary) -> None:
        if not work:
            return
        self.progress.stage("analysing", len(work))
        per_item = [a for a in self.analyzers if isinstance(a, PerItemAnalyzer)]
        batched = [a for a in self.analyzers if not isinstance(a, PerItemAnalyzer)]
        batches = [work[start : start + self.batch_size] for start in range(0, len(work), self.batch_size)]
        for analyzer in self.analyzers:  # (an upper bound: some of them may turn out unchanged for the pass)
            analyzer.expected_items = sum(1 for w in work if w.item.kind in analyzer.kinds)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="chronicon-scan") as pool:

            def submit(batch: list[WorkItem]) -> list[Future[WorkItem]]:
                self._load_rows(batch)
                for analyzer in batched:
                    self._reuse(analyzer, batch)
                return [pool.submit(self._run_chain, w, per_item, batched) for w in batch]

            # A pipeline two batches deep, and overlapping within a batch: this thread runs the batched (model)
            # passes on each chunk of finished items while the workers decode and run the per-item passes of
            # the rest (and, once batch N is all handed out, of batch N+1); a batch is committed once. Memory
            # stays bounded by two batches of model-sized inputs.
            chunk = self._model_chunk(batched)
            pending = submit(batches[0])
            for index, batch in enumerate(batches):
                ready: list[WorkItem] = []
                upcoming: list[Future[WorkItem]] = []
                for n, future in enumerate(pending):
                    ready.append(future.result())
                    self.progress.advance(1)
                    if n == len(pending) - 1 and index + 1 < len(batches):
                        upcoming = submit(batches[index + 1])
                    if chunk and len(ready) >= chunk:
                        self._run_models(batched, ready)
                        ready = []
                self._run_models(batched, ready)
                pending = upcoming
                self._commit(batch, summary)

    def _model_chunk(self, batched: Sequence[Analyzer]) -> int:
        """Finished items per run of the model passes (0: the whole batch): `scan.model_chunk`, or the largest
        batch a model pass asks for when that is larger."""
        chunk = self.cfg.int("model_chunk")
        if not chunk:
            return 0
        sizes = [a.items_per_batch() for a in batched if a.runtime_models()]
        return min(self.batch_size, max([chunk, *sizes]))

    def _run_models(self, batched: Sequence[Analyzer], items: list[WorkItem]) -> None:
        """The batched passes, in order, over some items whose per-item passes are done."""
        if items:
            for analyzer in batched:
                self._run_batched(analyzer, items)

    def _reuse(self, analyzer: Analyzer, batch: list[WorkItem]) -> None:
        """Let a pass fill in what it already has for unchanged files (before any decoding is spent on them)."""
        candidates = [w for w in batch if not w.reset and w.change != Change.NEW and self._needed(analyzer, w)]
        if not candidates:
            return
        try:
            found = analyzer.reuse([w.item for w in candidates])
        except Exception as exc:  # reuse is an optimisation: on any problem, compute
            log.debug("pass %s could not reuse results", analyzer.name, exc_info=exc)
            return
        for w in candidates:
            columns = found.get(w.item.id)
            if columns is not None:
                self._apply(analyzer, w, dict(columns))
                w.phases[analyzer.name].pop("rerun", None)  # nothing new for the passes that depend on it

    def _load_rows(self, batch: list[WorkItem]) -> None:
        known = [w for w in batch if w.change != Change.NEW]
        rows = self.catalog.rows_by_id(w.item.id for w in known) if known else {}
        now = _now()
        for w in batch:
            row = rows.get(w.item.id)
            signature = w.found.sidecar_signature()
            w.item.sidecars = tuple(path for path, _, _ in w.found.sidecars)
            w.sidecars_changed = row is not None and row.get("sidecars") != signature
            fresh = empty_row(self.schema)
            if row is None:
                fresh["first_seen"] = now
                row = fresh
            elif w.reset:
                if w.change == Change.CHANGED:
                    w.previous = row
                fresh["id"] = row["id"]
                fresh["first_seen"] = row.get("first_seen") or now
                row = fresh
            extra = w.item.row
            w.item.row = row
            w.item.row.update(extra)
            w.phases = {} if w.reset else _load_phases(row.get("phases"))
            if not w.reset:
                w.item.format = row.get("format") or ""
            w.item.row.update(
                id=w.item.id,
                path=display_path(w.item.path),
                path_raw=raw_path(w.item.path),
                root=display_path(w.found.root),
                size=w.found.size,
                mtime_ns=w.found.mtime_ns,
                missing=False,
                missing_since=None,
            )
            if "sidecars" in self.schema_names:
                w.item.row["sidecars"] = signature

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
            elif isinstance(unprepared, ModelUnavailableError):
                self._skip_unavailable(analyzer, w, unprepared)
            elif isinstance(unprepared, BaseException):
                reason, kind = _error_text(unprepared)
                w.fail(analyzer.name, reason, kind)
                w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, reason, kind)
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
                if isinstance(outcome, ModelUnavailableError):
                    self._skip_unavailable(analyzer, w, outcome)
                elif isinstance(outcome, BaseException):
                    reason, kind = _error_text(outcome)
                    w.fail(analyzer.name, reason, kind)
                    w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, reason, kind)
                else:
                    try:
                        self._apply(analyzer, w, outcome)
                    except TypeError as exc:
                        w.fail(analyzer.name, str(exc), ErrorKind.PLUGIN)
                        w.phases[analyzer.name] = _record(analyzer, PassStatus.ERROR, str(exc), ErrorKind.PLUGIN)

    def _commit(self, batch: list[WorkItem], summary: ScanSummary) -> None:
        rows: list[dict[str, Any]] = []
        kept: list[WorkItem] = []
        now = _now()
        for w in batch:
            if w.drop:
                continue
            kept.append(w)
            row = w.item.row
            for name, record in w.phases.items():
                if record.pop("rerun", None) and name in w.timings:
                    record["seconds"] = round(w.timings[name], 4)  # this pass's time on this asset
            errors = [f"{f.stage}: {f.reason}" for f in w.failures]
            # Failures of earlier scans that were not retried stay on the row.
            for name, record in w.phases.items():
                if record.get("status") == PassStatus.ERROR and not any(f.stage == name for f in w.failures):
                    errors.append(f"{name}: {record.get('error')}")
                    w.error_kinds.append(str(record.get("error_kind") or ErrorKind.MEDIA))
            row["kind"] = w.item.kind.value
            row["status"] = AssetStatus.ERROR.value if errors else AssetStatus.OK.value
            row["error"] = "\n".join(errors) if errors else None
            # "io" wins: it is the kind that makes the next scan retry the file.
            kinds = w.error_kinds
            row["error_kind"] = (ErrorKind.IO.value if ErrorKind.IO.value in kinds else kinds[0]) if kinds else None
            row["phases"] = json.dumps(w.phases, sort_keys=True)
            row["pass_signature"] = self.signatures[w.item.kind]
            if any(r.get("fingerprint") == "unavailable" or r.get("degraded") for r in w.phases.values()):
                row["pass_signature"] += "~incomplete"  # differs from every real signature: next scan retries
            row["updated_at"] = now
            rows.append(row)
        # Vectors first: a crash between the two commits leaves vectors whose pass is not recorded as done,
        # and the next scan simply writes them again. A changed file's old vectors never outlive it.
        changed = [w.item.id for w in kept if w.change == Change.CHANGED and w.reset]
        if changed:
            self.catalog.delete_vectors(changed)
        per_space: dict[str, tuple[int, list[Any]]] = {}
        cleared: dict[str, list[str]] = {}  # space -> assets whose pass now found nothing to embed there
        for w in kept:
            for space, (dim, vector_rows) in w.vectors.items():
                per_space.setdefault(space, (dim, []))[1].extend(vector_rows)
                if not vector_rows:
                    cleared.setdefault(space, []).append(w.item.id)
        for space, (dim, vector_rows) in per_space.items():
            if vector_rows:
                self.catalog.vector_table(space, dim).replace(vector_rows, also_clear=cleared.get(space, ()))
            elif (table := self.catalog.open_vector_table(space)) is not None:
                table.delete_assets(cleared.get(space, ()))
        self.catalog.upsert(rows)  # one atomic commit per batch
        summary.batches += 1
        for w in batch:
            for name, seconds in w.timings.items():
                timing = summary.timings.setdefault(name, PassTiming())
                timing.items += 1
                timing.seconds += seconds
                timing.errors += any(f.stage == name for f in w.failures)
        for w in kept:
            if w.failures:
                summary.count(Change.FAILED)
                summary.failures.extend(w.failures)
            else:
                summary.count(w.change)
                if w.change == Change.UNCHANGED and w.timings:
                    summary.updated += 1
            event = AssetEvent(w.item.id, display_path(w.item.path), w.item.kind.value, w.change, dict(w.item.row),
                               self.catalog.dir)  # fmt: skip
            self.emit("chronicon_asset_indexed", event)
        for w in batch:
            w.item.cache.clear()
            w.vectors.clear()

    # -- removal -----------------------------------------------------------------------------------------
    def _remove(self, gone: list[IndexEntry], missing: list[IndexEntry], summary: ScanSummary) -> None:
        grace = self.cfg.float("missing_grace_days")
        now = _now()
        purge: list[IndexEntry] = []
        if grace <= 0:
            purge.extend(gone)
        elif gone:
            self.catalog.mark_missing([e.id for e in gone], now)
        cutoff = now - timedelta(days=grace)
        purge.extend(e for e in missing if e.missing_since is None or e.missing_since <= cutoff)
        if purge:
            rows = self.catalog.rows_by_id(e.id for e in purge)
            self.catalog.delete([e.id for e in purge])
            self.catalog.remove_files([row["thumbnail"] for row in rows.values() if row.get("thumbnail")])
        summary.count(Change.DELETED, len(gone))
        for entry in gone:
            self.emit(
                "chronicon_asset_removed",
                AssetEvent(entry.id, display_path(entry.path), entry.kind or "", Change.DELETED, {}, self.catalog.dir),
            )


def _kind(value: str | None) -> MediaKind:
    return MediaKind.VIDEO if value == MediaKind.VIDEO.value else MediaKind.IMAGE


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


def _limitations(analyzer: Analyzer) -> list[str]:
    try:
        return analyzer.limitations()
    except Exception as exc:  # a broken check must not break the scan
        return [f"a part it could not check ({type(exc).__name__}: {exc})"]


def _load_phases(text: Any) -> dict[str, dict[str, Any]]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _normalise_roots(roots: Sequence[str]) -> list[str]:
    out: list[str] = []
    for root in roots:
        path = os.path.abspath(os.path.expanduser(root))
        if path not in out:
            out.append(path)
    return out


def _under_any(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


__all__ = ["NoProgress", "ScanOptions", "ScanProgress", "Scanner", "fs_path"]
