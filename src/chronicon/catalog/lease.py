"""The scan lock of an object-store catalog: a lease object taken, renewed and released with S3 conditional writes.

`<prefix>/scan.lease` holds JSON (holder host, pid, started, ttl). It is created with `If-None-Match: *`, so of
two contenders exactly one wins; a heartbeat thread renews it every third of its TTL with `If-Match: <etag>`;
release is a conditional delete. A holder that dies stops renewing: once the object is older than its TTL (by
the store's clock: its Last-Modified against the response's Date) another scan takes it over with
`If-Match: <the stale etag>`, which again only one contender can win."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from chronicon.catalog.location import CatalogLocation
from chronicon.catalog.objectstore import error_code, s3_client
from chronicon.errors import CatalogError, CatalogLockedError

log = logging.getLogger(__name__)

LEASE_NAME = "scan.lease"
DEFAULT_TTL = 60.0
_LOST = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class LeaseLock:
    """A lease on `<catalog>/scan.lease` with ScanLock's interface (acquire/is_held/release, a context manager);
    `ScanLock(target)` of an object-store catalog works through one."""

    def __init__(self, location: CatalogLocation, ttl: float | None = None, client: Any = None) -> None:
        if not location.remote:
            raise CatalogError(f"{location.uri} is not an object-store catalog; use ScanLock for a folder")
        self.location = location
        self.ttl = float(ttl if ttl is not None else location.lease_seconds)
        if self.ttl <= 0:
            raise CatalogError(f"the lease TTL must be positive, not {self.ttl}")
        self.key = location.key(LEASE_NAME)
        self._client = client
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.lost = False  # set when another process took the lease over (this one stalled past its TTL)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client(self.location)
        return self._client

    @property
    def held(self) -> bool:
        """Whether this object holds the lease now (taken and not released or lost)."""
        return self._etag is not None

    @property
    def uri(self) -> str:
        return f"{self.location.uri}/{LEASE_NAME}"

    # -- taking ------------------------------------------------------------------------------------------
    def acquire(self, wait: float = 0.0) -> None:
        """Take the lease, or raise CatalogLockedError naming the holder; `wait` seconds of retries first."""
        deadline = time.monotonic() + wait
        while True:
            if self._try_take():
                break
            if time.monotonic() >= deadline:
                raise CatalogLockedError(self._held_message())
            time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
        self.lost = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name="chronicon-lease", daemon=True)
        self._thread.start()

    def _body(self) -> bytes:
        now = time.time()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": now, "ttl": self.ttl,
                "expires": now + self.ttl}  # fmt: skip
        return json.dumps(info).encode()

    def _try_take(self) -> bool:
        """One attempt: create the lease, or take over an expired one; False while a live holder has it."""
        try:
            response = self._put(IfNoneMatch="*")
        except _Conflict:
            pass
        else:
            self._etag = str(response["ETag"])
            return True
        holder = self._read()
        if holder is None:
            return False  # released between our two calls: the next attempt creates it
        info, etag, expired = holder
        if not expired:
            return False
        try:
            response = self._put(IfMatch=etag)
        except _Conflict:
            return False  # another contender took it over (or the holder renewed) first
        log.warning(
            "took over the scan lease of %s: its holder (pid %s on %s) stopped renewing it",
            self.location.uri,
            info.get("pid", "?"),
            info.get("host", "?"),
        )
        self._etag = str(response["ETag"])
        return True

    def _put(self, **condition: str) -> Any:
        try:
            return self.client.put_object(
                Bucket=self.location.bucket, Key=self.key, Body=self._body(), ContentType="application/json",
                **condition,
            )  # fmt: skip
        except Exception as exc:
            if error_code(exc) in _LOST:
                raise _Conflict from exc
            raise CatalogError(f"cannot write the scan lease {self.uri}: {exc}") from exc

    def _read(self) -> tuple[dict[str, Any], str, bool] | None:
        """The holder's info, the lease's etag and whether it has expired (by the store's clock); None if none."""
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.key)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise CatalogError(f"cannot read the scan lease {self.uri}: {exc}") from exc
        try:
            info = json.loads(response["Body"].read() or b"{}")
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        ttl = info.get("ttl")
        ttl = float(ttl) if isinstance(ttl, (int, float)) and ttl > 0 else self.ttl
        modified = response.get("LastModified")
        now = _store_time(response)
        expired = isinstance(modified, datetime) and (now - modified).total_seconds() > ttl
        return info, str(response["ETag"]), expired

    # -- holding -----------------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        interval = max(0.05, self.ttl / 3)
        while not self._stop.wait(interval):
            with self._guard:
                if self._etag is None:
                    return
                try:
                    response = self._put(IfMatch=self._etag)
                except _Conflict:
                    self.lost = True
                    self._etag = None
                    log.error("the scan lease of %s was taken over by another process", self.location.uri)
                    return
                except CatalogError as exc:  # a network blip: the next beat tries again within the TTL
                    log.warning("could not renew the scan lease: %s", exc)
                    continue
                self._etag = str(response["ETag"])

    def check(self) -> None:
        """Raise CatalogLockedError when the lease was lost (a commit must not follow)."""
        if self.lost:
            raise CatalogLockedError(
                f"the scan lease of {self.location.uri} was taken over by another process (this one stalled longer "
                f"than catalog_lease_seconds={self.ttl:g}); stopping without committing more"
            )

    def is_held(self) -> bool:
        """Whether a live holder has the lease now, read without writing anything."""
        holder = self._read()
        return holder is not None and not holder[2]

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._guard:
            etag, self._etag = self._etag, None
        if etag is None:
            return
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=self.key, IfMatch=etag)
        except Exception as exc:  # taken over meanwhile (412), or the store is unreachable: it expires anyway
            if error_code(exc) not in _LOST:
                log.warning("could not release the scan lease %s (it expires by itself): %s", self.uri, exc)

    def _held_message(self) -> str:
        holder = self._read()
        info = holder[0] if holder else {}
        expiry = f" (a dead holder's lease expires after {float(info.get('ttl', self.ttl)):g} s)"
        return held_message(self.location.uri, info, expiry)

    def __enter__(self) -> LeaseLock:
        if self._etag is None:
            self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class _Conflict(Exception):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""


def _store_time(response: Any) -> datetime:
    """The object store's clock, from the response's Date header (this machine's when there is none)."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    try:
        return parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def held_message(catalog: str, holder: dict[str, Any], after: str = "") -> str:
    """What a refused scan is told about the scan holding the catalog (its lock file's or lease's pid, host and
    start), for the folder lock and the lease alike."""
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(since))) if isinstance(since, float) else "?"
    return (
        f"another scan is using the catalog {catalog} "
        f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {when}); "
        f"wait for it to finish, or stop that process{after}"
    )
