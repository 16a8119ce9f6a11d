"""A real server for the web tests: the app under uvicorn in a subprocess on a free loopback port, and its memory.

Run as a script (`python webserver.py CATALOG SETTINGS_JSON`) it serves the catalog on 127.0.0.1 and prints
`port N` once the socket listens; `served(...)` does that and yields the process and its URL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A server subprocess: its pid (the process that serves, for /proc) and base URL."""

    process: subprocess.Popen[str]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served(
    catalog: Path, settings: dict[str, object], *, wrap: Sequence[str] = (), timeout: float = 120
) -> Iterator[Served]:
    """Serve `catalog` (a Library with these config overrides) in a subprocess; `wrap` is a command the server
    runs under (it must `exec` the rest, so the pid stays the server's)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("CHRONICON_SERVER__TOKEN", None)
    command = [*wrap, sys.executable, str(Path(__file__).resolve()), str(catalog), json.dumps(settings)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        port = None
        seen: list[str] = []
        for _ in range(200):  # log lines may come before the port
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("port "):
                port = int(line.split()[1])
                break
        assert port is not None, "the server did not start:\n" + "".join(seen)
        yield Served(process, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB, from /proc/PID/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: `5` to /proc/PID/clear_refs); whether it worked."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(argv: Sequence[str]) -> None:
    import uvicorn

    from chronicon.library import Library
    from chronicon.web import create_app

    catalog, settings = argv[0], json.loads(argv[1])
    library = Library(catalog, overrides=settings, environ={}, entry_points=False)
    app = create_app(library)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"port {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
