"""What the routes share: the app's library, the filter query parameters, and hits as JSON with their URLs."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, HTTPException, Query, Request

from chronicon.library import Library
from chronicon.search.filters import FilterError, parse_day, parse_min_counts
from chronicon.web.security import check_path_param

# Bounds on filter values (each repeatable one: MAX_REPEAT values at most).
MAX_TEXT = 1000
MAX_PATH = 4096
MAX_REPEAT = 100


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
    after: Annotated[str | None, Query(max_length=40, description="On or after (YYYY, YYYY-MM or YYYY-MM-DD).")] = None,
    before: Annotated[str | None, Query(max_length=40, description="Taken before the end of this date.")] = None,
    camera: Annotated[str | None, Query(max_length=MAX_TEXT, description="Camera make or model has this.")] = None,
    label: Annotated[list[str] | None, Query(description="Has this label (repeatable, all; <= 100).")] = None,
    under: Annotated[str | None, Query(max_length=MAX_PATH, description="Only files under this folder.")] = None,
    has_speech: Annotated[bool, Query(description="Only videos in which something is said.")] = False,
    min_count: Annotated[list[str] | None, Query(description="LABEL=N: at least N of an object (repeatable).")] = None,
    gps: Annotated[str | None, Query(max_length=200, description="GPS box SOUTH,WEST,NORTH,EAST in degrees.")] = None,
    text: Annotated[str | None, Query(max_length=MAX_TEXT, description="Text in the picture has this.")] = None,
    rating: Annotated[int | None, Query(ge=-1, le=5, description="XMP rating at least this (-1..5).")] = None,
    keyword: Annotated[list[str] | None, Query(description="Has this XMP keyword (repeatable, all).")] = None,
    with_motion: Annotated[
        bool, Query(description="Also list Live Photos' motion parts (their MOVs) as videos of their own.")
    ] = False,
) -> dict[str, Any]:
    """The core filters, plus every plugin filter (`person`, `min_aesthetic`, ...) given as a query parameter."""
    library: Library = request.app.state.library
    for name, values in (("label", label), ("min_count", min_count), ("keyword", keyword)):
        _check_repeated(name, values or [])
    for name, day in (("after", after), ("before", before)):
        if day:
            try:
                parse_day(day)
            except FilterError as exc:
                raise HTTPException(status_code=400, detail=f"{name}: {exc}") from exc
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
        "text": text,
        "keywords": [x for x in (keyword or []) if x.strip()],
        "motion_parts": with_motion,
    }
    for name in library.search_filters:
        value = request.query_params.get(name)
        if value is not None and value != "":
            if len(value) > MAX_TEXT:
                raise HTTPException(status_code=400, detail=f"{name}: at most {MAX_TEXT} characters")
            chosen[name] = value
    kept = {k: v for k, v in chosen.items() if v not in (None, [], {}, False, "")}
    if rating is not None:  # (0 is a rating, not "unset")
        kept["rating"] = rating
    return kept


def _check_repeated(name: str, values: list[str]) -> None:
    """A repeatable parameter: at most MAX_REPEAT values of at most MAX_TEXT characters each (else 400)."""
    if len(values) > MAX_REPEAT:
        raise HTTPException(status_code=400, detail=f"{name}: at most {MAX_REPEAT} values, not {len(values)}")
    if any(len(v) > MAX_TEXT for v in values):
        raise HTTPException(status_code=400, detail=f"{name}: at most {MAX_TEXT} characters a value")


FiltersDep = Annotated[dict[str, Any], Depends(filters_of)]
