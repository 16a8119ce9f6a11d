"""The scan lease of an object-store catalog, against moto's S3 server: one holder at a time, a second scan
refused (exit code 3), a dead holder's lease taken over after its TTL, and a race with exactly one winner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chronicon.catalog.lease import LEASE_NAME, LeaseLock
from chronicon.catalog.location import CatalogLocation, parse_location
from chronicon.catalog.lock import ScanLock
from chronicon.errors import CatalogLockedError
from chronicon.library import Library
from mediafactory import make_jpeg
from ml_switches import NO_ML


def location(endpoint: Any, bucket: str, tmp_path: Path, ttl: float = 60.0) -> CatalogLocation:
    return parse_location(f"s3://{bucket}/lib", storage_options=endpoint.options, staging=tmp_path / "staging",
                          environ={}, lease_seconds=ttl)  # fmt: skip


def child_env(endpoint: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHRONICON_", "AWS_"))}
    env.update(endpoint.environ, CHRONICON_CATALOG_STAGING=str(tmp_path / "child-staging"))
    return env


def test_scan_lock_of_an_s3_catalog_is_a_lease(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    place = location(s3_endpoint, s3_bucket, tmp_path)
    assert ScanLock(place).lease is not None
    assert ScanLock(f"s3://{s3_bucket}/lib").lease is not None
    assert ScanLock(place.local).lease is not None  # how plugins ask: ScanLock(library.catalog_dir)
    assert ScanLock(tmp_path / "folder").lease is None


def test_second_holder_is_refused_until_release(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    place = location(s3_endpoint, s3_bucket, tmp_path)
    client = s3_endpoint.client()
    with ScanLock(place) as held:
        body = client.get_object(Bucket=s3_bucket, Key=f"lib/{LEASE_NAME}")["Body"].read()
        assert f'"pid": {os.getpid()}'.encode() in body
        assert held.is_held() and ScanLock(place).is_held()
        with pytest.raises(CatalogLockedError, match=rf"another scan is using the catalog s3://.*pid {os.getpid()}"):
            ScanLock(place).acquire(wait=0.3)
    assert not ScanLock(place).is_held()
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket, Prefix=f"lib/{LEASE_NAME}")  # deleted
    with ScanLock(place):  # free again
        pass


def test_heartbeat_keeps_a_live_holder_s_lease(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    place = location(s3_endpoint, s3_bucket, tmp_path, ttl=1.0)
    with ScanLock(place):
        time.sleep(3.0)  # three TTLs: only the renewals keep it
        with pytest.raises(CatalogLockedError):
            ScanLock(place).acquire()


def test_a_lease_taken_over_stops_its_old_holder_s_commits(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    place = location(s3_endpoint, s3_bucket, tmp_path, ttl=1.0)
    lock = ScanLock(place)
    lock.acquire()
    try:
        # Someone overwrote the lease (an operator, or a contender after this process stalled past its TTL).
        s3_endpoint.client().put_object(Bucket=s3_bucket, Key=f"lib/{LEASE_NAME}", Body=b'{"pid": 1}')
        deadline = time.monotonic() + 5
        assert lock.lease is not None
        while not lock.lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(CatalogLockedError, match="taken over by another process"):
            lock.check()
    finally:
        lock.release()
    assert s3_endpoint.client().get_object(Bucket=s3_bucket, Key=f"lib/{LEASE_NAME}")["Body"].read() == b'{"pid": 1}'


def test_dead_holder_s_lease_expires_and_is_taken_over(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    code = (
        "import sys, time; from chronicon.catalog.lock import ScanLock; from chronicon.catalog.location import "
        "parse_location\n"
        "place = parse_location(sys.argv[1], staging=sys.argv[2], lease_seconds=2.0)\n"
        "ScanLock(place).acquire(); print('locked', flush=True); time.sleep(120)\n"
    )
    uri = f"s3://{s3_bucket}/lib"
    env = child_env(s3_endpoint, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", code, uri, str(tmp_path / "child")], stdout=subprocess.PIPE,
                            env=env, text=True)  # fmt: skip
    place = location(s3_endpoint, s3_bucket, tmp_path, ttl=60.0)  # the holder's TTL (2 s, in the lease) decides
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(CatalogLockedError, match=f"pid {proc.pid}.*expires after 2 s"):
            ScanLock(place).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with pytest.raises(CatalogLockedError):  # dead, but its lease has not expired yet
        ScanLock(place).acquire()
    started = time.monotonic()
    lock = ScanLock(place)
    lock.acquire(wait=10.0)  # taken over once the TTL has passed (the store's clock has 1 s steps)
    waited = time.monotonic() - started
    try:
        body = s3_endpoint.client().get_object(Bucket=s3_bucket, Key=f"lib/{LEASE_NAME}")["Body"].read()
        assert f'"pid": {os.getpid()}'.encode() in body
    finally:
        lock.release()
    assert waited < 6.0


def test_two_contenders_only_one_wins(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    place = location(s3_endpoint, s3_bucket, tmp_path, ttl=1.0)

    def race(contenders: int) -> list[LeaseLock]:
        locks = [LeaseLock(place, client=s3_endpoint.client()) for _ in range(contenders)]
        start = threading.Barrier(contenders)
        won: list[LeaseLock] = []

        def contend(lock: LeaseLock) -> None:
            start.wait()
            try:
                lock.acquire()
            except CatalogLockedError:
                return
            won.append(lock)

        threads = [threading.Thread(target=contend, args=(lock,)) for lock in locks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return won

    for _ in range(3):  # a free lease: If-None-Match lets exactly one create it
        won = race(4)
        assert len(won) == 1
        won[0].release()
    # A stale lease (its holder died): If-Match on its etag lets exactly one take it over.
    stale = LeaseLock(place, client=s3_endpoint.client())
    stale.acquire()
    stale._stop.set()  # the holder "dies": no more renewals, the lease stays behind
    assert stale._thread is not None
    stale._thread.join()
    time.sleep(2.5)
    won = race(4)
    assert len(won) == 1
    won[0].release()


def test_second_scan_is_refused_with_exit_code_3(s3_endpoint: Any, s3_bucket: str, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    make_jpeg(root / "a.jpg")
    library = Library(f"s3://{s3_bucket}/lib", environ={}, entry_points=False,
                      overrides={**NO_ML, "catalog_storage_options": s3_endpoint.options,
                                 "catalog_staging": str(tmp_path / "staging")})  # fmt: skip
    library.catalog  # noqa: B018 - created before the lock is held, like a scan in progress
    env = child_env(s3_endpoint, tmp_path)
    env.update(CHRONICON_TAGS__ENABLED="false", CHRONICON_CLIP__ENABLED="false")
    cmd = [sys.executable, "-m", "chronicon", "--catalog", f"s3://{s3_bucket}/lib", "scan", "-q", str(root)]
    with ScanLock(library.catalog_dir):  # as a plugin takes it
        assert library.is_scanning()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "another scan is using the catalog s3://" in done.stderr and f"pid {os.getpid()}" in done.stderr
    assert not library.is_scanning()
    finished = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert library.catalog.count() == 1
