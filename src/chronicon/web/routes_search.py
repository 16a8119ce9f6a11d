"""Search routes: text search with filters, search by an uploaded photo, and browsing without a query."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from chronicon.library import Library
from chronicon.media.sniff import SNIFF_BYTES, sniff_bytes
from chronicon.types import MediaKind
from chronicon.web.deps import FiltersDep, LibraryDep, hit_json
from chronicon.web.models import BrowseResults, SearchResults, errors

router = APIRouter(prefix="/api", tags=["search"])

MAX_UPLOAD = 64 * 1024 * 1024
# The request around the upload: the multipart framing and the small `q` and `limit` fields.
MAX_BODY = MAX_UPLOAD + 64 * 1024
_SUFFIXES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif",
             "heif": ".heic", "avif": ".avif"}  # fmt: skip
UPLOAD_FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "A photo (JPEG, PNG, WebP, ...)."},
                    "q": {"type": "string", "maxLength": 1000, "description": "Text to combine with the photo."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 40},
                },
            }
        }
    },
}


def _space(library: Any, space: str | None) -> str | None:
    try:
        return str(library.search_engine.encoder(space).space)
    except Exception:
        return None


def _results(library: Library, query: str | None, space: str | None, filters: dict[str, Any], hits: list[Any],
             started: float) -> dict[str, Any]:  # fmt: skip
    """The body of both searches: the query, the time taken, the vector space, the filters and the hits."""
    return {
        "query": query,
        "seconds": round(time.perf_counter() - started, 4),
        "space": _space(library, space),
        "filters": filters,
        "results": [hit_json(h) for h in hits],
    }


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
    return _results(library, q, space, filters, hits, started)


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


def _save_photo(upload: UploadFile) -> str:
    """The upload in a temporary file (named by what its bytes are); only photos, at most MAX_UPLOAD bytes."""
    head = upload.file.read(SNIFF_BYTES)
    sniffed = sniff_bytes(head) if head else None
    if not head:
        raise HTTPException(status_code=400, detail="the upload is empty")
    if sniffed is None or sniffed.kind != MediaKind.IMAGE:
        raise HTTPException(status_code=400, detail="upload a photo (JPEG, PNG, WebP, HEIC, ...): this is not one")
    handle, temp = tempfile.mkstemp(prefix="chronicon-query-", suffix=_SUFFIXES.get(sniffed.format, ""))
    try:
        written = len(head)
        with os.fdopen(handle, "wb") as out:
            out.write(head)
            while chunk := upload.file.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_UPLOAD:
                    raise HTTPException(status_code=413, detail=f"the upload is larger than {MAX_UPLOAD} bytes")
                out.write(chunk)
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def _search_photo(library: Library, upload: UploadFile, q: str | None, limit: int,
                  filters: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    temp = _save_photo(upload)
    try:
        hits = library.search(q, image=temp, limit=limit, **filters)
    finally:
        os.unlink(temp)
    return _results(library, q, None, filters, hits, started)


@router.post(
    "/search/image",
    response_model=SearchResults,
    responses=errors(400, 401, 413, 503),
    openapi_extra={"requestBody": UPLOAD_FORM},
)
async def search_image(request: Request, library: LibraryDep, filters: FiltersDep) -> dict[str, Any]:
    """Assets that look like the uploaded photo (multipart field `file`, with optional `q` and `limit`; kept in
    a temporary file, deleted after the search). One file per request, photos only, at most 64 MiB."""
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        upload, q, limit = _form_fields(form)
        return await run_in_threadpool(_search_photo, library, upload, q, limit, filters)


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
