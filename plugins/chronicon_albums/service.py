"""Album operations shared by the command line, the REST routes and the scan hook: create, delete, refresh, views."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from chronicon.api import CatalogLockedError, ChroniconError, ScanLock

from .configured import config_diff, sync_config
from .evaluate import rebuild
from .rules import AlbumRule, NeedsPluginError, album_key, check_name
from .store import Album, AlbumStore, now_iso
from .tracking import Changes, Tracker, catalog_key, catch_up, stale_since

log = logging.getLogger(__name__)

# Seconds an album write waits for the scan lock (another album write holds it for milliseconds; a scan for long).
WRITE_WAIT = 1.0
# Seconds a reader waits for the lock to store config albums that changed in the config file.
CONFIG_WAIT = 0.5


class AlbumExistsError(ChroniconError):
    """An album of that name exists already."""


class NoSuchAlbumError(ChroniconError):
    """No album has that name."""


class ConfigAlbumError(ChroniconError):
    """The album is defined in the config file; only the config file changes it."""


def store_of(library: Any) -> AlbumStore:
    return AlbumStore(library.catalog)


@contextlib.contextmanager
def write_lock(library: Any, wait: float = WRITE_WAIT) -> Iterator[None]:
    """Hold the catalog's scan lock for an album write, waiting up to `wait` seconds for a short holder (another
    album write); CatalogLockedError while a scan runs. Never held while an album is evaluated."""
    lock = ScanLock(library.catalog_dir)
    lock.acquire(wait=wait)
    with lock:
        yield


@dataclass
class AlbumsView:
    """The albums as a reader sees them (config definitions applied) and the problems with those definitions."""

    albums: list[Album]
    problems: list[str]

    def find(self, name: str) -> Album:
        key = album_key(name)
        for album in self.albums:
            if album.key == key:
                return album
        raise NoSuchAlbumError(f"no album named {name!r} (see `chronicon album list`)")


def current(library: Any, store: AlbumStore) -> AlbumsView:
    """The albums with `albums.define` applied, for readers. The config is compared with the table without the
    lock; only when it changed is the change stored, under the scan lock (waiting CONFIG_WAIT seconds). While a
    scan holds the lock the change is applied in memory only (the scan stores it when it ends)."""
    known = library.search_filters
    albums = store.all()
    diff = config_diff(library.config, known, albums)
    if not diff:
        return AlbumsView(albums, diff.problems)
    try:
        with write_lock(library, wait=CONFIG_WAIT):
            problems = sync_config(library.config, store, known)
            return AlbumsView(store.all(), problems)
    except CatalogLockedError:
        log.info("config albums not stored: a scan holds the catalog; showing them as defined")
        return AlbumsView(diff.applied_to(albums), diff.problems)


def find(store: AlbumStore, name: str) -> Album:
    album = store.get(name)
    if album is None:
        raise NoSuchAlbumError(f"no album named {name!r} (see `chronicon album list`)")
    return album


def evaluated(library: Any, album: Album) -> Album:
    """A copy of the album evaluated now (see `rebuild`); the album itself is left as it is."""
    return rebuild(library, copy.deepcopy(album))


def store_if_unchanged(library: Any, store: AlbumStore, before: Album, after: Album, *, wait: float) -> bool:
    """Store `after` (an evaluation of `before`) under the scan lock, only when the stored album is still exactly
    `before`: a scan or another reader that stored a newer state meanwhile wins. CatalogLockedError when the
    lock is not free within `wait` seconds. Whether it was stored."""
    with write_lock(library, wait=wait):
        stored = store.get(before.name)
        if stored is None or stored.to_row() != before.to_row():
            return False
        store.put([after])
        return True


def create(library: Any, store: AlbumStore, name: str, rule: AlbumRule, *, replace: bool = False) -> Album:
    """Save a command-line album (dirty, under the scan lock), evaluate it without the lock, and store the
    members when nothing changed the album meanwhile.

    NeedsPluginError when a filter's plugin is not loaded; AlbumExistsError / ConfigAlbumError on a clash;
    CatalogLockedError while a scan runs."""
    name = check_name(name)
    problem = rule.missing_plugins(library.search_filters, library.sort_keys)
    if problem is not None:
        raise NeedsPluginError(f"album {name!r} {problem}")
    with write_lock(library):
        sync_config(library.config, store, library.search_filters)
        existing = store.get(name)
        if existing is not None and existing.source == "config":
            raise ConfigAlbumError(
                f"album {existing.name!r} is defined in the config file (albums.define): edit it there"
            )
        if existing is not None and not replace:
            raise AlbumExistsError(f"an album named {existing.name!r} exists already (delete it, or use --replace)")
        when = now_iso()
        album = Album(name=name, rule=rule.to_json(), source="cli", created_at=when, updated_at=None, dirty=True)
        if existing is not None:
            store.delete(existing.name)  # the new spelling of the name wins
        store.put([album])  # stored dirty first: an interrupted evaluation is redone by the next scan or refresh
    done = evaluated(library, album)
    try:
        store_if_unchanged(library, store, album, done, wait=WRITE_WAIT)
    except CatalogLockedError:  # a scan started meanwhile: it rebuilds the dirty album when it ends
        log.info("album %r is stored dirty: a scan holds the catalog", name)
    return done


def delete(library: Any, store: AlbumStore, name: str) -> Album:
    """Delete a command-line album under the scan lock; ConfigAlbumError for a config album."""
    with write_lock(library):
        sync_config(library.config, store, library.search_filters)
        album = find(store, name)
        if album.source == "config":
            raise ConfigAlbumError(
                f"album {album.name!r} is defined in the config file: remove it from `albums.define` there"
            )
        store.delete(album.name)
    return album


def refresh(library: Any, store: AlbumStore, names: Sequence[str] = ()) -> list[Album]:
    """Re-evaluate these albums (default: all), each without the lock, and store each result under it (one that a
    scan changed meanwhile keeps the scan's result). CatalogLockedError when a scan holds the catalog."""
    view = current(library, store)
    albums = [view.find(n) for n in names] if names else view.albums
    done: list[Album] = []
    for album in albums:
        result = evaluated(library, album)
        store_if_unchanged(library, store, album, result, wait=WRITE_WAIT)
        done.append(result)
    return done


def fresh(library: Any, store: AlbumStore, album: Album) -> Album:
    """The album for a reader: as stored, or evaluated now in memory when it is dirty. The evaluation is stored
    only when the scan lock is free at once (no waiting: readers never hold up a scan or each other) and the
    album did not change meanwhile; otherwise the next reader evaluates again, or the next scan stores it."""
    if not album.dirty:
        return album
    result = evaluated(library, album)
    with contextlib.suppress(CatalogLockedError):
        store_if_unchanged(library, store, album, result, wait=0.0)
    return result


def after_scan(library: Any, summary: Any, tracker: Tracker) -> list[str]:
    """The scan hook's work (the scan lock is held): sync config albums, find the albums the scan's changes
    (and any this process missed) can affect, persist their dirty flag, and rebuild each once. Returns notes."""
    notes: list[str] = []
    store = store_of(library)
    seen = tracker.take(catalog_key(library.catalog_dir))
    checked = now_iso()  # every asset row of this scan was committed before this moment
    notes.extend(sync_config(library.config, store, library.search_filters))
    albums = store.all()
    if not albums:
        return notes
    extra = catch_up(library.catalog, albums, seen)
    changes = Changes({**extra.indexed, **seen.indexed}, seen.removed | extra.removed)
    todo = [a for a in albums if a.dirty or stale_since(a, changes)]
    store.mark_dirty(a.name for a in todo)
    if changes:
        store.mark_checked(checked)  # the others are current: the next catch-up starts here
    if not todo:
        return notes
    if not library.config.section("albums").bool("refresh_on_scan"):
        notes.append(f"{len(todo)} album(s) need a refresh: run `chronicon album refresh`")
        return notes
    rebuilt: list[str] = []
    for album in todo:
        album.dirty, album.checked_at = True, checked
        try:
            album = rebuild(library, album)
            store.put([album])
        except Exception as exc:  # one album must never break the scan; it stays dirty for the next one
            log.exception("album %r failed to rebuild", album.name)
            notes.append(f"album {album.name!r} failed to rebuild: {type(exc).__name__}: {exc}")
            continue
        if album.error:
            notes.append(f"album {album.name!r}: {album.error}")
        rebuilt.append(f"{album.name} ({len(album.members)})")
    if rebuilt:
        notes.append("albums rebuilt: " + ", ".join(rebuilt))
    return notes


def summary_view(album: Album) -> dict[str, Any]:
    """An album without its members (for lists)."""
    return {
        "name": album.name,
        "source": album.source,
        "count": len(album.members),
        "rule": album.rule_data,
        "created_at": album.created_at,
        "updated_at": album.updated_at,
        "evaluated_at": album.evaluated_at,
        "dirty": album.dirty,
        "error": album.error,
    }


def detail_view(album: Album) -> dict[str, Any]:
    """An album with its members, best first, each with its rank."""
    view = summary_view(album)
    view["items"] = [{"rank": n, **m} for n, m in enumerate(album.members, 1)]
    return view
