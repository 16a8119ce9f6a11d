"""Status routes: catalog stats, scan status, and what the page needs to build its filters (`/api/meta`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from chronicon import __version__
from chronicon.web.deps import LibraryDep
from chronicon.web.models import Meta, ScanStatus, Stats, errors

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/stats", response_model=Stats, responses=errors(401))
def stats(library: LibraryDep) -> dict[str, Any]:
    """What the catalog holds: assets by kind and status, bytes, video seconds, vectors per space."""
    return library.stats()


@router.get("/scan", response_model=ScanStatus, responses=errors(401))
def scan_status(library: LibraryDep) -> dict[str, Any]:
    """Whether a scan is running now (another process holds the catalog's scan lock), and the catalog's state."""
    catalog = library.catalog
    table = catalog.to_arrow(["updated_at"])
    newest = max((v for v in table.column("updated_at").to_pylist() if v is not None), default=None)
    return {
        "scanning": library.is_scanning(),
        "assets": catalog.count(),
        "table_version": int(catalog.assets.version),
        "last_update": newest.isoformat() if newest is not None else None,
    }


@router.get("/meta", response_model=Meta, responses=errors(401))
def meta(library: LibraryDep, request: Request) -> dict[str, Any]:
    """Plugin filters and sort keys, vector spaces, version, whether albums exist: what the page builds its
    controls from."""
    filters = [{"name": f.name, "help": f.help, "type": f.value_type} for f in library.search_filters.values()]
    paths = request.app.openapi().get("paths", {})  # included routers are not flat in app.routes
    return {
        "version": __version__,
        "filters": filters,
        "sort_keys": {name: key.help for name, key in library.sort_keys.items()},
        "spaces": library.catalog.vector_spaces(),
        "search_spaces": [
            {"kind": kind, "space": space, "help": help} for kind, space, help in library.search_engine.available()
        ],
        "albums": "/api/albums" in paths,
        "token_required": request.app.state.token is not None,
    }
