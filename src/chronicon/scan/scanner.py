"""The scan pipeline: walk, diff against the catalog, detect moves, run the passes in batches, commit, report."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from chronicon.analyzers.base import Analyzer, AssetItem
from chronicon.analyzers.graph import pass_signature
from chronicon.catalog.schema import empty_row
from chronicon.catalog.store import Catalog, IndexEntry, display_path, fs_path, raw_path
from chronicon.config import core_section
from chronicon.events import AssetEvent
from chronicon.media.xmp import SIDECAR_EXTENSION
from chronicon.scan.discover import FoundFile, Walker
from chronicon.scan.gcpause import gc_paused
from chronicon.scan.globs import PathFilter
from chronicon.scan.hashing import content_hash
from chronicon.scan.items import ItemRunner, NoProgress, ScanProgress, WorkItem, _load_phases, _now
from chronicon.scan.summary import Failure, PassTiming, ScanSummary
from chronicon.types import AssetStatus, Change, ErrorKind, MediaKind, PassStatus

log = logging.getLogger(__name__)

EventSink = Callable[[str, AssetEvent], None]


@dataclass
class ScanOptions:
    """Per-scan switches (the rest comes from the `scan` config section)."""

    full: bool = False  # re-run every pass on every file
    retry_errors: bool = False  # re-run the passes that failed, even on unchanged files


class ScanEngine(Protocol):
    """Runs the per-item work of a scan's planned items and commits them in batches (`Scanner._commit`)."""

    name: str

    def process(self, scanner: Scanner, work: list[WorkItem], summary: ScanSummary) -> None: ...


class Scanner(ItemRunner):
    """Runs one scan of some roots into a catalog with a fixed, ordered set of analyzers."""

    def __init__(
        self,
        catalog: Catalog,
        analyzers: Sequence[Analyzer],
        scan_config: Mapping[str, Any],
        *,
        progress: ScanProgress | None = None,
        emit: EventSink | None = None,
        engine: ScanEngine | None = None,
    ) -> None:
        self.catalog = catalog
        self.unavailable: dict[str, str] = {}
        cfg = core_section("scan", scan_config)
        # Read once: columns change only when the catalog opens, and on an object-store catalog each read of
        # the table's schema is a LIST of its versions.
        self.schema = catalog.schema
        super().__init__(
            self._available(analyzers),
            schema_names=set(self.schema.names),
            hash_mode=cfg.str("hash"),
            progress=progress,
        )
        self.cfg = cfg
        self.emit = emit or (lambda hook, event: None)
        workers = cfg.int("workers")
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.batch_size = cfg.int("batch_size")
        self.signatures = {kind: pass_signature(self.analyzers, kind) for kind in MediaKind}
        self.engine: ScanEngine | None = engine  # None: this process's worker threads (`_process`)

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
        summary.engine = self.engine.name if self.engine is not None else "local"
        for name, reason in self.unavailable.items():
            summary.notes.append(f"pass {name} skipped: {reason}")
        for analyzer in self.analyzers:
            summary.timings[analyzer.name] = PassTiming()
            summary.notes.extend(f"pass {analyzer.name} runs without {note}" for note in _limitations(analyzer))

        with gc_paused():  # (planning builds an entry per asset and a record per file: millions of objects)
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
        changed = entry.size != found.size or entry.mtime_ns != found.mtime_ns
        stale = (
            entry.missing
            or entry.pass_signature != self.signatures[kind]
            or entry.status == AssetStatus.PENDING
            or (entry.status == AssetStatus.ERROR and (opts.retry_errors or entry.error_kind == ErrorKind.IO))
        )
        same_sidecars = entry.sidecars == found.sidecar_signature()
        if not (changed or opts.full or stale) and same_sidecars:
            return None  # (most files of a nightly rescan: nothing is built for them)
        item = AssetItem(entry.id, found.path, kind, "", found.size, found.mtime_ns)
        if changed:
            return WorkItem(item, Change.CHANGED, found, needs_sniff=True, needs_hash=True, reset=True)
        if opts.full:
            return WorkItem(item, Change.UNCHANGED, found, needs_sniff=True, needs_hash=True, reset=True)
        if not stale:
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
        for analyzer in self.analyzers:  # (an upper bound: some of them may turn out unchanged for the pass)
            analyzer.expected_items = sum(1 for w in work if w.item.kind in analyzer.kinds)
        if self.engine is not None:
            self.engine.process(self, work, summary)
            return
        per_item, batched = self.per_item, self.batched
        batches = [work[start : start + self.batch_size] for start in range(0, len(work), self.batch_size)]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="chronicon-scan") as pool:

            def submit(batch: list[WorkItem]) -> list[Future[WorkItem]]:
                self._load_batch(batch)
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

    def _load_batch(self, batch: list[WorkItem]) -> None:
        """On the driver, before any decoding: the items' catalog rows, and what the model passes already have."""
        self._load_rows(batch)
        for analyzer in self.batched:
            self._reuse(analyzer, batch)

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


def _limitations(analyzer: Analyzer) -> list[str]:
    try:
        return analyzer.limitations()
    except Exception as exc:  # a broken check must not break the scan
        return [f"a part it could not check ({type(exc).__name__}: {exc})"]


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
