"""What the server may serve: the access token, asset ids, and files inside the catalog's roots only."""

from __future__ import annotations

import hmac
import os
import posixpath
import re
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, Request

from chronicon.catalog.store import fs_path
from chronicon.errors import ConfigError

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN = re.compile(r"[\x21-\x7e]+")
# Paths a browser loads before it knows the token: the page shell and its static files hold no data.
PUBLIC_PATHS = ("/", "/favicon.ico", "/docs", "/docs/oauth2-redirect", "/openapi.json")
PUBLIC_PREFIXES = ("/static/",)


def token_of(request: Request) -> str | None:
    """The token a request carries: `Authorization: Bearer T`, else `?token=T` (for <img> and <video>)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


def check_token(token: str) -> str:
    """A configured token must be printable ASCII without spaces (headers carry bytes; URLs are encoded)."""
    if not _TOKEN.fullmatch(token):
        raise ConfigError(
            "server.token: use printable ASCII characters without spaces (letters, digits, punctuation), "
            "e.g. the output of `openssl rand -hex 16`"
        )
    return token


def token_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the configured (ASCII) token with the one given, as bytes."""
    if given is None:
        return False
    try:
        given_bytes = given.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)


def needs_token(path: str) -> bool:
    """Whether a request path is data (everything but the page shell, its static files and the API docs)."""
    return not (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES))


def check_id(asset_id: str) -> str:
    """An asset id as the catalog writes them (letters, digits, - and _); anything else is a 400."""
    if not _ID.fullmatch(asset_id):
        raise HTTPException(status_code=400, detail=f"not an asset id: {asset_id[:80]!r}")
    return asset_id


def check_path_param(value: str, name: str) -> str:
    """A path-like filter value (`under=`): absolute, and no `..` segments or NUL bytes."""
    if "\x00" in value:
        raise HTTPException(status_code=400, detail=f"{name}: NUL bytes are not allowed")
    parts = value.replace("\\", "/").split("/")
    if ".." in parts:
        raise HTTPException(status_code=400, detail=f"{name}: '..' is not allowed in a path")
    return value


def inside(path: str, folder: str) -> bool:
    """Whether the real path `path` lies inside the real folder `folder` (both already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def allowed_roots(row: dict[str, Any], configured: Iterable[str]) -> list[str]:
    """The real paths of the roots a file may be served from: the root the scan recorded, and configured roots."""
    roots = [str(row["root"])] if row.get("root") else []
    roots.extend(os.path.expanduser(str(r)) for r in configured)
    return [os.path.realpath(r) for r in roots]


def original_path(row: dict[str, Any], configured: Iterable[str]) -> str:
    """The real path of an asset's file when it lies inside its roots; 404 when gone, 403 when it escapes them
    (e.g. the file was replaced by a symlink that points elsewhere)."""
    real = os.path.realpath(fs_path(row))
    if not any(inside(real, root) for root in allowed_roots(row, configured)):
        raise HTTPException(status_code=403, detail="this file lies outside the catalog's roots")
    if not os.path.isfile(real):
        raise HTTPException(status_code=404, detail="the file is not on disk any more")
    return real


def catalog_key(relative: str, folder: str = "thumbnails") -> str:
    """An object-store catalog's file by its catalog-relative path: it must name a file inside `folder`."""
    clean = posixpath.normpath(relative)
    if relative.startswith("/") or "\\" in relative or not clean.startswith(folder + "/"):
        raise HTTPException(status_code=403, detail="this file lies outside the catalog's thumbnails")
    return clean


def catalog_file(catalog_dir: str, relative: str, folder: str = "thumbnails") -> str:
    """A file the catalog wrote (a thumbnail) by its catalog-relative path; it must stay inside `folder`."""
    base = os.path.realpath(os.path.join(catalog_dir, folder))
    real = os.path.realpath(os.path.join(catalog_dir, relative))
    if not inside(real, base):
        raise HTTPException(status_code=403, detail="this file lies outside the catalog's thumbnails")
    if not os.path.isfile(real):
        raise HTTPException(status_code=404, detail="no thumbnail on disk")
    return real
