"""REST routes of the albums plugin for `chronicon serve`: list, get, create (and delete) albums."""

from __future__ import annotations

from typing import Any

from chronicon.errors import CatalogLockedError, ChroniconError

from . import service
from .configured import sync_config
from .rules import AlbumRule, NeedsPluginError, RuleError

LOCKED = "a scan is running, try again"


def add_routes(app: Any, library: Any) -> None:
    """Add `/api/albums` routes to a FastAPI app (fastapi is imported here: it is an optional part)."""
    from fastapi import APIRouter, Body, HTTPException

    router = APIRouter(tags=["albums"])

    def found(name: str) -> Any:
        album = service.store_of(library).get(name)
        if album is None:
            raise HTTPException(404, detail=f"no album named {name!r}")
        return album

    @router.get("/api/albums")
    def list_albums() -> dict[str, Any]:
        """Every album without its items."""
        store = service.store_of(library)
        service.synced(library, store)
        return {"albums": [service.summary_view(a) for a in store.all()]}

    @router.get("/api/albums/{name}")
    def get_album(name: str) -> dict[str, Any]:
        """One album with its items, best first (rebuilt first when dirty and no scan runs)."""
        store = service.store_of(library)
        service.synced(library, store)
        album = found(name)
        return service.detail_view(service.fresh(library, store, album))

    @router.post("/api/albums", status_code=201)
    def create_album(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        """Create an album from `{"name": ..., "query": ..., <rule fields>}` and fill it now."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise HTTPException(400, detail="give the album a non-empty `name`")
        try:
            rule = AlbumRule.from_mapping(body, ignore=("name",))
        except RuleError as exc:
            raise HTTPException(400, detail=str(exc)) from exc
        store = service.store_of(library)
        try:
            with service.write_lock(library):
                sync_config(library.config, store)
                album = service.create(library, store, name, rule)
        except CatalogLockedError as exc:
            raise HTTPException(409, detail=LOCKED) from exc
        except (service.AlbumExistsError, service.ConfigAlbumError) as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        except (RuleError, NeedsPluginError) as exc:
            raise HTTPException(400, detail=str(exc)) from exc
        except ChroniconError as exc:
            raise HTTPException(500, detail=str(exc)) from exc
        return service.detail_view(album)

    @router.delete("/api/albums/{name}")
    def delete_album(name: str) -> dict[str, Any]:
        """Delete a command-line or API album (config albums are edited in the config file)."""
        store = service.store_of(library)
        found(name)
        try:
            with service.write_lock(library):
                gone = service.delete(store, name)
        except CatalogLockedError as exc:
            raise HTTPException(409, detail=LOCKED) from exc
        except service.ConfigAlbumError as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        except service.NoSuchAlbumError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        return {"deleted": gone.name}

    app.include_router(router)
