"""REST routes of the albums plugin for `chronicon serve`: list, get, create (and delete) albums."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chronicon.api import CatalogError, CatalogLockedError, ChroniconError, storage_message, storage_status

from . import service
from .rules import MAX_NAME, AlbumRule, NeedsPluginError, RuleError

if TYPE_CHECKING:
    from fastapi import APIRouter

LOCKED = "a scan is running, try again"
# The REST spelling of AlbumExistsError's advice (the API has no --replace: delete the album first).
EXISTS_HINT = "(delete it, or use --replace)"


def _checked_name(name: object) -> str:
    """The `name` of a request, as text of 1..MAX_NAME characters (else a 400 naming the parameter)."""
    from fastapi import HTTPException

    if not isinstance(name, str) or not name.strip():
        raise HTTPException(400, detail="name: give the album a non-empty `name`")
    if len(name) > MAX_NAME:
        raise HTTPException(400, detail=f"name: at most {MAX_NAME} characters, not {len(name)}")
    return name


def _storage_fault(exc: Exception) -> Exception:
    """A catalog that cannot be written (read-only, no permission, disk full: CatalogError or OSError) as a
    one-line 503, or 507 when the disk is full; never a 500 with a traceback."""
    from fastapi import HTTPException

    cause = exc if isinstance(exc, OSError) else exc.__cause__
    if isinstance(cause, OSError):
        return HTTPException(storage_status(cause), detail=storage_message(cause))
    first = (str(exc).strip().splitlines() or ["the catalog cannot be written"])[0][:300]
    return HTTPException(storage_status(exc), detail=first)


Answers = Callable[..., dict[int | str, dict[str, Any]]]


def add_routes(app: Any, library: Any) -> None:
    """Add `/api/albums` routes to a FastAPI app (fastapi is imported here: it is an optional part).

    The GET routes take no lock and write nothing in the common case, so the app may run them in parallel
    threads (see `service.current` and `service.fresh` for the two cases that write, briefly)."""
    from fastapi import APIRouter

    router = APIRouter(tags=["albums"])
    answers = _problem_answers()
    _add_read_routes(router, library, answers)
    _add_write_routes(router, library, answers)
    app.include_router(router)


def _problem_answers() -> Answers:
    """`answers(e404="...")`: the `responses=` of a route, each error code a `Problem`."""
    from pydantic import BaseModel

    class Problem(BaseModel):
        """What an error answer holds: why the request failed."""

        detail: str

    def answers(**codes: str) -> dict[int | str, dict[str, Any]]:
        """The `responses=` of a route: its error codes (`e404="..."`), each a `Problem`."""
        return {int(code[1:]): {"model": Problem, "description": text} for code, text in codes.items()}

    return answers


def _add_read_routes(router: APIRouter, library: Any, answers: Answers) -> None:
    """GET /api/albums and GET /api/albums/{name}."""
    from fastapi import HTTPException

    @router.get("/api/albums")
    def list_albums() -> dict[str, Any]:
        """Every album without its items; `problems` lists bad `albums.define` entries of the config."""
        view = service.current(library, service.store_of(library))
        return {"albums": [service.summary_view(a) for a in view.albums], "problems": view.problems}

    @router.get("/api/albums/{name}", responses=answers(e404="no album has this name"))
    def get_album(name: str) -> dict[str, Any]:
        """One album with its items, best first (a dirty album is evaluated for this answer)."""
        _checked_name(name)
        store = service.store_of(library)
        try:
            album = service.current(library, store).find(name)
        except service.NoSuchAlbumError as exc:
            raise HTTPException(404, detail=f"no album named {name!r}") from exc
        return service.detail_view(service.fresh(library, store, album))


def _add_write_routes(router: APIRouter, library: Any, answers: Answers) -> None:
    """POST /api/albums and DELETE /api/albums/{name} (each under the scan lock, briefly)."""
    from fastapi import Body, HTTPException

    @router.post(
        "/api/albums",
        status_code=201,
        responses=answers(
            e400="a bad rule, an unknown filter, or a filter or sort key whose plugin is not loaded",
            e409="an album of that name exists, or a scan is running",
            e500="another library error (its message says which)",
            e503="the catalog cannot be written (read-only file system, no permission, I/O error)",
            e507="the catalog's disk is full",
        ),
    )
    def create_album(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        """Create an album from `{"name": ..., "query": ..., <rule fields and plugin filters>}` and fill it now.
        The name has at most 200 characters, the query and other texts at most 1000."""
        name = _checked_name(body.get("name"))
        try:
            rule = AlbumRule.from_mapping(body, ignore=("name",), known=library.search_filters)
            album = service.create(library, service.store_of(library), name, rule)
        except CatalogLockedError as exc:
            raise HTTPException(409, detail=LOCKED) from exc
        except (service.AlbumExistsError, service.ConfigAlbumError) as exc:
            raise HTTPException(409, detail=str(exc).replace(EXISTS_HINT, "(delete it first)")) from exc
        except (RuleError, NeedsPluginError) as exc:
            raise HTTPException(400, detail=str(exc)) from exc
        except (CatalogError, OSError) as exc:
            raise _storage_fault(exc) from exc
        except ChroniconError as exc:
            raise HTTPException(500, detail=str(exc)) from exc
        return service.detail_view(album)

    @router.delete(
        "/api/albums/{name}",
        responses=answers(
            e404="no album has this name",
            e409="a config album, or a scan is running",
            e503="the catalog cannot be written (read-only file system, no permission, I/O error)",
            e507="the catalog's disk is full",
        ),
    )
    def delete_album(name: str) -> dict[str, Any]:
        """Delete a command-line or API album (config albums are edited in the config file)."""
        _checked_name(name)
        try:
            gone = service.delete(library, service.store_of(library), name)
        except CatalogLockedError as exc:
            raise HTTPException(409, detail=LOCKED) from exc
        except service.ConfigAlbumError as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        except service.NoSuchAlbumError as exc:
            raise HTTPException(404, detail=f"no album named {name!r}") from exc
        except (CatalogError, OSError) as exc:
            raise _storage_fault(exc) from exc
        return {"deleted": gone.name}
