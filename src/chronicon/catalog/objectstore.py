"""The object-store files of an `s3://` catalog besides LanceDB's tables (thumbnails, the scan lease), via boto3."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chronicon.catalog.location import CatalogLocation
from chronicon.errors import CatalogError, ConfigError

_DELETE_CHUNK = 1000  # keys per DeleteObjects request (the S3 limit)


def s3_client(location: CatalogLocation) -> Any:
    """A boto3 S3 client for the location's endpoint, region and credentials (boto3 is the `s3` extra)."""
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigError(
            f"the catalog {location.uri} is on object storage, which needs boto3: pip install 'chronicon[s3]'"
        ) from exc
    options = location.storage_options
    kwargs: dict[str, Any] = {}
    if options.get("aws_endpoint"):
        kwargs["endpoint_url"] = options["aws_endpoint"]
    if options.get("aws_region"):
        kwargs["region_name"] = options["aws_region"]
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        if options.get(name):
            kwargs[name] = options[name]
    retries = {"max_attempts": 4, "mode": "standard"}
    return boto3.client("s3", config=BotoConfig(retries=retries, connect_timeout=10, read_timeout=60), **kwargs)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ClientError ("PreconditionFailed", "NoSuchKey", ...), else ""."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class ObjectStore:
    """The catalog's objects under its prefix, by path relative to the catalog (`thumbnails/ab/<id>.webp`)."""

    def __init__(self, location: CatalogLocation, client: Any = None) -> None:
        self.location = location
        self.bucket = location.bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client(self.location)
        return self._client

    def _call(self, what: str, relative: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(relative) from exc
            if type(exc).__name__ in ("ClientError", "EndpointConnectionError", "NoCredentialsError") or (
                type(exc).__module__.startswith("botocore")
            ):
                raise CatalogError(f"cannot {what} {self.location.uri}/{relative}: {exc}") from exc
            raise

    def upload(self, relative: str, source: Path) -> None:
        """Upload a local file as the object at `relative` (one PUT)."""
        with source.open("rb") as handle:
            self._call("upload", relative, self.client.put_object, Key=self.location.key(relative), Body=handle)

    def read(self, relative: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        try:
            response = self._call("read", relative, self.client.get_object, Key=self.location.key(relative))
        except FileNotFoundError:
            return None
        return bytes(response["Body"].read())

    def delete(self, relatives: Sequence[str]) -> int:
        """Delete these objects (missing ones are fine); how many were asked for."""
        keys = [self.location.key(r) for r in relatives]
        for start in range(0, len(keys), _DELETE_CHUNK):
            chunk = [{"Key": k} for k in keys[start : start + _DELETE_CHUNK]]
            self._call("delete objects in", "", self.client.delete_objects, Delete={"Objects": chunk, "Quiet": True})
        return len(keys)

    def list_files(self, under: str) -> Iterator[tuple[str, int]]:
        """(path relative to the catalog, size) of every object below the folder `under`."""
        base = self.location.key(under.rstrip("/") + "/")
        strip = len(self.location.key(""))
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                for item in page.get("Contents", []):
                    yield str(item["Key"])[strip:], int(item.get("Size", 0))
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                raise CatalogError(f"cannot list {self.location.uri}/{under}: {exc}") from exc
            raise

    def folders(self, under: str = "") -> list[str]:
        """The names of the "folders" (common prefixes) directly below `under` ("" = the catalog's top)."""
        base = self.location.key(under.rstrip("/") + "/") if under else self.location.key("")
        names: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                for item in page.get("CommonPrefixes", []):
                    names.append(str(item["Prefix"])[len(base) :].rstrip("/"))
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                raise CatalogError(f"cannot list {self.location.uri}/{under}: {exc}") from exc
            raise
        return names

    def upload_staged(self, staging: Path, folder: str = "thumbnails") -> list[Path]:
        """Upload every finished file under `<staging>/<folder>` (not the writers' `.tmp` files); the local files
        uploaded, for the caller to remove once the rows naming them are committed."""
        root = staging / folder
        done: list[Path] = []
        if not root.is_dir():
            return done
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue
                path = Path(dirpath) / name
                self.upload(path.relative_to(staging).as_posix(), path)
                done.append(path)
        return done
