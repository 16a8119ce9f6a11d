"""What the routes share: the app's library, the filter query parameters, and hits as JSON with their URLs."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, Query, Request

from chronicon.library import Library
from chronicon.search.filters import parse_min_counts
from chronicon.web.security import check_path_param


def library_of(request: Request) -> Library:
    """The app's Library (its catalog reads the latest commit on every read: a scan may be writing)."""
    library: Library = request.app.state.library
    return library


LibraryDep = Annotated[Library, Depends(library_of)]


def thumbnail_url(asset_id: str, segment: int = 0) -> str:
    base = f"/api/assets/{quote(asset_id)}/thumbnail"
    return f"{base}?segment={segment}" if segment > 0 else base


def media_url(asset_id: str) -> str:
    return f"/api/assets/{quote(asset_id)}/original"


def hit_json(hit: Any) -> dict[str, Any]:
    """`SearchHit.to_json()` plus `thumbnail_url` (the matched shot's when it has one) and `media_url`."""
    data: dict[str, Any] = hit.to_json()
    shot = hit.segment if data.get("segment_thumbnail") else 0
    data["thumbnail_url"] = thumbnail_url(hit.asset_id, shot) if (data.get("thumbnail") or shot) else None
    data["media_url"] = media_url(hit.asset_id)
    return data


def filters_of(
    request: Request,
    kind: Annotated[Literal["image", "video"] | None, Query(description="Only photos or only videos.")] = None,
    after: Annotated[str | None, Query(description="Taken on or after (YYYY, YYYY-MM or YYYY-MM-DD).")] = None,
    before: Annotated[str | None, Query(description="Taken before the end of this day, month or year.")] = None,
    camera: Annotated[str | None, Query(description="Camera make or model contains this (any case).")] = None,
    label: Annotated[list[str] | None, Query(description="Has this label (repeatable: all of them).")] = None,
    under: Annotated[str | None, Query(description="Only files under this folder (absolute path prefix).")] = None,
    has_speech: Annotated[bool, Query(description="Only videos in which something is said.")] = False,
    min_count: Annotated[list[str] | None, Query(description="LABEL=N: at least N of an object (repeatable).")] = None,
    gps: Annotated[str | None, Query(description="GPS box SOUTH,WEST,NORTH,EAST in degrees.")] = None,
) -> dict[str, Any]:
    """The core filters, plus every plugin filter (`person`, `min_aesthetic`, ...) given as a query parameter."""
    library: Library = request.app.state.library
    if under is not None:
        check_path_param(under, "under")
        under = os.path.abspath(os.path.expanduser(under))
    chosen: dict[str, Any] = {
        "kind": kind,
        "after": after,
        "before": before,
        "camera": camera,
        "labels": [x for x in (label or []) if x.strip()],
        "under": under,
        "has_speech": has_speech,
        "min_counts": parse_min_counts(min_count or []),  # FilterError -> 400
        "gps": gps,
    }
    for name in library.search_filters:
        value = request.query_params.get(name)
        if value is not None and value != "":
            chosen[name] = value
    return {k: v for k, v in chosen.items() if v not in (None, [], {}, False, "")}


FiltersDep = Annotated[dict[str, Any], Depends(filters_of)]
