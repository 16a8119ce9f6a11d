"""Album operations shared by the command line, the REST routes and the scan hook: create, delete, refresh, views."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from chronicon.catalog.lock import ScanLock
from chronicon.errors import CatalogLockedError, ChroniconError

from .configured import sync_config
from .evaluate import rebuild
from .rules import AlbumRule, NeedsPluginError, check_name
from .store import Album, AlbumStore, now_iso
from .tracking import Changes, Tracker, catch_up, stale_since

log = logging.getLogger(__name__)


class AlbumExistsError(ChroniconError):
    """An album of that name exists already."""


class NoSuchAlbumError(ChroniconError):
    """No album has that name."""


class ConfigAlbumError(ChroniconError):
    """The album is defined in the config file; only the config file changes it."""


def store_of(library: Any) -> AlbumStore:
    return AlbumStore(library.catalog.db)


@contextlib.contextmanager
def write_lock(library: Any) -> Iterator[None]:
    """Hold the catalog's scan lock for album writes; CatalogLockedError while a scan runs."""
    with ScanLock(library.catalog_dir):
        yield


def synced(library: Any, store: AlbumStore) -> list[str]:
    """Bring config albums into the table when no scan holds the catalog (else leave the table as it is)."""
    try:
        with write_lock(library):
            return sync_config(library.config, store)
    except CatalogLockedError:
        return []


def find(store: AlbumStore, name: str) -> Album:
    album = store.get(name)
    if album is None:
        raise NoSuchAlbumError(f"no album named {name!r} (see `chronicon album list`)")
    return album


def create(library: Any, store: AlbumStore, name: str, rule: AlbumRule, *, replace: bool = False) -> Album:
    """Save a command-line album and evaluate it now; the caller holds the scan lock.

    NeedsPluginError when a filter's plugin is not loaded; AlbumExistsError / ConfigAlbumError on a clash."""
    name = check_name(name)
    problem = rule.missing_plugins(library.search_filters, library.sort_keys)
    if problem is not None:
        raise NeedsPluginError(f"album {name!r} {problem}")
    existing = store.get(name)
    if existing is not None and existing.source == "config":
        raise ConfigAlbumError(f"album {existing.name!r} is defined in the config file (albums.define): edit it there")
    if existing is not None and not replace:
        raise AlbumExistsError(f"an album named {existing.name!r} exists already (delete it, or use --replace)")
    when = now_iso()
    album = Album(name=name, rule=rule.to_json(), source="cli", created_at=when, updated_at=None, dirty=True)
    if existing is not None:
        store.delete(existing.name)  # the new spelling of the name wins
    store.put([album])  # stored dirty first: an interrupted evaluation is redone by the next scan or refresh
    album = rebuild(library, album)
    store.put([album])
    return album


def delete(store: AlbumStore, name: str) -> Album:
    album = find(store, name)
    if album.source == "config":
        raise ConfigAlbumError(
            f"album {album.name!r} is defined in the config file: remove it from `albums.define` there"
        )
    store.delete(album.name)
    return album


def refresh(library: Any, store: AlbumStore, names: Sequence[str] = ()) -> list[Album]:
    """Re-evaluate these albums (default: all); the caller holds the scan lock."""
    albums = [find(store, n) for n in names] if names else store.all()
    done: list[Album] = []
    for album in albums:
        album = rebuild(library, album)
        store.put([album])
        done.append(album)
    return done


def fresh(library: Any, store: AlbumStore, album: Album) -> Album:
    """The album, rebuilt first when it is dirty and no scan holds the catalog."""
    if not album.dirty:
        return album
    try:
        with write_lock(library):
            album = rebuild(library, album)
            store.put([album])
    except CatalogLockedError:
        pass
    return album


def after_scan(library: Any, summary: Any, tracker: Tracker) -> list[str]:
    """The scan hook's work (the scan lock is held): sync config albums, find the albums the scan's changes
    (and any this process missed) can affect, persist their dirty flag, and rebuild each once. Returns notes."""
    notes: list[str] = []
    store = store_of(library)
    seen = tracker.take()
    checked = now_iso()  # every asset row of this scan was committed before this moment
    notes.extend(sync_config(library.config, store))
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
    if not library.config["albums.refresh_on_scan"]:
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
