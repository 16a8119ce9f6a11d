"""The scan lock: exclusive, says who holds it, and never stays stuck after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronicon.catalog.lock import ScanLock
from chronicon.errors import CatalogLockedError


def test_second_holder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with ScanLock(tmp_path), pytest.raises(CatalogLockedError, match=rf"another scan.*pid {os.getpid()}"):
        ScanLock(tmp_path).acquire()
    ScanLock(tmp_path).acquire()  # free again once released


def test_lock_of_a_killed_process_is_recovered(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from chronicon.catalog.lock import ScanLock;"
        "ScanLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(CatalogLockedError, match=f"pid {proc.pid}"):
            ScanLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the lock with the process; the stale file is no obstacle
        try:
            lock = ScanLock(tmp_path)
            lock.acquire()
            lock.release()
            break
        except CatalogLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
