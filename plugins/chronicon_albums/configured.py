"""Albums defined in the config file (`albums.define`), synced into the albums table as source "config"."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rules import AlbumRule, NeedsPluginError, RuleError, album_key, check_name
from .store import Album, AlbumStore, now_iso

log = logging.getLogger(__name__)


@dataclass
class ConfigDiff:
    """What storing `albums.define` would change: albums to put (new or changed, dirty) and names to delete."""

    put: list[Album] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.put or self.delete)

    def applied_to(self, albums: Iterable[Album]) -> list[Album]:
        """These albums as they are once the diff is stored (in memory; nothing is written), by name."""
        out = {a.key: a for a in albums if a.name not in self.delete}
        out.update({a.key: a for a in self.put})
        return sorted(out.values(), key=lambda a: a.key)


def definitions(config: Any, known: Mapping[str, Any]) -> tuple[dict[str, tuple[str, str, str | None]], list[str]]:
    """The config's albums: key -> (name, rule JSON, error), and problems with entries that have no usable name.
    `known` is the library's plugin search filters.

    A definition whose rule is bad (or needs a plugin that is not loaded) keeps its raw fields as the rule and
    the reason as its error, so `album list` shows it instead of the whole command failing."""
    out: dict[str, tuple[str, str, str | None]] = {}
    problems: list[str] = []
    for n, entry in enumerate(config.section("albums").records("define"), 1):
        if not isinstance(entry, Mapping):
            problems.append(f"albums.define entry {n}: expected a mapping with a name, not {entry!r}")
            continue
        try:
            name = check_name(entry.get("name"))
        except RuleError as exc:
            problems.append(f"albums.define entry {n}: {exc}")
            continue
        if album_key(name) in out:
            problems.append(f"albums.define entry {n}: the name {name!r} is used twice; the first one is kept")
            continue
        try:
            rule_json, error = AlbumRule.from_mapping(entry, ignore=("name",), known=known).to_json(), None
        except (RuleError, NeedsPluginError) as exc:
            raw = {k: v for k, v in entry.items() if k != "name"}
            rule_json, error = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False), str(exc)
        out[album_key(name)] = (name, rule_json, error)
    return out, problems


def config_diff(config: Any, known: Mapping[str, Any], albums: Iterable[Album]) -> ConfigDiff:
    """What `albums.define` changes in these stored albums; reads only (no lock needed). A config album replaces
    a command-line album of the same name; config albums no longer defined are deleted."""
    wanted, problems = definitions(config, known)
    existing = {a.key: a for a in albums}
    diff = ConfigDiff(problems=problems)
    when = now_iso()
    for key, (name, rule_json, error) in wanted.items():
        album = existing.get(key)
        if album is not None and album.source == "config" and album.rule == rule_json and album.name == name:
            continue
        fresh = Album(name=name, rule=rule_json, source="config", created_at=when, updated_at=when, dirty=True)
        if error is not None:
            fresh.error, fresh.dirty, fresh.evaluated_at = error, False, when
        diff.put.append(fresh)
    diff.delete = [a.name for key, a in existing.items() if a.source == "config" and key not in wanted]
    return diff


def sync_config(config: Any, store: AlbumStore, known: Mapping[str, Any]) -> list[str]:
    """Make the table's config albums match `albums.define` (the caller holds the scan lock): new and changed
    ones are stored dirty, removed ones deleted. Writes nothing when nothing changed. Returns the problems."""
    stored = {a.key: a for a in store.all()}
    diff = config_diff(config, known, stored.values())
    for album in diff.put:
        before = stored.get(album.key)
        if before is not None and before.source != "config":
            log.warning("album %r from the config file replaces the command-line album of that name", album.name)
    store.put(diff.put)
    for name in diff.delete:
        store.delete(name)
    for problem in diff.problems:
        log.warning("%s", problem)
    return diff.problems
