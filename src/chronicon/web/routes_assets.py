"""Asset routes: details, thumbnails, the original file (with byte ranges) and the transcript around a time."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response

from chronicon.library import Library
from chronicon.search.engine import _segment_thumbnail
from chronicon.web.deps import LibraryDep, media_url, thumbnail_url
from chronicon.web.media_types import FILE_HEADERS, media_type
from chronicon.web.models import Asset, Transcript, errors
from chronicon.web.ranges import file_response
from chronicon.web.security import catalog_file, catalog_key, check_id, original_path

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
    data["stack"] = library.stack_of(row)
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
    relative = _segment_thumbnail(row, segment) if segment > 0 else row.get("thumbnail")
    if not relative or not isinstance(relative, str):
        raise HTTPException(status_code=404, detail="this asset has no thumbnail")
    headers = {**FILE_HEADERS, "Cache-Control": "private, max-age=3600"}
    if library.catalog_location.remote:  # the thumbnail is an object beside the tables: read it through boto3
        data = library.catalog.read_file(catalog_key(relative))
        if data is None:
            raise HTTPException(status_code=404, detail="no thumbnail in the catalog's object store")
        return Response(data, media_type="image/webp", headers=headers)
    path = catalog_file(str(library.catalog_dir), relative)
    return FileResponse(path, media_type="image/webp", headers=headers)


RANGE = {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}, "description": "bytes=a-b"}


@router.get(
    "/{asset_id}/original",
    response_class=Response,
    responses={**BINARY, **errors(400, 401, 403, 404, 416)},
    openapi_extra={"parameters": [RANGE]},
)
def original(library: LibraryDep, asset_id: AssetId, request: Request) -> Response:
    """The original file, streamed; `Range: bytes=a-b` / `a-` / `-n` gives 206 partial content (video seeking),
    several ranges or one outside the file give 416. Only files inside the catalog's roots are served. The media
    type comes from the format the scan read in the file's bytes (`format`), never from its name."""
    row = _row(library, asset_id)
    path = original_path(row, library.config["roots"] or [])
    head = request.method == "HEAD"
    return file_response(path, request.headers.get("range"), media_type(row.get("format")), FILE_HEADERS, head=head)


# HEAD answers like GET without the body (players and download managers ask it first); not in the spec, where
# it would only repeat the GET operations.
router.add_api_route("/{asset_id}/thumbnail", thumbnail, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/{asset_id}/original", original, methods=["HEAD"], include_in_schema=False)


@router.get("/{asset_id}/transcript", response_model=Transcript, responses=errors(400, 401, 404))
def transcript(
    library: LibraryDep,
    asset_id: AssetId,
    around: Annotated[float | None, Query(ge=0, le=1e7, description="Seconds: only segments near this time.")] = None,
    window: Annotated[float, Query(gt=0, le=3600, description="How far around `around`, in seconds.")] = 30.0,
) -> dict[str, Any]:
    """What is said in a video, as timed segments (all of them, or those within `window` s of `around`)."""
    row = _row(library, asset_id)
    segments = timed_segments(row.get("transcript"), around, window)
    return {"id": asset_id, "around": around, "language": row.get("language"), "segments": segments}


def timed_segments(text: Any, around: float | None = None, window: float = 30.0) -> list[dict[str, Any]]:
    """The well-formed segments of a transcript's JSON text (all, or those within `window` s of `around`);
    malformed JSON or entries are left out."""
    try:
        segments = json.loads(text or "[]")
    except (TypeError, ValueError):
        segments = []
    good = [s for s in map(_timed, segments if isinstance(segments, list) else []) if s is not None]
    if around is not None:
        good = [s for s in good if s["end"] >= around - window and s["start"] <= around + window]
    return good


def _timed(entry: Any) -> dict[str, Any] | None:
    """A transcript segment with finite `start` and `end` seconds and `text`; None for a malformed entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
        return None
    try:
        start, end = float(entry["start"]), float(entry["end"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(start) and math.isfinite(end)):
        return None
    return {**entry, "start": start, "end": end}
