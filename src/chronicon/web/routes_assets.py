"""Asset routes: details, thumbnails, the original file (with byte ranges) and the transcript around a time."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response

from chronicon.library import Library
from chronicon.web.deps import LibraryDep, media_url, thumbnail_url
from chronicon.web.models import Asset, ErrorBody, Transcript, errors
from chronicon.web.ranges import file_response
from chronicon.web.security import catalog_file, check_id, original_path

router = APIRouter(prefix="/api/assets", tags=["assets"])

# Bookkeeping columns that are no use to a viewer (and raw bytes that are not JSON).
INTERNAL = {"path_raw", "phases", "pass_signature", "content_hash", "mtime_ns", "error_kind", "label_scores_raw"}
AssetId = Annotated[str, Path(min_length=1, max_length=64, description="The asset id (from search results).")]
BINARY: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file", "content": {"application/octet-stream": {}}},
    206: {"description": "The requested byte range", "content": {"application/octet-stream": {}}},
}


def _row(library: Library, asset_id: str) -> dict[str, Any]:
    check_id(asset_id)
    rows = library.catalog.rows_by_id([asset_id])
    row = rows.get(asset_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no asset {asset_id!r} in the catalog")
    return row


def _plain(value: Any) -> Any:
    """A catalog value as JSON: JSON text decoded, times as ISO text, bytes and NaN left out."""
    if isinstance(value, bytes):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@router.get("/{asset_id}", response_model=Asset, responses=errors(400, 401, 404))
def asset(library: LibraryDep, asset_id: AssetId) -> dict[str, Any]:
    """Everything the catalog knows about one asset: metadata, labels, caption, transcript, shots, plugin
    columns (faces, aesthetic, ...) — without internal bookkeeping."""
    row = _row(library, asset_id)
    data = {k: _plain(v) for k, v in row.items() if k not in INTERNAL and not k.endswith("_text")}
    data["thumbnail_url"] = thumbnail_url(asset_id) if row.get("thumbnail") else None
    data["media_url"] = media_url(asset_id)
    return data


WEBP: dict[int | str, dict[str, Any]] = {200: {"description": "A WebP thumbnail", "content": {"image/webp": {}}}}


@router.get("/{asset_id}/thumbnail", response_class=Response, responses={**WEBP, **errors(400, 401, 403, 404)})
def thumbnail(
    library: LibraryDep,
    asset_id: AssetId,
    segment: Annotated[int, Query(ge=0, le=100_000, description="A video shot (1..n); 0 = the poster.")] = 0,
) -> Response:
    """The asset's WebP thumbnail, or a video shot's with `?segment=N`."""
    row = _row(library, asset_id)
    relative = row.get("thumbnail")
    if segment > 0:
        try:
            shots = json.loads(row.get("segments") or "[]")
        except ValueError:
            shots = []
        relative = next((s.get("thumbnail") for s in shots if s.get("index") == segment), None)
    if not relative:
        raise HTTPException(status_code=404, detail="this asset has no thumbnail")
    path = catalog_file(str(library.catalog_dir), str(relative))
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": "private, max-age=3600"})


RANGE = {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}, "description": "bytes=a-b"}


@router.get(
    "/{asset_id}/original",
    response_class=Response,
    responses={**BINARY, 416: {"model": ErrorBody, "description": "Bad range"}, **errors(400, 401, 403, 404)},
    openapi_extra={"parameters": [RANGE]},
)
def original(library: LibraryDep, asset_id: AssetId, request: Request) -> Response:
    """The original file, streamed; `Range: bytes=a-b` / `a-` / `-n` gives 206 partial content (video seeking),
    several ranges or one outside the file give 416. Only files inside the catalog's roots are served."""
    row = _row(library, asset_id)
    path = original_path(row, library.config["roots"] or [])
    return file_response(path, request.headers.get("range"))


@router.get("/{asset_id}/transcript", response_model=Transcript, responses=errors(400, 401, 404))
def transcript(
    library: LibraryDep,
    asset_id: AssetId,
    around: Annotated[float | None, Query(ge=0, le=1e7, description="Seconds: only segments near this time.")] = None,
    window: Annotated[float, Query(gt=0, le=3600, description="How far around `around`, in seconds.")] = 30.0,
) -> dict[str, Any]:
    """What is said in a video, as timed segments (all of them, or those within `window` s of `around`)."""
    row = _row(library, asset_id)
    try:
        segments = json.loads(row.get("transcript") or "[]")
    except ValueError:
        segments = []
    good = [s for s in segments if isinstance(s, dict) and {"start", "end", "text"} <= set(s)]
    if around is not None:
        good = [s for s in good if float(s["end"]) >= around - window and float(s["start"]) <= around + window]
    return {"id": asset_id, "around": around, "language": row.get("language"), "segments": good}
