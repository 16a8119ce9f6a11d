"""An exclusive scan lock on the catalog folder that a crashed or killed scan never leaves stuck."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from chronicon.catalog.faults import guarded
from chronicon.catalog.lease import LeaseLock, held_message
from chronicon.catalog.location import CatalogLocation, opened_remote
from chronicon.errors import CatalogLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ScanLock:
    """flock() on `<catalog>/scan.lock`: the kernel drops it when the holder dies, even on SIGKILL.

    The file also records who holds it, so a refused scan can say which process to look at. On systems
    without flock a PID check decides whether a leftover lock is stale.

    For an object-store catalog (an `s3://` URI, its CatalogLocation, or the staging folder `Library.catalog_dir`
    of one) every method works on its lease object instead (`self.lease`, `chronicon.catalog.lease`).
    """

    def __init__(self, catalog_dir: Path | str | CatalogLocation) -> None:
        remote = opened_remote(catalog_dir)
        self.lease = LeaseLock(remote) if remote is not None else None
        folder = catalog_dir.local if isinstance(catalog_dir, CatalogLocation) else Path(catalog_dir)
        self.path = folder / "scan.lock"
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, or raise CatalogLockedError naming the holder; `wait` seconds of retries first (for
        short holders such as a plugin command's write, or `is_held` checks)."""
        if self.lease is not None:
            self.lease.acquire(wait)
            return
        with guarded("scan.lock", "take", self.path.parent):  # read-only, full, no permission: one line
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        try:
            if fcntl is not None:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise CatalogLockedError(self._held_message()) from None
                        time.sleep(0.05)
            else:  # pragma: no cover - Windows
                holder = self._holder()
                if holder and _pid_alive(int(holder.get("pid", 0))) and holder.get("host") == socket.gethostname():
                    raise CatalogLockedError(self._held_message())
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            data = json.dumps(info).encode()
            with guarded("scan.lock", "take", self.path.parent):
                # Overwrite in place, then cut: the file keeps its block, so a full disk can still be locked
                # (and then report which table could not be written).
                os.pwrite(fd, data.ljust(max(len(data), 128)), 0)
                os.ftruncate(fd, max(len(data), 128))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def is_held(self) -> bool:
        """Whether some process holds the lock now, checked without taking it or writing anything."""
        if self.lease is not None:
            return self.lease.is_held()
        if fcntl is None:  # pragma: no cover - Windows
            holder = self._holder()
            return bool(holder and _pid_alive(int(str(holder.get("pid", 0)))))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False  # no lock file: nobody ever scanned, or the folder is not readable
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts only with a holder's exclusive lock
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # drops the shared lock at once
        return False

    def check(self) -> None:
        """Raise CatalogLockedError when this holder lost the lock: an object-store lease taken over after this
        process stalled past its TTL (an flock is never lost). Called before each commit of a scan."""
        if self.lease is not None:
            self.lease.check()

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()
            return
        if self._fd is None:
            return
        try:
            if fcntl is None:  # pragma: no cover - Windows: the text is the lock
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock; the holder info stays (flock, not the text, decides)
        finally:
            self._fd = None

    def _holder(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _held_message(self) -> str:
        return held_message(str(self.path.parent), self._holder() or {})

    def __enter__(self) -> ScanLock:
        if self.lease is not None:
            if not self.lease.held:
                self.lease.acquire()
        elif self._fd is None:  # already taken with acquire(wait=...) before the with-block
            self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:  # pragma: no cover - Windows path
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
