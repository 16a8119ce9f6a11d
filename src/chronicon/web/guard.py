"""What every request passes before the app sees it: an allowed Host header (no DNS rebinding), no foreign Origin
on a request that changes data or uploads (no cross-site request forgery), the token, a body no larger than the
limit (checked before it is read), and a JSON 500 instead of a crash for anything unexpected."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chronicon.web.security import needs_token, token_of, token_ok

log = logging.getLogger(__name__)

# Names of this machine a browser uses for a loopback server; the Host check always allows them.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_NEEDS_TOKEN = "this server needs a token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN)"
_LENGTH = re.compile(r"\d{1,19}", re.ASCII)
# Methods that change data or carry an upload: a foreign page may not send them (CSRF).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Paths whose body may be as large as `max_body` (the photo upload); every other body is at most SMALL_BODY.
UPLOAD_PATHS = ("/api/search/image",)
SMALL_BODY = 1024 * 1024


def host_name(value: str) -> str:
    """The host of a Host header (or of an allowed-host setting) without its port and brackets, lower-case:
    `[::1]:8765` -> `::1`, `Example.org.:80` -> `example.org`."""
    value = value.strip()
    if value.startswith("["):
        name = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        name = value.partition(":")[0]
    else:  # a bare name, or a bare IPv6 address (several colons, no port)
        name = value
    return name.lower().rstrip(".")


def host_port(value: str) -> tuple[str, int | None]:
    """The host name (as `host_name` gives it) and the port of a Host header, None when it names no port or
    a bad one."""
    value = value.strip()
    if value.startswith("["):
        rest = value.partition("]")[2]
    elif value.count(":") == 1:
        rest = ":" + value.partition(":")[2]
    else:
        rest = ""
    port = rest[1:] if rest.startswith(":") else ""
    return host_name(value), (int(port) if port.isascii() and port.isdigit() and len(port) <= 5 else None)


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether an `Origin` header names this server: the request's scheme, the host of its Host header and the
    same port (the scheme's default port when either leaves it out). `null` and anything malformed are not."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    scheme = scheme.lower()
    if parts.scheme.lower() != scheme or not parts.hostname or parts.path or parts.query or parts.username:
        return False
    name, own_port = host_port(host)
    default = _DEFAULT_PORTS.get(scheme)
    return host_name(parts.hostname) == name and (port or default) == (own_port or default)


_ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message, "status": status}, status_code=status, headers={**_ALWAYS, **(headers or {})}
    )


class RequestGuard:
    """Pure ASGI middleware (it sees the raw request, before any body is read or any form is parsed).

    - Host: the request's Host must be one of `allowed_hosts` (any port) or a loopback name, else 400. A web
      page cannot then reach this server through a DNS name it controls (DNS rebinding). `*` allows any Host.
    - Origin: a POST, PUT, PATCH or DELETE (an upload included) whose `Origin` is not this server's own
      scheme://host:port, or whose `Sec-Fetch-Site` is `cross-site`, is refused with 403, token or not: a page
      on another site cannot make a browser that can reach this server change or upload anything. Requests
      without either header (curl, scripts) pass.
    - Token: with `token` set, every path but the page shell, its static files and the API docs needs it
      (`Authorization: Bearer T` or `?token=T`), else 401.
    - Body: a `Content-Length` over the limit (`max_body` for the photo upload, at most SMALL_BODY for any
      other request) is answered 413 at once; a body without one (chunked) is counted
      as it arrives and cut off with 413 past the limit.
    - Anything the app raises and nothing handled is logged and answered `{"error": "internal error"}` (500).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str], max_body: int, token: str | None) -> None:
        self.app = app
        self.token = token
        names = {host_name(h) for h in (*LOOPBACK_HOSTS, *allowed_hosts) if h and h.strip()}
        self.any_host = "*" in names
        self.allowed = frozenset(names - {"*"})
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0
        started = False
        limit = self.limit(scope["path"])

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=f"the request body is larger than {limit} bytes")
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                sent = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    sent.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except HTTPException as exc:  # raised where nothing turns it into a response (e.g. the body limit)
            if started:
                raise
            await _json(exc.status_code, str(exc.detail))(scope, receive, send)
        except Exception:
            if started:
                raise
            log.exception("request %s %s failed", scope.get("method"), scope.get("path"))
            await _json(500, "internal error")(scope, receive, send)

    def limit(self, path: str) -> int:
        """The most bytes a request body to this path may have."""
        return self.max_body if path in UPLOAD_PATHS else min(self.max_body, SMALL_BODY)

    def _refusal(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        host = headers.get("host")
        if not host or not (self.any_host or host_name(host) in self.allowed):
            shown = (host or "")[:100]
            return _json(400, f"Host {shown!r} is not allowed: open this server by an address it was started with, "
                              "or start it with --allow-host NAME")  # fmt: skip
        if str(scope.get("method", "")).upper() in UNSAFE_METHODS:
            foreign = _foreign(scope, headers, host)
            if foreign is not None:
                return _json(403, foreign)
        if self.token is not None and needs_token(scope["path"]):
            given = token_of(Request(scope))
            if not token_ok(self.token, given):
                message = "wrong token" if given is not None else _NEEDS_TOKEN
                return _json(401, message, {"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is not None:
            if not _LENGTH.fullmatch(length.strip()):
                return _json(400, "bad Content-Length")
            if int(length) > self.limit(scope["path"]):
                return _json(413, f"the request body is larger than {self.limit(scope['path'])} bytes")
        return None


def _foreign(scope: Scope, headers: Headers, host: str) -> str | None:
    """Why a request that changes data or uploads comes from another site (None: it does not, or it says
    nothing about where it comes from, like curl)."""
    if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return ("cross-site request refused (Sec-Fetch-Site: cross-site): requests that change data or upload "
                "must come from this server's own page")  # fmt: skip
    origin = headers.get("origin")
    if origin is None:
        return None
    scheme = str(scope.get("scheme") or "http")
    if same_origin(origin, scheme, host):
        return None
    return (f"Origin {origin[:100]!r} is not this server ({scheme}://{host.strip()[:100]}): requests that change "
            "data or upload must come from this server's own page, or carry no Origin (like curl)")  # fmt: skip
