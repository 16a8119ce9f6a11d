"""`create_app(library)`: the FastAPI application of `chronicon serve` (REST API under /api, the page at /)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from chronicon import __version__
from chronicon.errors import (
    CatalogDamagedError,
    CatalogError,
    CatalogLockedError,
    CatalogStorageError,
    ChroniconError,
    ConfigError,
    MediaError,
    ModelUnavailableError,
)
from chronicon.library import Library
from chronicon.web import routes_assets, routes_search, routes_status
from chronicon.web.guard import RequestGuard
from chronicon.web.models import STATUS_TEXT, ErrorBody
from chronicon.web.routes_search import MAX_BODY
from chronicon.web.security import check_token
from chronicon.web.uploads import DecodeGate
from chronicon.web.wording import api_flags, api_message, storage_message, storage_status

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
# The page loads only its own files, thumbnails and media (and blob:/data: URLs); nothing may frame it.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
# How a client sends the token: a Bearer header (Swagger's "Authorize"), or ?token= for <img>/<video> URLs.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "The server's token (`--token`)."},
    "token_query": {"type": "apiKey", "in": "query", "name": "token", "description": "The token, in the URL."},
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every failure uses: `{"error": message, "status": N}`."""
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def status_of(exc: ChroniconError) -> int:
    """The HTTP status of a library error: 400 bad input, 409 locked, 503 nothing to search / no model / the
    catalog cannot be read or written (507 when its disk is full)."""
    from chronicon.search.engine import NoVectorsError
    from chronicon.search.extensions import ExtensionError
    from chronicon.search.filters import FilterError
    from chronicon.search.query import QueryError

    if isinstance(exc, (FilterError, QueryError, ExtensionError, MediaError, ConfigError)):
        return 400
    if isinstance(exc, CatalogLockedError):
        return 409
    if isinstance(exc, (NoVectorsError, ModelUnavailableError)):
        return 503
    if isinstance(exc, CatalogError):
        return storage_status(exc.__cause__ if exc.__cause__ is not None else exc)
    return 500


def one_line(message: str, limit: int = 500) -> str:
    """The first line of a message, at most `limit` characters (no tracebacks or multi-line dumps)."""
    return (message.strip().splitlines() or [""])[0][:limit]


def _install_errors(app: FastAPI, library: Library) -> None:
    def worded(message: str) -> str:
        """The message with CLI flags named as the API's parameters (see `wording`)."""
        return api_message(message, api_flags(library.search_filters))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error(exc.status_code, worded(str(exc.detail)), getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for problem in exc.errors()[:5]:
            where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{where}: {problem.get('msg', 'invalid')}")
        return error(400, "; ".join(parts) or "invalid request")

    async def library_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ChroniconError)
        status = status_of(exc)
        if status == 500:
            log.warning("request %s failed: %s", request.url.path, exc)
        elif status >= 503:
            log.warning("request %s: %s", request.url.path, exc)
        if isinstance(exc, CatalogDamagedError):  # no server paths in the answer
            return error(
                status, f"the catalog table {exc.table!r} is damaged: run `chronicon catalog check` on the server"
            )
        if isinstance(exc, CatalogStorageError) or (
            isinstance(exc, CatalogError) and isinstance(exc.__cause__, OSError)
        ):
            return error(status, storage_message(exc.__cause__ if exc.__cause__ is not None else exc))
        return error(status, worded(one_line(str(exc))))

    async def storage_error(request: Request, exc: Exception) -> Response:
        """An OSError nothing handled: the catalog's storage (read-only, full, no permission, I/O): 503/507."""
        assert isinstance(exc, OSError)
        log.warning("request %s %s: storage error: %s", request.method, request.url.path, exc)
        return error(storage_status(exc), storage_message(exc))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("request %s failed", request.url.path, exc_info=exc)
        return error(500, "internal error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ChroniconError, library_error)
    app.add_exception_handler(OSError, storage_error)
    app.add_exception_handler(Exception, internal_error)  # the last resort; RequestGuard answers the rest


def _install_openapi(app: FastAPI, library: Library) -> None:
    """The spec without FastAPI's default 422 (validation errors are 400 ErrorBody here), and with the plugin
    filters listed as query parameters of the search and browse routes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        extra = [
            {"name": f.name, "in": "query", "required": False, "description": f"{f.help} (plugin filter)",
             "schema": {"type": {"float": "number", "int": "integer"}.get(f.value_type, "string")}}
            for f in library.search_filters.values()
        ]  # fmt: skip
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                if not isinstance(operation, dict):
                    continue
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                if path.startswith("/api/"):  # every API route answers errors through the handlers above
                    writes = method in ("post", "put", "patch", "delete")  # refused from foreign origins (403)
                    for code in (400, 401) + ((404,) if "{" in path else ()) + ((403, 409) if writes else ()):
                        responses.setdefault(str(code), {"description": STATUS_TEXT[code], "content": ERROR_JSON})
                    for code, response in responses.items():  # plugins' own error models too: the handlers
                        if code.isdigit() and int(code) >= 400:  # above answer every error as an ErrorBody
                            response["content"] = ERROR_JSON
                if path in ("/api/search", "/api/browse", "/api/search/image"):
                    have = {p.get("name") for p in operation.get("parameters", [])}
                    operation.setdefault("parameters", []).extend(p for p in extra if p["name"] not in have)
        spec.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ErrorBody.model_json_schema()
        spec["components"]["securitySchemes"] = SECURITY_SCHEMES
        spec["security"] = [{"bearer": []}, {"token_query": []}]  # either one; ignored when no token is set
        spec.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        spec.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    library: Library,
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The web app over one library. With `token` (printable ASCII; ConfigError otherwise), every data request
    needs it (Bearer header or ?token=). Requests must name the server by a loopback name (127.0.0.1,
    localhost, [::1]) or one of `allowed_hosts` in their Host header (`*`: any); a POST, PUT, PATCH or DELETE
    from another site's page (foreign `Origin`, `Sec-Fetch-Site: cross-site`) is refused with 403; a photo
    upload over `max_body` bytes, or any other body over 1 MiB, is refused with 413 before it is read.

    Read-only over the originals: no route writes or deletes a file (plugins' routes may keep their own data,
    e.g. albums). Run it with uvicorn, bound to 127.0.0.1 unless you set a token."""
    if token:
        check_token(token)
    app = FastAPI(
        title="Chronicon",
        version=__version__,
        description="Search and browse a Chronicon media catalog. Errors are JSON `{error, status}`.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.library = library
    app.state.token = token or None
    _ = library.catalog  # opened now, not in two request threads at once
    _ = library.search_engine  # likewise (its models still load on the first query)
    app.state.decode_gate = DecodeGate()  # uploads decoded at once, and the pixel memory they may hold
    _install_errors(app, library)
    app.add_middleware(RequestGuard, allowed_hosts=list(allowed_hosts), max_body=max_body, token=app.state.token)
    for module in (routes_search, routes_assets, routes_status):
        app.include_router(module.router)
    library.plugins.call("chronicon_register_routes", app=app, library=library)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_openapi(app, library)
    return app
