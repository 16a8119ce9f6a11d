"""The Python API: `Library` ties config, plugins, catalog and scanner together; the CLI is a thin layer on it."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import logging
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from chronicon import __version__
from chronicon.analyzers.base import Analyzer, AnalyzerContext
from chronicon.analyzers.graph import order_analyzers
from chronicon.analyzers.stacks import StackKind
from chronicon.catalog.location import CatalogLocation, local_location, parse_location
from chronicon.catalog.lock import ScanLock
from chronicon.catalog.store import Catalog, display_path
from chronicon.config import CORE_SETTINGS, Config, read_layers, resolve
from chronicon.errors import ChroniconError, ConfigError, PluginError
from chronicon.events import AssetEvent
from chronicon.plugins import PluginHost
from chronicon.scan.scanner import ScanEngine, Scanner, ScanOptions, ScanProgress
from chronicon.scan.summary import ScanSummary
from chronicon.search.engine import DATE_SORT, RELEVANCE, NoVectorsError, SearchEngine, SearchHit, SearchResults
from chronicon.search.extensions import SearchFilter, SortKey
from chronicon.search.filters import FilterError, Filters
from chronicon.search.stacks import describe, members, membership

log = logging.getLogger(__name__)

# Optional parts `doctor` reports on: import name -> what it enables.
OPTIONAL_PARTS: dict[str, str] = {
    "torch": "ML passes (CPU/CUDA/MPS)",
    "open_clip": "CLIP image and text embeddings",
    "ultralytics": "YOLO object detection",
    "transformers": "VLM captioning",
    "faster_whisper": "speech transcription",
    "onnxruntime": "ONNX runtime backend",
    "cv2": "OpenCV dnn (offline COCO detector)",
    "sentence_transformers": "text embeddings (MiniLM)",
    "fastapi": "web app / REST API",
}


class Library:
    """A media library: its effective config, its plugins and its catalog.

    >>> lib = Library(catalog="/tmp/cat")          # doctest: +SKIP
    >>> summary = lib.scan(["~/Pictures"])        # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: str | os.PathLike[str] | None = None,
        *,
        config_file: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        plugin_host: PluginHost | None = None,
        entry_points: bool = True,
    ) -> None:
        cli = dict(overrides or {})
        if catalog is not None:
            cli["catalog"] = os.fspath(catalog)
        layers = read_layers(config_file, cli, environ)
        if plugin_host is None:
            plugin_host = PluginHost()
            paths = CORE_SETTINGS["plugins.paths"].check("plugins.paths", layers.raw("plugins.paths") or [])
            disabled = CORE_SETTINGS["plugins.disabled"].check("plugins.disabled", layers.raw("plugins.disabled") or [])
            plugin_host.load(paths=paths, disabled=disabled, entry_points=entry_points)
        self.plugins = plugin_host
        classes = plugin_host.analyzer_classes()
        self.config: Config = resolve(layers, plugin_host.settings(classes))
        self.analyzer_classes: list[type[Analyzer]] = [c for c in classes if self.config[f"{c.name}.enabled"]]
        self._catalog: Catalog | None = None
        self._search: SearchEngine | None = None
        self._environ = os.environ if environ is None else environ
        self._location: CatalogLocation | None = None

    # -- catalog -----------------------------------------------------------------------------------------
    @property
    def catalog_location(self) -> CatalogLocation:
        """Where the catalog lives: its folder, or an `s3://` URI with the options and staging folder to use."""
        if self._location is None:
            value = self.config.values.get("catalog")
            if not value:
                self._location = local_location(self.config.catalog_dir)
            else:  # a folder, or s3://...; another scheme is a ConfigError naming it
                self._location = parse_location(
                    str(value),
                    storage_options=self.config["catalog_storage_options"],
                    staging=self.config["catalog_staging"],
                    environ=self._environ,
                    lease_seconds=float(self.config["catalog_lease_seconds"]),
                )
        return self._location

    @property
    def catalog_dir(self) -> Path:
        """The catalog's local folder: the catalog itself, or an object-store catalog's staging folder (where
        passes write thumbnails before upload and plugins keep their local files)."""
        return self.catalog_location.local

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened (created, migrated) on first use."""
        if self._catalog is None:
            columns: dict[str, pa.DataType] = {}
            for cls in self.analyzer_classes:
                columns.update(cls.columns)
            self._catalog = Catalog(self.catalog_location, extra_columns=columns)
        return self._catalog

    def analyzers(self) -> list[Analyzer]:
        """Fresh analyzer objects for the enabled passes, in the order a scan runs them."""
        scan_cfg = self.config.section("scan")
        classes = list(self.analyzer_classes)
        # A pass whose dependency is disabled or missing is left out (and reported), never the whole scan.
        while True:
            names = {cls.name for cls in classes}
            orphans = [cls for cls in classes if any(dep not in names for dep in cls.depends)]
            if not orphans:
                break
            for cls in orphans:
                missing = ", ".join(d for d in cls.depends if d not in names)
                err = PluginError(f"pass {cls.name!r} needs {missing}, which is not enabled; it is left out")
                self.plugins.report(cls.name, "dependencies", err)
                classes.remove(cls)
        catalog = self.catalog
        models = self.config["model_cache"]
        models_dir = Path(models).expanduser().absolute() if models else None
        objects = [
            cls(
                AnalyzerContext(
                    self.config.section(cls.name), self.catalog_dir, scan_cfg, catalog, models_dir, self.config.values
                )
            )
            for cls in classes
        ]
        return order_analyzers(objects)

    # -- scanning ----------------------------------------------------------------------------------------
    def scan(
        self,
        roots: Sequence[str | os.PathLike[str]] | None = None,
        *,
        full: bool = False,
        retry_errors: bool = False,
        progress: ScanProgress | None = None,
    ) -> ScanSummary:
        """Scan the roots (default: the configured `roots`) into the catalog; holds the catalog's scan lock."""
        chosen = [os.fspath(r) for r in roots] if roots else list(self.config["roots"])
        if not chosen:
            raise ConfigError("nothing to scan: give ROOT folders, or set `roots` in the config file")
        catalog = self.catalog  # opened (and migrated, under its own lock) before the scan takes the lock
        lock = ScanLock(self.catalog_location)
        lock.acquire(wait=2.0)  # a reader's brief check or a plugin command's short write may hold it a moment
        catalog.commit_guard = lock.check  # a lease that was taken over stops the commits
        with lock, _clear_guard(catalog):
            problems_before = len(self.plugins.problems)
            analyzers = self.analyzers()

            def emit(hook: str, event: AssetEvent) -> None:
                self.plugins.call(hook, event=event)

            scan_cfg = self.config.section("scan")
            engine = _scan_engine(scan_cfg)
            scanner = Scanner(catalog, analyzers, scan_cfg, progress=progress, emit=emit, engine=engine)
            try:
                summary = scanner.scan(chosen, ScanOptions(full=full, retry_errors=retry_errors))
                summary.models = _model_report({a.name: "" for a in scanner.analyzers if a._loaded})
            finally:
                for analyzer in analyzers:
                    try:
                        analyzer.close()
                    except Exception as exc:
                        log.warning("pass %s failed to close: %s", analyzer.name, exc)
            compacted = summary.batches >= int(self.config["scan.compact_after_batches"])
            if compacted:
                if progress is not None:
                    progress.stage("compacting catalog", None)
                catalog.compact(keep_versions_for=timedelta(hours=1))
            if summary.batches or summary.counts.get("deleted"):
                if progress is not None:
                    progress.stage("updating search indexes", None)
                try:
                    indexes = catalog.ensure_search_indexes(
                        full_text=self.full_text_columns(),
                        ann_threshold=int(self.config["search.ann_threshold"]),
                        fold_new_rows=not compacted,
                    )
                except Exception as exc:  # the data is committed; a missing index only slows searches
                    log.warning("search indexes were not updated: %s", exc)
                    summary.notes.append(f"search indexes were not updated: {exc}")
                else:
                    summary.notes.extend(f"built the search index on {name}" for name, state in indexes.items()
                                         if state == "built")  # fmt: skip
                if not summary.interrupted:
                    self._sweep_thumbnails(catalog, summary)
            self._search = None  # the next search sees the new vectors
            self.plugins.call("chronicon_scan_finished", summary=summary, library=self)
            summary.plugin_problems.extend(str(p) for p in self.plugins.problems[problems_before:])
        return summary

    @staticmethod
    def _sweep_thumbnails(catalog: Catalog, summary: ScanSummary) -> None:
        """Remove thumbnails no row references (a killed scan's, a re-cut video's); after a scan that wrote."""
        from chronicon.scan.sweep import sweep_thumbnails

        try:
            swept = sweep_thumbnails(catalog)
        except Exception as exc:  # the scan's data is committed; stray thumbnails only cost disk space
            log.warning("unreferenced thumbnails were not removed: %s", exc)
            return
        if swept.removed:
            summary.notes.append(f"removed {swept.removed} unreferenced thumbnails ({swept.bytes / 1e6:.1f} MB)")

    def is_scanning(self) -> bool:
        """Whether another process holds the catalog's scan lock right now."""
        return ScanLock(self.catalog_location).is_held()

    def _pass_report(self, load: bool = True) -> dict[str, str]:
        """Each enabled pass: ready (its models loaded once when `load`), degraded, or why it is skipped."""
        report: dict[str, str] = {}
        for analyzer in self.analyzers():
            try:
                problem = analyzer.unavailable()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                report[analyzer.name] = f"skipped: {problem}"
                continue
            missing = [*analyzer.limitations()]
            with contextlib.suppress(Exception):  # recorded for the report's "models"; a bad key shows on load
                analyzer.runtime_choices()
            loaded = ""
            if load:
                started = time.perf_counter()
                try:
                    analyzer.load()
                except Exception as exc:  # ModelUnavailableError, from Analyzer.load
                    report[analyzer.name] = f"cannot load: {exc}"
                    continue
                finally:
                    with contextlib.suppress(Exception):
                        analyzer.close()
                loaded = f", loaded in {time.perf_counter() - started:.1f}s"
                missing += analyzer.degraded
            state = "ready" if not missing else "degraded, runs without " + "; ".join(missing)
            report[analyzer.name] = f"{state} ({analyzer.fingerprint()}{loaded})"
        return report

    # -- reading -----------------------------------------------------------------------------------------
    def info(self, path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The catalog row of one file (by its path), or None when it is not in the catalog."""
        target = os.path.abspath(os.fspath(path))
        return self.catalog.row_by_path(target)

    def stack_of(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The stack a catalog row is in (RAW + JPEG pair, burst, Live Photo): kind, label, cover id and every
        present member as {id, path, kind, cover}; None when it is in none (or its stack has only it left)."""
        kinds = self.stack_kinds
        place = membership(row, kinds)
        if place is None:
            return None
        ids = members(self.catalog, place.kind, [place.cover]).get(place.cover, [])
        if len(ids) < 2:
            return None
        rows = self.catalog.rows_by_id(ids, columns=["id", "path", "path_raw", "kind"])
        listed = [
            {"id": i, "path": display_path(rows[i]["path"]), "kind": rows[i].get("kind"), "cover": i == place.cover}
            for i in ids
            if i in rows
        ]
        listed.sort(key=lambda m: (not m["cover"], m["path"]))
        return {**describe(place.kind, place.cover, ids), "members": listed}

    def stats(self) -> dict[str, Any]:
        stats = self.catalog.stats()
        stats["vectors"] = {}
        for space in self.catalog.vector_spaces():
            table = self.catalog.open_vector_table(space)
            if table is not None:
                stats["vectors"][space] = table.stats()
        return stats

    # -- searching ---------------------------------------------------------------------------------------
    @property
    def search_engine(self) -> SearchEngine:
        """The SearchEngine of this library (built once; models load on the first query): its spaces and text
        lists are the plugins' contributions (`chronicon_register_spaces`)."""
        if self._search is None:
            spaces, text_lists = self.plugins.search_spaces()
            self._search = SearchEngine(
                self.catalog,
                self.analyzers(),
                self.config.section("search"),
                spaces=spaces,
                text_lists=text_lists,
                stacks=self._enabled_stacks(),
            )
        return self._search

    def full_text_columns(self) -> list[str]:
        """The assets columns of the full-text lists passes contribute (`labels_text`, `transcript_text`, ...)."""
        return [t.column for t in self.plugins.search_spaces()[1] if t.column is not None]

    @property
    def stack_kinds(self) -> list[StackKind]:
        """The kinds of stack the enabled passes form (RAW + JPEG pairs, bursts, Live Photos), whose column the
        catalog has: `chronicon.analyzers.stacks`."""
        have = set(self.catalog.schema.names)
        return [k for k in self._enabled_stacks() if k.column in have]

    def _enabled_stacks(self) -> list[StackKind]:
        enabled = {a.name for a in self.analyzers()}
        return [k for k in self.plugins.stack_kinds() if k.owner is None or k.owner in enabled]

    @property
    def space_kinds(self) -> list[str]:
        """The search spaces `space=` accepts besides "auto", best first (`clip`, `conse`, `caption`, plugins')."""
        return self.plugins.space_kinds()

    @property
    def search_filters(self) -> dict[str, SearchFilter]:
        """Plugin search filters by name (`person`, `min_aesthetic`, ...): `chronicon.search.extensions`."""
        return self.plugins.search_extensions()[0]

    @property
    def sort_keys(self) -> dict[str, SortKey]:
        """Plugin sort keys by name (`aesthetic`, ...), for `sort=` in `search` and `browse`."""
        return self.plugins.search_extensions()[1]

    def filters(self, **filters: Any) -> Filters:
        """A `Filters` from keyword filters: the core ones and any plugin's (`person="Alice"`); None values are
        left out. Unknown names raise FilterError naming the ones that exist."""
        core = {f.name for f in dataclasses.fields(Filters) if f.name != "extra"}
        chosen: dict[str, Any] = {}
        extra: list[tuple[SearchFilter, Any]] = []
        for name, value in filters.items():
            if value is None or value == [] or value == {}:
                continue
            if name in core:
                chosen[name] = value
            elif name in self.search_filters:
                extension = self.search_filters[name]
                try:
                    extra.append((extension, extension.convert(value)))
                except ChroniconError as exc:
                    raise FilterError(str(exc)) from exc
            else:
                known = ", ".join(sorted(core | set(self.search_filters)))
                raise FilterError(f"unknown filter {name!r} (known: {known})")
        return Filters(**chosen, extra=extra)

    def sort_key(self, name: str | None) -> SortKey | None:
        """The SortKey called `name` (None stays None); an unknown name raises FilterError."""
        if name is None or name == RELEVANCE:
            return None
        if name == DATE_SORT.name:
            return DATE_SORT
        if name not in self.sort_keys:
            known = ", ".join([RELEVANCE, DATE_SORT.name, *sorted(self.sort_keys)])
            raise FilterError(f"unknown sort {name!r} (known: {known})")
        return self.sort_keys[name]

    def search(
        self,
        query: str | None = None,
        *,
        image: str | os.PathLike[str] | None = None,
        limit: int | None = None,
        min_score: float | None = None,
        space: str | None = None,
        hybrid: bool | None = None,
        sort: str | None = None,
        show_all: bool = False,
        expand_stacks: bool = False,
        **filters: Any,
    ) -> SearchResults:
        """Semantic search: text (`"beach + sunset - people"`), an image, or both -> SearchHits, best first.

        Filters: kind="image"|"video", after="2024-06", before="2024", camera="canon", labels=["dog"],
        under="/photos/2024", gps="48.8,2.2,48.9,2.4", rating=4 and keywords=["paris"] (XMP), and plugin filters
        such as person="Alice".
        `sort` orders the results by "date" (newest first) or a plugin's sort key (e.g. "aesthetic") instead of
        "relevance". Weak matches of a text query are hidden (`results.hidden` counts them) unless `show_all`.
        A stack (RAW + JPEG pair, burst, Live Photo) is one result, its cover, unless `expand_stacks`.

        >>> for hit in lib.search("dog jumping into a lake", kind="image", limit=5):  # doctest: +SKIP
        ...     print(hit.score, hit.path, hit.why)
        """
        chosen = self.filters(**filters)
        return self.search_engine.search(
            query,
            image=image,
            filters=chosen,
            limit=limit or int(self.config["search.limit"]),
            min_score=min_score if min_score is not None else self.config["search.min_score"],
            space=space,
            hybrid=hybrid,
            sort=self.sort_key(sort),
            show_all=show_all,
            expand_stacks=expand_stacks,
        )

    def browse(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        sort: str | None = None,
        expand_stacks: bool = False,
        **filters: Any,
    ) -> list[SearchHit]:
        """Assets that pass the filters, without a query (newest first, or by a plugin's sort key); a stack once,
        by its cover, unless `expand_stacks`."""
        return self.search_engine.browse(
            self.filters(**filters), limit=limit, offset=offset, sort=self.sort_key(sort), expand_stacks=expand_stacks
        )

    def image_space(self) -> str | None:
        """The vector space searches use for pictures here (CLIP when its vectors and model are present, else the
        offline ConSE one), or None when nothing is embedded yet: plugins that compare pictures use this one."""
        try:
            return str(self.search_engine.encoder(None).space)
        except (NoVectorsError, ChroniconError):
            return None

    def similar(self, path: str | os.PathLike[str], **kwargs: Any) -> SearchResults:
        """Assets that look like this photo or video (the file itself is left out)."""
        return self.search(None, image=path, **kwargs)

    def doctor(self, load_models: bool = True) -> dict[str, Any]:
        """Versions, devices, optional parts and plugin health, for `chronicon doctor`; with `load_models`
        every configured pass loads its models once, so a model that cannot load shows up here."""
        import av

        versions: dict[str, str] = {"chronicon": __version__, "python": platform.python_version()}
        for dist in ("lancedb", "pyarrow", "numpy", "pillow", "pillow-heif", "pillow-jxl-plugin", "rawpy", "pyexiv2",
                     "av", "click", "pluggy", "rich"):  # fmt: skip
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                versions[dist] = "missing"
        libav = av.library_versions.get("libavformat")
        versions["ffmpeg (libavformat)"] = ".".join(map(str, libav)) if libav else "?"
        optional = {
            name: {"installed": importlib.util.find_spec(name) is not None, "for": what}
            for name, what in OPTIONAL_PARTS.items()
        }
        return {
            "versions": versions,
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "executable": sys.executable,
            "devices": detect_devices(),
            "runtime": _runtime_report(),
            "passes": (passes := self._pass_report(load_models)),
            "models": _model_report(passes),
            "optional": optional,
            "heif": _heif_support(),
            "catalog": {
                "path": display_path(self.catalog_location.uri),
                "exists": self.catalog_location.remote or self.catalog_dir.is_dir(),
            },
            "plugins": [
                {"name": p.name, "version": p.version, "source": p.source, "enabled": p.enabled}
                for p in self.plugins.infos
            ],
            "plugin_problems": [str(p) for p in self.plugins.problems],
        }


def _scan_engine(scan_cfg: Mapping[str, Any]) -> ScanEngine | None:
    """The engine `scan.engine` names: None for the local one; Ray's module (and Ray) only when asked for."""
    if scan_cfg["engine"] != "ray":
        return None
    from chronicon.scan.ray_engine import RayEngine

    return RayEngine(scan_cfg)


@contextlib.contextmanager
def _clear_guard(catalog: Catalog) -> Any:
    """Drop the scan's commit guard when the scan ends (later writes take their own lock)."""
    try:
        yield
    finally:
        catalog.commit_guard = None


def _model_report(passes: dict[str, str]) -> list[dict[str, Any]]:
    """What each model of each enabled pass runs with (device, backend, precision, batch, threads) and why."""
    from chronicon.runtime.models import choices

    return [c for c in choices() if c["pass_name"] in passes or not c["pass_name"]]


def _runtime_report() -> dict[str, Any]:
    """Device and ML backends (only when torch is installed; importing it is the expensive part)."""
    if importlib.util.find_spec("torch") is None:
        return {"available": False, "reason": "torch is not installed (pip install 'chronicon[ml]')"}
    try:
        from chronicon.runtime.report import runtime_report

        return runtime_report()
    except Exception as exc:  # a broken torch install must not break doctor
        return {"available": False, "reason": f"torch failed to load: {exc}"}


def detect_devices() -> dict[str, Any]:
    """CPU cores and memory; CUDA/MPS only when torch is installed (it is never imported otherwise)."""
    devices: dict[str, Any] = {"cpu_cores": os.cpu_count() or 1}
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        devices["memory_gib"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if importlib.util.find_spec("torch") is None:
        devices["cuda"] = "torch not installed"
        return devices
    try:
        import torch

        devices["torch"] = torch.__version__
        devices["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or "none"
        mps = getattr(torch.backends, "mps", None)
        devices["mps"] = bool(mps and mps.is_available())
    except Exception as exc:  # a broken torch install must not break doctor
        devices["cuda"] = f"torch failed to load: {exc}"
    return devices


def _heif_support() -> str:
    try:
        import pillow_heif
    except ImportError:
        return "pillow-heif missing: HEIC/HEIF photos are reported as unreadable"
    return f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})"
