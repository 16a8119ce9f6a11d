"""Albums defined in the config file (`albums.define`), synced into the albums table as source "config"."""

from __future__ import annotations

import json
import logging
from typing import Any

from .rules import AlbumRule, RuleError, album_key, check_name
from .store import Album, AlbumStore, now_iso

log = logging.getLogger(__name__)


def definitions(config: Any) -> tuple[dict[str, tuple[str, str, str | None]], list[str]]:
    """The config's albums: key -> (name, rule JSON, error), and problems with entries that have no usable name.

    A definition whose rule is bad keeps its raw fields as the rule and the reason as its error, so
    `album list` shows it instead of the whole command failing."""
    out: dict[str, tuple[str, str, str | None]] = {}
    problems: list[str] = []
    for n, entry in enumerate(config["albums.define"] or [], 1):
        try:
            name = check_name(entry.get("name"))
        except RuleError as exc:
            problems.append(f"albums.define entry {n}: {exc}")
            continue
        if album_key(name) in out:
            problems.append(f"albums.define entry {n}: the name {name!r} is used twice; the first one is kept")
            continue
        try:
            rule_json, error = AlbumRule.from_mapping(entry, ignore=("name",)).to_json(), None
        except RuleError as exc:
            raw = {k: v for k, v in entry.items() if k != "name"}
            rule_json, error = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False), str(exc)
        out[album_key(name)] = (name, rule_json, error)
    return out, problems


def sync_config(config: Any, store: AlbumStore) -> list[str]:
    """Make the table's config albums match `albums.define`: new and changed ones are stored dirty, removed ones
    deleted. A config album replaces a command-line album of the same name. Returns the problems found."""
    wanted, problems = definitions(config)
    existing = {a.key: a for a in store.all()}
    when = now_iso()
    changed: list[Album] = []
    for key, (name, rule_json, error) in wanted.items():
        album = existing.get(key)
        if album is not None and album.source == "config" and album.rule == rule_json and album.name == name:
            continue
        if album is not None and album.source != "config":
            log.warning("album %r from the config file replaces the command-line album of that name", name)
        fresh = Album(name=name, rule=rule_json, source="config", created_at=when, updated_at=when, dirty=True)
        if error is not None:
            fresh.error, fresh.dirty, fresh.evaluated_at = error, False, when
        changed.append(fresh)
    store.put(changed)
    for key, album in existing.items():
        if album.source == "config" and key not in wanted:
            store.delete(album.name)
    for problem in problems:
        log.warning("%s", problem)
    return problems
