"""Exception types of the library; only the CLI turns them into exit codes."""

from __future__ import annotations


class ChroniconError(Exception):
    """Base class of every error the library raises on purpose."""


class ConfigError(ChroniconError):
    """A config key is unknown or its value is not allowed; the message names the key and the choices."""


class CatalogError(ChroniconError):
    """The catalog cannot be opened, migrated or written."""


class CatalogLockedError(CatalogError):
    """Another scan holds the catalog's lock."""


class CatalogStorageError(CatalogError):
    """The catalog's storage refused a read or write: read-only, full, no permission, an I/O error.

    `errno` is the system's error number when one is known (from an OSError or a LanceDB message)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class CatalogDamagedError(CatalogError):
    """A table's files are damaged (truncated or missing data, an unreadable version): `table` names it and
    the message says how to go back to its last good version (`chronicon catalog check` / `restore`)."""

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table


class MediaError(ChroniconError):
    """A file cannot be read as the media it claims to be; the message is the per-file reason."""


class PluginError(ChroniconError):
    """A plugin could not be loaded or misbehaved."""


class ModelUnavailableError(ChroniconError):
    """A model's weights or runtime are not installed or not reachable: the pass is skipped, the scan goes on."""


class QueryError(ChroniconError):
    """A search query that cannot be understood (empty, not text, an unknown space)."""
