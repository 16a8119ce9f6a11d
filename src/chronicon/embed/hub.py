"""Whether the model hub can be reached: one short TCP connect before a download is tried.

huggingface_hub retries a download that cannot connect, with back-off, so on a machine without internet a
scan that needs hub weights used to wait minutes before it degraded. A 3-second connect to the endpoint says
the same at once. Behind an HTTP(S) proxy the direct connect proves nothing, so no probe is made there."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
_lock = threading.Lock()
_answers: dict[tuple[str, int], str | None] = {}


def _endpoint() -> tuple[str, int]:
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached now (None when it can, or when a proxy decides); asked once per process."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return None
    host, port = _endpoint()
    with _lock:
        if (host, port) in _answers:
            return _answers[(host, port)]
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
            answer = None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            answer = f"the model hub {host} cannot be reached ({reason}); set HF_HUB_OFFLINE=1 to skip the check"
        _answers[(host, port)] = answer
        return answer


def _forget() -> None:
    """For tests: ask again next time."""
    with _lock:
        _answers.clear()
