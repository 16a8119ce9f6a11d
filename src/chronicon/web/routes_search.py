"""Search routes: text search with filters, search by an uploaded image, and browsing without a query."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile

from chronicon.web.deps import FiltersDep, LibraryDep, hit_json
from chronicon.web.models import BrowseResults, SearchResults, errors

router = APIRouter(prefix="/api", tags=["search"])

MAX_UPLOAD = 64 * 1024 * 1024
_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".bmp", ".tif", ".tiff", ".avif",
             ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}  # fmt: skip


def _space(library: Any, space: str | None) -> str | None:
    try:
        return str(library.search_engine.encoder(space).space)
    except Exception:
        return None


@router.get("/search", response_model=SearchResults, responses=errors(400, 401, 503))
def search(
    library: LibraryDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description='The query, e.g. "beach + sunset - people".')],
    min_score: Annotated[float | None, Query(ge=-1.0, le=1.0, description="Hide weaker matches (-1..1).")] = None,
    sort: Annotated[str | None, Query(description="Order by a plugin's sort key (see /api/meta).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Number of results.")] = 40,
    space: Annotated[str | None, Query(description="Vector space: auto, clip, conse, caption.")] = None,
    hybrid: Annotated[bool | None, Query(description="Also match words in labels, transcripts, captions.")] = None,
) -> dict[str, Any]:
    """Semantic search by text, with filters; plugin filters (see `/api/meta`) are accepted by name."""
    started = time.perf_counter()
    hits = library.search(q, limit=limit, min_score=min_score, space=space, hybrid=hybrid, sort=sort, **filters)
    return {
        "query": q,
        "seconds": round(time.perf_counter() - started, 4),
        "space": _space(library, space),
        "filters": filters,
        "results": [hit_json(h) for h in hits],
    }


@router.post("/search/image", response_model=SearchResults, responses=errors(400, 401, 503))
def search_image(
    library: LibraryDep,
    filters: FiltersDep,
    file: Annotated[UploadFile, File(description="A photo (or video) to find similar assets to.")],
    q: Annotated[str | None, Form(max_length=1000, description="Text to combine with the image.")] = None,
    limit: Annotated[int, Form(ge=1, le=1000)] = 40,
) -> dict[str, Any]:
    """Assets that look like the uploaded file (kept in a temporary file, deleted after the search)."""
    suffix = os.path.splitext(file.filename or "")[1].lower()
    suffix = suffix if suffix in _SUFFIXES else ""
    started = time.perf_counter()
    handle, temp = tempfile.mkstemp(prefix="chronicon-query-", suffix=suffix)
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := file.file.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_UPLOAD:
                    raise HTTPException(status_code=400, detail=f"the upload is larger than {MAX_UPLOAD} bytes")
                out.write(chunk)
        if written == 0:
            raise HTTPException(status_code=400, detail="the upload is empty")
        hits = library.search(q or None, image=temp, limit=limit, **filters)
    finally:
        os.unlink(temp)
    return {
        "query": q,
        "seconds": round(time.perf_counter() - started, 4),
        "space": _space(library, None),
        "filters": filters,
        "results": [hit_json(h) for h in hits],
    }


@router.get("/browse", response_model=BrowseResults, responses=errors(400, 401))
def browse(
    library: LibraryDep,
    filters: FiltersDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    sort: Annotated[str | None, Query(description="Order by a plugin's sort key; default newest first.")] = None,
) -> dict[str, Any]:
    """Assets that pass the filters, without a query: newest first, or by a plugin's sort key."""
    hits = library.browse(limit=limit, offset=offset, sort=sort, **filters)
    return {"offset": offset, "limit": limit, "results": [hit_json(h) for h in hits]}
