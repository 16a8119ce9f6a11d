"""The `serve` command: the web app and REST API over the catalog (`chronicon.web`), on 127.0.0.1 by default."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import click

from chronicon.api.cli import AppState, CannotRun, UsageError
from chronicon.errors import ChroniconError, ConfigError


@dataclass
class ServeSettings:
    """Where and how `serve` listens, resolved from its options over the `server.*` config keys."""

    host: str
    port: int
    token: str | None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """Whether an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: tuple[str, ...] | list[str]) -> list[str]:
    """The Host names the server answers to besides the loopback ones: the address it listens on, the names
    given with --allow-host, and, when it listens on every address (0.0.0.0, ::), this machine's name and
    addresses (best effort: add a DNS name or a proxy's Host with --allow-host)."""
    names = [host, *extra]
    if host.strip("[]") in ("0.0.0.0", "::", ""):
        names.remove(host)
        names += [socket.gethostname(), socket.getfqdn()]
        with contextlib.suppress(OSError):
            names += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)]
    return list(dict.fromkeys(n for n in names if n))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free one; the caller reads which from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def resolve_serve_settings(config: Any, host: str | None, port: int | None, token: str | None) -> ServeSettings:
    """Options win over `server.host`, `server.port`, `server.token`; an empty token means none."""
    chosen_token = token if token is not None else config["server.token"]
    return ServeSettings(
        host=host or str(config["server.host"]),
        port=int(port if port is not None else config["server.port"]),
        token=str(chosen_token) if chosen_token else None,
    )


@click.command()
@click.option("--host", help="Address to listen on (default server.host: 127.0.0.1, this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), help="TCP port (default server.port: 8765; 0 = any).")
@click.option("--token", help="Require this token on every data request (default server.token).")
@click.option("--new-token", is_flag=True, help="Make up a random token for this run and print it.")
@click.option("--allow-host", "allow_host", multiple=True, metavar="NAME",
              help="Also answer requests whose Host header names NAME (a DNS name, a proxy's host; "
              "repeatable; '*' = any). Loopback names and --host are always allowed.")  # fmt: skip
@click.option("--print-settings", is_flag=True, help="Print the resolved host, port and token use, then exit.")
@click.pass_obj
def serve(state: AppState, host: str | None, port: int | None, token: str | None, new_token: bool,
          allow_host: tuple[str, ...], print_settings: bool) -> None:  # fmt: skip
    """Start the web app and REST API over the catalog: search, browse, play videos at the matched moment,
    albums. Open the printed address in a browser; the API is documented at /docs.

    \b
    Examples:
      chronicon serve                          # http://127.0.0.1:8765/
      chronicon serve --port 9000 --new-token  # prints a URL with the token in it
      chronicon serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"   # reachable from the network
      chronicon serve --allow-host photos.example.org   # behind a proxy that keeps its Host header

    Read-only: nothing it serves can modify or delete your files. Only files under the catalog's roots are
    served. Requests must name the server by a loopback name, --host or an --allow-host name (no DNS
    rebinding). A scan may run at the same time (searches see its committed batches).
    """
    library = state.library()
    if new_token:
        token = secrets.token_urlsafe(24)
    settings = resolve_serve_settings(library.config, host, port, token)
    if not settings.loopback and not settings.token:
        click.secho(
            f"WARNING: listening on {settings.host} WITHOUT a token: anyone who can reach this machine can "
            "browse and download your whole library. Use --token or --new-token, or keep 127.0.0.1.",
            fg="red",
            bold=True,
            err=True,
        )
    if print_settings:
        click.echo(f"host {settings.host}\nport {settings.port}\ntoken {'set' if settings.token else 'none'}")
        return
    try:
        import uvicorn

        from chronicon.web import create_app
    except ImportError as exc:
        raise CannotRun(f"the web app needs the server extra: pip install 'chronicon[server]' ({exc})") from exc
    try:
        app = create_app(library, token=settings.token, allowed_hosts=allowed_hosts(settings.host, allow_host))
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    except ChroniconError as exc:
        raise CannotRun(str(exc)) from exc
    try:
        listener = bind(settings.host, settings.port)
    except OSError as exc:
        raise CannotRun(f"cannot listen on {settings.host}:{settings.port}: {exc}") from exc
    port = int(listener.getsockname()[1])
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    suffix = f"/?token={settings.token}" if settings.token and new_token else "/"
    click.echo(f"chronicon: serving {library.catalog_location.uri} on http://{shown}:{port}{suffix}", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])
