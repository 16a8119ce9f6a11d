"""Plugin discovery and containment: built-ins, the `chronicon.plugins` entry points, and plugin folders."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from chronicon import hookspecs
from chronicon.analyzers.base import Analyzer
from chronicon.analyzers.spaces import TextList, VectorSpace, validate_contribution
from chronicon.analyzers.stacks import StackKind, validate_stack
from chronicon.config import Setting
from chronicon.errors import PluginError
from chronicon.search.extensions import SearchFilter, SortKey, validate

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "chronicon.plugins"
# Filter names the core search owns (`Filters` fields and search arguments); plugins cannot take them.
CORE_FILTERS = frozenset({
    "kind", "after", "before", "camera", "labels", "label", "under", "has_speech", "min_counts", "gps", "query",
    "image", "limit", "min_score", "space", "hybrid", "sort", "rating", "keywords", "keyword", "motion_parts",
})  # fmt: skip
# Built-in passes are plugins too, registered through the same hooks as everyone else's.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "chronicon.builtin.metadata",
    "chronicon.builtin.xmp",
    "chronicon.builtin.live",
    "chronicon.builtin.raw_pairs",
    "chronicon.builtin.content",
    "chronicon.builtin.bursts",
    "chronicon.builtin.shots",
    "chronicon.builtin.tags",
    "chronicon.builtin.clip",
    "chronicon.builtin.transcribe",
    "chronicon.builtin.caption",
    "chronicon.builtin.ocr",
    "chronicon.builtin.summarize",
)


@dataclass
class PluginProblem:
    """A plugin that failed to load or raised in a hook; reported, never fatal."""

    plugin: str
    where: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed in {self.where}: {self.error}"


@dataclass
class PluginInfo:
    """What `chronicon plugins list` shows for one plugin."""

    name: str
    version: str
    source: str
    enabled: bool
    hooks: list[str] = field(default_factory=list)


def _plugin_name(module: ModuleType, fallback: str) -> str:
    name = getattr(module, "PLUGIN_NAME", None)
    return name if isinstance(name, str) and name else fallback


class PluginHost:
    """The pluggy manager plus bookkeeping: which plugins exist, which are enabled, what went wrong."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.problems: list[PluginProblem] = []
        self.infos: list[PluginInfo] = []
        self._extensions: tuple[dict[str, SearchFilter], dict[str, SortKey]] | None = None
        self._spaces: tuple[list[VectorSpace], list[TextList]] | None = None
        self._stacks: list[StackKind] | None = None

    # -- discovery -------------------------------------------------------------------------------------
    def load(self, *, paths: Iterable[str] = (), disabled: Iterable[str] = (), entry_points: bool = True) -> None:
        """Register built-ins, entry-point plugins and folder plugins, leaving out the disabled names."""
        off = set(disabled)
        for module_name in BUILTIN_PLUGINS:
            self._register_module_name(module_name, module_name.rsplit(".", 1)[-1], "builtin", off)
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist.name if ep.dist is not None else "?"
                if ep.name in off:
                    self.infos.append(PluginInfo(ep.name, _dist_version(dist), f"entry point ({dist})", False))
                    continue
                try:
                    module = ep.load()
                except Exception as exc:
                    self._problem(ep.name, "import", exc)
                    continue
                self._register(module, ep.name, f"entry point ({dist})", off)
        for folder in paths:
            self._load_folder(Path(folder).expanduser(), off)

    def _load_folder(self, folder: Path, off: set[str]) -> None:
        if not folder.is_dir():
            self._problem(str(folder), "discovery", PluginError(f"plugin folder {folder} does not exist"))
            return
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_file() and entry.suffix == ".py":
                target, name = entry, entry.stem
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                target, name = entry / "__init__.py", entry.name
            else:
                continue
            if name in off:
                self.infos.append(PluginInfo(name, "?", f"folder {folder}", False))
                continue
            installed = _installed_as(name, target)
            if installed is not None:  # the same file is importable by its own name: one module, not two copies
                try:
                    module = importlib.import_module(installed)
                except Exception as exc:
                    self._problem(name, "import", exc)
                    continue
                self._register(module, name, f"folder {folder}", off)
                continue
            module_name = f"{hookspecs.FOLDER_MODULE_PREFIX}{name}"
            try:
                spec = importlib.util.spec_from_file_location(
                    module_name, target, submodule_search_locations=[str(entry)] if entry.is_dir() else None
                )
                if spec is None or spec.loader is None:
                    raise PluginError(f"cannot import {target}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module_name, None)
                self._problem(name, "import", exc)
                continue
            self._register(module, name, f"folder {folder}", off)

    def _register_module_name(self, module_name: str, name: str, source: str, off: set[str]) -> None:
        if name in off:
            self.infos.append(PluginInfo(name, _own_version(), source, False))
            return
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            self._problem(name, "import", exc)
            return
        self._register(module, name, source, off)

    def _register(self, module: ModuleType, fallback: str, source: str, off: set[str]) -> None:
        name = _plugin_name(module, fallback)
        if name in off:
            self.infos.append(PluginInfo(name, _module_version(module), source, False))
            return
        if self.pm.get_plugin(name) is module:  # the same module found twice (entry point and plugin folder)
            return
        if self.pm.has_plugin(name):
            self._problem(name, "registration", PluginError(f"a plugin named {name!r} is already registered"))
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:  # pluggy validates hook signatures here
            self._problem(name, "registration", exc)
            return
        hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        self.infos.append(PluginInfo(name, _module_version(module), source, True, hooks))

    def report(self, plugin: str, where: str, exc: BaseException) -> None:
        """Record a plugin problem found outside this class (e.g. a pass whose dependency is disabled)."""
        self._problem(plugin, where, exc)

    def _problem(self, plugin: str, where: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        problem = PluginProblem(plugin, where, detail)
        log.warning("%s", problem)
        log.debug("plugin traceback", exc_info=exc)
        self.problems.append(problem)

    # -- calling hooks with containment ----------------------------------------------------------------
    def call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a hook, one at a time; a raising plugin is reported and skipped."""
        caller = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in caller.get_hookimpls():  # registration order
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                self._problem(impl.plugin_name, hook_name, exc)
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def analyzer_classes(self) -> list[type[Analyzer]]:
        """Flattened answers of `chronicon_register_analyzers`; bad entries are reported and dropped."""
        classes: list[type[Analyzer]] = []
        seen: dict[str, str] = {}
        for plugin, answer in self.call("chronicon_register_analyzers"):
            for cls in answer:
                if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
                    self._problem(plugin, "chronicon_register_analyzers", PluginError(f"{cls!r} is not an Analyzer"))
                    continue
                missing = [a for a in ("name", "version", "phase") if not hasattr(cls, a)]
                if missing:
                    err = PluginError(f"{cls.__name__} lacks {', '.join(missing)}")
                    self._problem(plugin, "chronicon_register_analyzers", err)
                    continue
                if cls.name in seen:
                    err = PluginError(f"analyzer name {cls.name!r} is already taken by plugin {seen[cls.name]!r}")
                    self._problem(plugin, "chronicon_register_analyzers", err)
                    continue
                seen[cls.name] = plugin
                classes.append(cls)
        return classes

    def search_extensions(self) -> tuple[dict[str, SearchFilter], dict[str, SortKey]]:
        """Plugin search filters and sort keys by name; malformed or clashing ones are reported (once) and dropped."""
        if self._extensions is not None:
            return self._extensions
        filters: dict[str, SearchFilter] = {}
        sorts: dict[str, SortKey] = {}
        for plugin, answer in self.call("chronicon_register_search_filters"):
            for item in answer:
                problem = validate(item)
                if (
                    problem is None
                    and isinstance(item, SearchFilter)
                    and (item.name in CORE_FILTERS or item.name in filters)
                ):
                    problem = f"search filter {item.name!r} is already taken"
                if problem is None and isinstance(item, SortKey) and item.name in sorts:
                    problem = f"sort key {item.name!r} is already taken"
                if problem is not None:
                    self._problem(plugin, "chronicon_register_search_filters", PluginError(problem))
                elif isinstance(item, SearchFilter):
                    filters[item.name] = item
                else:
                    sorts[item.name] = item
        self._extensions = (filters, sorts)
        return self._extensions

    def search_spaces(self) -> tuple[list[VectorSpace], list[TextList]]:
        """Vector spaces (by priority, then registration) and text lists that plugins contribute to search;
        malformed or clashing ones are reported (once) and dropped."""
        if self._spaces is not None:
            return self._spaces
        spaces: list[VectorSpace] = []
        lists: list[TextList] = []
        for plugin, answer in self.call("chronicon_register_spaces"):
            for item in answer:
                problem = validate_contribution(item)
                if problem is None and isinstance(item, VectorSpace) and any(s.kind == item.kind for s in spaces):
                    problem = f"search space {item.kind!r} is already taken"
                if problem is None and isinstance(item, TextList) and any(t.name == item.name for t in lists):
                    problem = f"text list {item.name!r} is already taken"
                if problem is not None:
                    self._problem(plugin, "chronicon_register_spaces", PluginError(problem))
                elif isinstance(item, VectorSpace):
                    spaces.append(item)
                else:
                    lists.append(item)
        spaces.sort(key=lambda s: s.priority)  # stable: registration order breaks ties
        self._spaces = (spaces, lists)
        return self._spaces

    def stack_kinds(self) -> list[StackKind]:
        """The kinds of stack the plugins' passes form, by priority; malformed or clashing ones are reported (once)
        and dropped."""
        if self._stacks is not None:
            return self._stacks
        kinds: list[StackKind] = []
        for plugin, answer in self.call("chronicon_register_stacks"):
            for item in answer:
                problem = validate_stack(item)
                if problem is None and any(k.name == item.name or k.column == item.column for k in kinds):
                    problem = f"stack kind {item.name!r} (column {item.column!r}) is already taken"
                if problem is not None:
                    self._problem(plugin, "chronicon_register_stacks", PluginError(problem))
                else:
                    kinds.append(item)
        kinds.sort(key=lambda k: k.priority)  # stable: registration order breaks ties
        self._stacks = kinds
        return self._stacks

    def space_kinds(self) -> list[str]:
        """What `--space` accepts besides `auto`, best first."""
        return [s.kind for s in self.search_spaces()[0]]

    def settings(self, analyzers: Iterable[type[Analyzer]]) -> dict[str, Setting]:
        """Config settings declared by analyzers (in their own sections) and by `chronicon_register_settings`."""
        out: dict[str, Setting] = {}
        for cls in analyzers:
            out[f"{cls.name}.enabled"] = Setting("bool", True, help=f"run the {cls.name} pass")
            for key, setting in cls.settings.items():
                out[f"{cls.name}.{key}"] = setting
        for plugin, answer in self.call("chronicon_register_settings"):
            for key, setting in answer.items():
                if not isinstance(setting, Setting) or "." not in key:
                    err = PluginError(f"setting {key!r} must be a dotted key with a Setting")
                    self._problem(plugin, "chronicon_register_settings", err)
                    continue
                out[key] = setting
        return out


def _installed_as(name: str, target: Path) -> str | None:
    """`name` when that module is importable (installed) from exactly this file, else None."""
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    try:
        return name if Path(spec.origin).resolve() == target.resolve() else None
    except OSError:
        return None


def _own_version() -> str:
    from chronicon import __version__

    return __version__


def _module_version(module: ModuleType) -> str:
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    if module.__name__.startswith("chronicon."):
        return _own_version()
    return "?"


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"
