"""What every request passes before the app sees it: an allowed Host header (no DNS rebinding), the token, a body
no larger than the limit (checked before it is read), and a JSON 500 instead of a crash for anything unexpected."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

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


_ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message, "status": status}, status_code=status, headers={**_ALWAYS, **(headers or {})}
    )


class RequestGuard:
    """Pure ASGI middleware (it sees the raw request, before any body is read or any form is parsed).

    - Host: the request's Host must be one of `allowed_hosts` (any port) or a loopback name, else 400. A web
      page cannot then reach this server through a DNS name it controls (DNS rebinding). `*` allows any Host.
    - Token: with `token` set, every path but the page shell, its static files and the API docs needs it
      (`Authorization: Bearer T` or `?token=T`), else 401.
    - Body: a `Content-Length` over `max_body` is answered 413 at once; a body without one (chunked) is counted
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

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(
                        status_code=413, detail=f"the request body is larger than {self.max_body} bytes"
                    )
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

    def _refusal(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        host = headers.get("host")
        if not host or not (self.any_host or host_name(host) in self.allowed):
            shown = (host or "")[:100]
            return _json(400, f"Host {shown!r} is not allowed: open this server by an address it was started with, "
                              "or start it with --allow-host NAME")  # fmt: skip
        if self.token is not None and needs_token(scope["path"]):
            given = token_of(Request(scope))
            if not token_ok(self.token, given):
                message = "wrong token" if given is not None else _NEEDS_TOKEN
                return _json(401, message, {"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is not None:
            if not _LENGTH.fullmatch(length.strip()):
                return _json(400, "bad Content-Length")
            if int(length) > self.max_body:
                return _json(413, f"the request body is larger than {self.max_body} bytes")
        return None
