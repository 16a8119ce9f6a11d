"""An S3-compatible endpoint for the object-store catalog tests: moto's server mode on 127.0.0.1, one per session."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3 endpoint and the options that reach it."""

    url: str

    @property
    def options(self) -> list[str]:
        """`catalog_storage_options` for a catalog on this endpoint."""
        return [f"aws_endpoint={self.url}", "aws_region=us-east-1", "aws_access_key_id=test",
                "aws_secret_access_key=test"]  # fmt: skip

    @property
    def environ(self) -> dict[str, str]:
        """The same as standard AWS environment variables (what a `chronicon` subprocess reads)."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test"}  # fmt: skip

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")  # fmt: skip


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """moto's S3 server on a free port of 127.0.0.1 for the whole session."""
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint) -> str:
    """A new empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_endpoint.client().create_bucket(Bucket=name)
    return name
