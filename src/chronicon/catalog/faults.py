"""Storage faults of the catalog as one-line errors that name the table and say what to do (exit code 3).

LanceDB reports I/O trouble as `RuntimeError("lance error: LanceError(IO): ... (os error 28), /path/x.rs:1:2")`,
`OSError`, or `ValueError("Table 'x' was not found")`; what it means for the user depends on the errno buried in
that text (disk full, read-only, no permission) or, when there is none, that a table's files are damaged.
Every catalog read, commit and lock goes through `guarded` so callers see `CatalogStorageError` /
`CatalogDamagedError` (both `CatalogError`) and never a 50-line Rust message."""

from __future__ import annotations

import errno
import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from chronicon.errors import CatalogDamagedError, CatalogError, CatalogStorageError

# errno values that mean "out of space" rather than "cannot write here".
FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})

_OS_ERROR = re.compile(r"\(os error (\d{1,4})\)")
_RUST_PLACE = re.compile(r",?\s*/\S+\.rs:\d+:\d+")  # ", /root/.cargo/.../commit.rs:1663:50"
_LANCE_VALUE_ERROR = re.compile(r"lance|was not found|not a lance|manifest", re.IGNORECASE)


def error_number(exc: BaseException) -> int | None:
    """The errno of an OSError, or the one a wrapped error names in its text (LanceDB's Rust I/O errors say
    `... (os error 30)`); None when there is none."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        return number
    found = _OS_ERROR.search(str(exc))
    return int(found.group(1)) if found else None


def lance_reason(exc: BaseException, limit: int = 200) -> str:
    """The first line of a LanceDB error without its Rust source locations and wrapper words."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = _RUST_PLACE.sub("", text).removeprefix("lance error: ").strip()
    return text[:limit] or type(exc).__name__


def is_storage_fault(exc: BaseException) -> bool:
    """Whether an exception from a LanceDB call is about the catalog's files (not a bug in the caller)."""
    if isinstance(exc, CatalogError):
        return False
    if isinstance(exc, (OSError, RuntimeError)):
        return True
    return isinstance(exc, ValueError) and bool(_LANCE_VALUE_ERROR.search(str(exc)))


def advice_for(number: int | None) -> str | None:
    """What the user can do about a storage errno, or None when it is not a storage condition we know."""
    if number in FULL:
        return "the disk is full: free some space and run the same command again (nothing committed is lost)"
    if number == errno.EROFS:
        return (
            "the catalog's file system is read-only: searching works, but scans and album changes need a "
            "writable catalog folder (--catalog)"
        )
    if number in (errno.EACCES, errno.EPERM):
        return "permission denied: check the owner and mode of the catalog folder (or use --catalog)"
    if number == errno.EIO:
        return "the disk reported an I/O error: check the drive, then run `chronicon catalog check`"
    return None


def translate(exc: BaseException, table: str, action: str, where: str | os.PathLike[str]) -> CatalogError:
    """The CatalogError for a fault met while doing `action` ("read", "write", "lock") on `table`."""
    number = error_number(exc)
    reason = os.strerror(number) if number is not None else lance_reason(exc)
    advice = advice_for(number)
    if advice is not None:
        return CatalogStorageError(
            f"cannot {action} {_what(table)} in the catalog {where}: {advice} ({reason})", number
        )
    if number is not None or (isinstance(exc, OSError) and not _looks_damaged(exc)):
        return CatalogStorageError(f"cannot {action} {_what(table)} in the catalog {where}: {reason}", number)
    return CatalogDamagedError(
        f"the catalog table {table!r} in {where} is damaged ({reason}): `chronicon catalog check` shows what is "
        f"affected and `chronicon catalog restore --table {table}` goes back to its last good version",
        table,
    )


def _what(table: str) -> str:
    return "the scan lock" if table == "scan.lock" else f"table {table!r}"


def _looks_damaged(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("lance", "buffer", "range", "corrupt", "eof", "not found"))


def is_husk(table_dir: Path) -> bool:
    """Whether a `<name>.lance` folder holds no committed version: what a crash or a full disk leaves when it
    stops a table's creation (LanceDB lists the name but cannot open it). Removing it loses nothing."""
    return table_dir.is_dir() and not any((table_dir / "_versions").glob("*.manifest"))


@contextmanager
def guarded(table: str, action: str, where: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a storage fault raised inside the block into a CatalogError naming `table` (others pass through)."""
    try:
        yield
    except BaseException as exc:
        if not is_storage_fault(exc):
            raise
        raise translate(exc, table, action, where) from exc


P = ParamSpec("P")
R = TypeVar("R")


def guard(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Method decorator: `guarded` around the call, with the table and folder from `self.fault_place()`."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            owner: Any = args[0]
            table, where = owner.fault_place()
            with guarded(table, action, where):
                return method(*args, **kwargs)

        return wrapper

    return decorate


__all__ = [
    "FULL",
    "READ_ONLY",
    "advice_for",
    "error_number",
    "guard",
    "guarded",
    "is_husk",
    "is_storage_fault",
    "translate",
]
