"""Running an album rule through the core search (query) or browse (filters only) into a member list."""

from __future__ import annotations

import logging
from typing import Any

from chronicon.api import ChroniconError

from .rules import AlbumRule, NeedsPluginError, RuleError
from .store import Album, now_iso

log = logging.getLogger(__name__)


def album_filters(library: Any, rule: AlbumRule) -> Any:
    """The core `Filters` of a rule with its plugin filters (any the library registers); every value of a filter
    must match (two people: both are in the picture)."""
    problem = rule.missing_plugins(library.search_filters, library.sort_keys)
    if problem is not None:
        raise NeedsPluginError(problem)
    filters = library.filters(**rule.core_filters())
    for name, values in rule.filters.items():
        extension = library.search_filters[name]
        for value in values:
            try:
                filters.extra.append((extension, extension.convert(value)))
            except ChroniconError as exc:
                raise RuleError(f"{name}: {exc}") from exc
    return filters


def member_of(hit: Any) -> dict[str, Any]:
    """What an album keeps of one search hit."""
    shown = hit.to_json()
    return {
        "id": hit.asset_id,
        "path": hit.path,
        "kind": hit.kind,
        "score": shown["score"],
        "t": shown["t"],
        "t_start": hit.t_start,
        "t_end": hit.t_end,
        "segment": hit.segment,
        "thumbnail": shown["segment_thumbnail"] or shown["thumbnail"],
    }


def evaluate(library: Any, rule: AlbumRule) -> list[dict[str, Any]]:
    """The album's members, best first (or in the rule's sort order), at most its max_items."""
    filters = album_filters(library, rule)
    sort = library.sort_key(rule.sort)
    limit = rule.max_items or library.config.section("albums").int("max_items")
    engine = library.search_engine
    if rule.query:
        default_score = library.config.section("search").optional_float("min_score")
        min_score = rule.min_score if rule.min_score is not None else default_score
        hits = engine.search(rule.query, filters=filters, limit=limit, min_score=min_score, sort=sort)
    else:
        hits = engine.browse(filters, limit=limit, sort=sort)
    return [member_of(h) for h in hits]


def rebuild(library: Any, album: Album) -> Album:
    """The album evaluated now: new members (or the error that stopped it), clean, with fresh timestamps (the
    moment the evaluation started: asset rows written later are caught up by the next scan). Changes the album
    object in place and returns it.

    Never raises for a bad rule, a missing plugin or an empty catalog: the error is kept on the album."""
    when = now_iso()
    try:
        rule = AlbumRule.from_json(album.rule)
        members = evaluate(library, rule)
    except (RuleError, NeedsPluginError) as exc:
        return _failed(album, str(exc), when)
    except ChroniconError as exc:  # no vectors yet, a filter the catalog cannot answer, ...
        return _failed(album, str(exc), when)
    changed = members != album.members or album.error is not None
    album.members = members
    album.error = None
    album.dirty = False
    album.evaluated_at = when
    if changed or album.updated_at is None:
        album.updated_at = when
    return album


def _failed(album: Album, error: str, when: str) -> Album:
    log.warning("album %r could not be evaluated: %s", album.name, error)
    if album.error != error:
        album.updated_at = when
    album.error = error
    album.dirty = False
    album.evaluated_at = when
    return album
