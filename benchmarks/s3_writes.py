"""How many object-store requests a scan into an `s3://` catalog makes, by kind, per committed batch (moto's server).

    PYTHONPATH=src:plugins python benchmarks/s3_writes.py --files 200 --batch-size 50

Scans a synthetic library of small JPEGs (ML passes off) into a bucket of a moto S3 server on 127.0.0.1 and
counts the HTTP requests the server saw (LanceDB's and boto3's), for the first scan and an unchanged rescan."""

from __future__ import annotations

import argparse
import collections
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

_REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP')


class Counter(logging.Handler):
    """Counts the requests moto's werkzeug server logs, by method and by what they touch."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()
        self.targets: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        found = _REQUEST.search(record.getMessage())
        if not found:
            return
        method, target = found.groups()
        if "list-type=2" in target:
            kind = "LIST"
            self.targets[re.sub(r"^.*prefix=", "", target).split("&")[0]] += 1
        elif method == "POST" and "delete" in target:
            kind = "DELETE (batch)"
        else:
            kind = method
        place = "thumbnails" if "/thumbnails/" in target else ("lease" if "scan.lease" in target else "tables")
        self.counts[f"{kind} {place}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    from chronicon.library import Library
    from mediafactory import make_jpeg
    from ml_switches import NO_ML

    counter = Counter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.addHandler(counter)
    werkzeug.propagate = False
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=url, **creds).create_bucket(Bucket="bench")
    options = [f"aws_endpoint={url}", "aws_region=us-east-1", "aws_access_key_id=test", "aws_secret_access_key=test"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        for i in range(args.files):
            path = root / f"d{i % 10}" / f"p{i:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            make_jpeg(path, size=(48 + i % 16, 32), color=(i % 255, 40, 90), pattern=True)
        settings = {**NO_ML, "catalog_storage_options": options, "catalog_staging": f"{tmp}/staging",
                    "scan.batch_size": args.batch_size}  # fmt: skip
        report = {}
        for label in ("first scan", "unchanged rescan"):
            library = Library("s3://bench/lib", overrides=settings, environ={}, entry_points=False)
            counter.counts.clear()
            counter.targets.clear()
            started = time.perf_counter()
            summary = library.scan([str(root)])
            seconds = time.perf_counter() - started
            counts = dict(sorted(counter.counts.items()))
            writes = sum(v for k, v in counts.items() if k.startswith(("PUT", "POST", "DELETE")))
            report[label] = {
                "files": args.files,
                "batches": summary.batches,
                "seconds": round(seconds, 2),
                "requests": counts,
                "writes": writes,
                "writes_per_batch": round(writes / summary.batches, 1) if summary.batches else None,
                "most_listed": dict(counter.targets.most_common(5)),
            }
    server.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
