"""Where a catalog lives: a local folder, or an object-store URI (`s3://bucket/prefix`) with a local staging folder."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from chronicon.errors import ConfigError

REMOTE_SCHEMES = ("s3",)

# Staging folders of the object-store catalogs this process opened, by folder: `ScanLock(library.catalog_dir)`
# (how plugins take the lock) finds the catalog's lease through it.
_OPENED: dict[str, CatalogLocation] = {}


def is_remote(value: str | os.PathLike[str] | None) -> bool:
    """Whether a `catalog` value is an object-store URI rather than a folder."""
    if value is None or isinstance(value, os.PathLike):
        return False
    scheme, sep, _ = str(value).partition("://")
    return bool(sep) and scheme.lower() in REMOTE_SCHEMES


@dataclass(frozen=True)
class CatalogLocation:
    """A catalog's place: `uri` (what LanceDB connects to) and `local`, its folder here.

    For a folder catalog the two are the same folder. For `s3://bucket/prefix`, `local` is a staging folder
    (thumbnails written by the passes before their batch commits, and files plugins keep beside the catalog,
    which stay on this machine); `storage_options` are LanceDB's object-store options."""

    uri: str
    local: Path
    bucket: str = ""
    prefix: str = ""
    storage_options: dict[str, str] = field(default_factory=dict)
    lease_seconds: float = 60.0  # how long the scan lease of an object-store catalog outlives its holder

    @property
    def remote(self) -> bool:
        return bool(self.bucket)

    def key(self, relative: str) -> str:
        """The object key of a path relative to the catalog (`thumbnails/ab/<id>.webp`)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def __str__(self) -> str:
        return self.uri


def local_location(folder: str | os.PathLike[str]) -> CatalogLocation:
    """A catalog folder on this machine."""
    path = Path(folder).expanduser().absolute()
    return CatalogLocation(str(path), path)


def parse_location(
    value: str | os.PathLike[str] | CatalogLocation,
    *,
    storage_options: Sequence[str] | Mapping[str, Any] | None = None,
    staging: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    lease_seconds: float = 60.0,
) -> CatalogLocation:
    """The location a `catalog` value names: a folder, or `s3://bucket[/prefix]` (options from the AWS
    environment variables, overridden by `storage_options`); bad URIs raise ConfigError naming what is wrong."""
    if isinstance(value, CatalogLocation):
        return value
    if not is_remote(value):
        text = os.fspath(value)
        if "://" in text:
            scheme = text.partition("://")[0]
            raise ConfigError(
                f"the catalog {text!r} uses the scheme {scheme!r}; a catalog is a folder or an s3://bucket/prefix URI"
            )
        return local_location(text)
    text = str(value)
    rest = text.partition("://")[2].strip("/")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not bucket:
        raise ConfigError(f"the catalog URI {text!r} names no bucket (write s3://bucket/prefix)")
    if not 3 <= len(bucket) <= 63 or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789.-" for c in bucket):
        raise ConfigError(f"the catalog URI {text!r}: {bucket!r} is not a valid S3 bucket name")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigError(f"the catalog URI {text!r} has an empty, '.' or '..' part in its prefix")
    uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    options = object_store_options(storage_options or {}, os.environ if environ is None else environ)
    if staging is None:
        digest = hashlib.sha1(uri.encode()).hexdigest()[:12]
        staging = Path(platformdirs.user_cache_dir("chronicon")) / "object-store" / f"{bucket}-{digest}"
    location = CatalogLocation(uri, Path(staging).expanduser().absolute(), bucket, prefix, options, lease_seconds)
    _OPENED[str(location.local)] = location
    return location


def opened_remote(target: str | os.PathLike[str] | CatalogLocation) -> CatalogLocation | None:
    """The object-store catalog a lock target names: a remote location, an `s3://` URI, or the staging folder
    of one this process opened; None for a local folder."""
    if isinstance(target, CatalogLocation):
        return target if target.remote else None
    if is_remote(target):
        return parse_location(target)
    return _OPENED.get(str(Path(target).expanduser().absolute()))


# LanceDB (object_store) option names, and the environment variables boto3 and object_store read for them.
_ENV_OPTIONS = {
    "aws_endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"),
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "allow_http": ("AWS_ALLOW_HTTP",),
}
_ALIASES = {
    "endpoint": "aws_endpoint",
    "endpoint_url": "aws_endpoint",
    "aws_endpoint_url": "aws_endpoint",
    "region": "aws_region",
    "access_key_id": "aws_access_key_id",
    "secret_access_key": "aws_secret_access_key",
    "session_token": "aws_session_token",
    "aws_allow_http": "allow_http",
}


def object_store_options(given: Sequence[str] | Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """LanceDB storage options: the AWS environment variables, then `given` (config `catalog_storage_options`,
    `name=value` strings, or a mapping); an `http://` endpoint allows plain HTTP (a local MinIO or moto) unless
    `allow_http` says otherwise."""
    options: dict[str, str] = {}
    for option, names in _ENV_OPTIONS.items():
        found = next((environ[n] for n in names if environ.get(n)), None)
        if found:
            options[option] = found
    pairs: dict[str, Any] = {}
    if isinstance(given, Mapping):
        pairs = dict(given)
    else:
        for item in given:
            name, sep, text = str(item).partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"catalog_storage_options: {item!r} is not name=value (e.g. aws_region=eu-west-1)")
            pairs[name.strip()] = text.strip()
    for name, raw in pairs.items():
        if isinstance(raw, (dict, list)) or raw is None:
            raise ConfigError(f"catalog_storage_options.{name} must be a string, number or boolean, not {raw!r}")
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        options[_ALIASES.get(name.lower(), name.lower())] = value
    if options.get("aws_endpoint", "").startswith("http://"):
        options.setdefault("allow_http", "true")
    return options
