"""A scan into an `s3://` catalog killed with SIGKILL mid-scan, then run again, loses nothing and doubles nothing,
and leaves no row naming a thumbnail that is not in the bucket (moto's S3 server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chronicon.library import Library
from mediafactory import make_jpeg
from ml_switches import NO_ML

FILES = 40


def committed_batches(client: Any, bucket: str) -> int:
    """Versions of the assets table past its creation: the batches committed so far."""
    found = client.list_objects_v2(Bucket=bucket, Prefix="lib/assets.lance/_versions/").get("KeyCount", 0)
    return max(0, int(found) - 1)


@pytest.mark.parametrize("kill_after_commits", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_kill_9_mid_scan_into_s3_then_resume(
    s3_endpoint: Any, s3_bucket: str, tmp_path: Path, kill_after_commits: int
) -> None:
    root = tmp_path / "photos"
    for i in range(FILES):
        folder = root / f"d{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        make_jpeg(folder / f"p{i:04d}.jpg", size=(48 + i % 16, 32), color=(i % 255, 40, 90), pattern=True)
    uri = f"s3://{s3_bucket}/lib"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHRONICON_", "AWS_"))}
    env.update(s3_endpoint.environ, CHRONICON_CATALOG_STAGING=str(tmp_path / "staging"),
               CHRONICON_TAGS__ENABLED="false", CHRONICON_CLIP__ENABLED="false",
               CHRONICON_TRANSCRIBE__ENABLED="false", CHRONICON_CATALOG_LEASE_SECONDS="2")  # fmt: skip
    cmd = [sys.executable, "-m", "chronicon", "--catalog", uri, "scan", "--quiet", "--batch-size", "8", str(root)]
    client = s3_endpoint.client()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while committed_batches(client, s3_bucket) < kill_after_commits and proc.poll() is None:
        assert time.monotonic() < deadline, "the scan committed nothing in 3 minutes"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed; use more files"
    killed_at = committed_batches(client, s3_bucket)
    assert killed_at < FILES // 8
    # The dead scan's lease is still there: the rerun takes it over once its TTL (2 s here) has passed.
    time.sleep(2.0)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    library = Library(uri, overrides={**NO_ML, "catalog_storage_options": s3_endpoint.options,
                                      "catalog_staging": str(tmp_path / "reader")}, environ={},
                      entry_points=False)  # fmt: skip
    rows = list(library.catalog.rows())
    paths = [r["path"] for r in rows]
    assert len(paths) == FILES and len(set(paths)) == FILES and len({r["id"] for r in rows}) == FILES
    for row in rows:
        assert row["status"] == "ok" and row["missing"] is False
        assert row["width"] == 48 + int(Path(row["path"]).stem[1:]) % 16 and row["height"] == 32
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="lib/thumbnails/")
    stored = {item["Key"].removeprefix("lib/") for page in pages for item in page.get("Contents", [])}
    assert stored == {r["thumbnail"] for r in rows}  # every row's thumbnail is there, and no stray one
    again = library.scan([str(root)])
    assert again.counts["unchanged"] == FILES and again.updated == 0
