"""HTTP answers for plugin routes."""

from __future__ import annotations

import errno
import os

from chronicon.catalog.faults import FULL, error_number


def storage_status(exc: BaseException) -> int:
    """The HTTP status of a storage fault: 507 when the disk (or quota) is full, 503 otherwise (read-only file
    system, no permission, I/O error)."""
    return 507 if error_number(exc) in FULL else 503


def storage_message(exc: BaseException) -> str:
    """A one-line message for a storage fault, without paths: what failed and the system's reason."""
    number = error_number(exc)
    reason = os.strerror(number) if number is not None else type(exc).__name__
    if number in FULL:
        return f"the catalog cannot be written: the disk is full ({reason})"
    if number in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"the catalog cannot be written: {reason}"
    return f"the catalog's storage failed: {reason}"
