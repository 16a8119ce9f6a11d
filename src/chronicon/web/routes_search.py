"""Search routes: text search with filters, search by an uploaded photo, and browsing without a query."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from chronicon.library import Library
from chronicon.search.engine import SearchResults as HitList
from chronicon.web.deps import FiltersDep, LibraryDep, hit_json
from chronicon.web.models import BrowseResults, SearchResults, errors
from chronicon.web.uploads import MAX_UPLOAD, MAX_UPLOAD_PIXELS, DecodeGate, saved_query_photo

router = APIRouter(prefix="/api", tags=["search"])

# The request around the upload: the multipart framing and the small `q` and `limit` fields.
MAX_BODY = MAX_UPLOAD + 64 * 1024
# Where the upload limits are told to clients (the schema of the form, the route's description).
_LIMITS = f"at most {MAX_UPLOAD // 2**20} MiB and {MAX_UPLOAD_PIXELS // 1_000_000} megapixels"
UPLOAD_FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": f"A photo (JPEG, PNG, WebP, ...), {_LIMITS}.",
                    },
                    "q": {"type": "string", "maxLength": 1000, "description": "Text to combine with the photo."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 40},
                },
            }
        }
    },
}


def _results(query: str | None, filters: dict[str, Any], hits: HitList, started: float) -> dict[str, Any]:
    """The body of both searches: the query, the time taken, the vector space searched, the filters and the hits."""
    return {
        "query": query,
        "seconds": round(time.perf_counter() - started, 4),
        "space": hits.space,
        "filters": filters,
        "hidden": getattr(hits, "hidden", 0),
        "cutoff": getattr(hits, "cutoff", None),
        "results": [hit_json(h) for h in hits],
    }


@router.get("/search", response_model=SearchResults, responses=errors(400, 401, 503))
def search(
    library: LibraryDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description='The query, e.g. "beach + sunset - people".')],
    min_score: Annotated[float | None, Query(ge=-1.0, le=1.0, description="Hide weaker matches (-1..1).")] = None,
    sort: Annotated[
        str | None,
        Query(max_length=100, description="relevance (default), date (newest first) or a plugin's sort key."),
    ] = None,
    show_all: Annotated[
        bool, Query(alias="all", description="Also list weak matches (the relevance cutoff hides them).")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="Number of results.")] = 40,
    space: Annotated[str | None, Query(max_length=100, description="auto, or a kind in /api/meta.")] = None,
    hybrid: Annotated[bool | None, Query(description="Also match words in labels, transcripts, captions.")] = None,
    expand_stacks: Annotated[
        bool, Query(description="List every member of a stack (RAW + JPEG, burst, Live Photo), not just its cover.")
    ] = False,
) -> dict[str, Any]:
    """Semantic search by text, with filters; plugin filters (see `/api/meta`) are accepted by name."""
    started = time.perf_counter()
    hits = library.search(q, limit=limit, min_score=min_score, space=space, hybrid=hybrid, sort=sort,
                          show_all=show_all, expand_stacks=expand_stacks, **filters)  # fmt: skip
    return _results(q, filters, hits, started)


def _form_fields(form: Any) -> tuple[UploadFile, str | None, int]:
    """The upload and the `q` and `limit` fields of the form, checked (400 when missing or malformed)."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(status_code=400, detail="file: send the photo as the multipart field 'file'")
    q = form.get("q")
    if q is not None and (not isinstance(q, str) or len(q) > 1000):
        raise HTTPException(status_code=400, detail="q: text of at most 1000 characters")
    text = form.get("limit")
    if text is None or text == "":
        return upload, q or None, 40
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or not 1 <= int(text[:5]) <= 1000:
        raise HTTPException(status_code=400, detail="limit: a whole number from 1 to 1000")
    return upload, q or None, int(text)


def _search_photo(library: Library, gate: DecodeGate, upload: UploadFile, q: str | None, limit: int,
                  filters: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    temp = saved_query_photo(upload.file, gate)  # checked and reduced before the search decodes it again
    try:
        hits = library.search(q, image=temp, limit=limit, **filters)
    finally:
        os.unlink(temp)
    return _results(q, filters, hits, started)


@router.post(
    "/search/image",
    response_model=SearchResults,
    responses=errors(400, 401, 403, 413, 503),
    openapi_extra={"requestBody": UPLOAD_FORM},
)
async def search_image(request: Request, library: LibraryDep, filters: FiltersDep) -> dict[str, Any]:
    """Assets that look like the uploaded photo (multipart field `file`, with optional `q` and `limit`). One
    file per request, photos only, at most 32 MiB and 50 megapixels (checked from the header before any pixel
    is decoded; 413 above). The photo is decoded at reduced size, a few at a time (503 when the server is busy
    with other uploads), and the search reads a small copy in a temporary file, deleted afterwards."""
    gate: DecodeGate = request.app.state.decode_gate
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        upload, q, limit = _form_fields(form)
        return await run_in_threadpool(_search_photo, library, gate, upload, q, limit, filters)


@router.get("/browse", response_model=BrowseResults, responses=errors(400, 401))
def browse(
    library: LibraryDep,
    filters: FiltersDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    sort: Annotated[
        str | None, Query(max_length=100, description="Order by a plugin's sort key; default newest first.")
    ] = None,
    expand_stacks: Annotated[
        bool, Query(description="List every member of a stack (RAW + JPEG, burst, Live Photo), not just its cover.")
    ] = False,
) -> dict[str, Any]:
    """Assets that pass the filters, without a query: newest first, or by a plugin's sort key; a stack (RAW + JPEG,
    burst, Live Photo) once, by its cover."""
    hits = library.browse(limit=limit, offset=offset, sort=sort, expand_stacks=expand_stacks, **filters)
    return {"offset": offset, "limit": limit, "results": [hit_json(h) for h in hits]}
