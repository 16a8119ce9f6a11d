"""One view of the catalog per read: inside `pinned()`, each table's latest version (and the assets schema) is
asked of LanceDB once, so a search sees one snapshot of every table and pays for the lookups once, not per step."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")
_LOCAL = threading.local()


@contextmanager
def pinned() -> Iterator[None]:
    """Lookups made through `once` in this thread are kept until the outermost `pinned()` ends. Only for reads:
    a write inside it would not be seen by the lookups already made."""
    if getattr(_LOCAL, "cache", None) is not None:  # nested: the outer view holds
        yield
        return
    _LOCAL.cache = {}
    try:
        yield
    finally:
        _LOCAL.cache = None


def once(key: Hashable, compute: Callable[[], T]) -> T:
    """compute(), or inside `pinned()` what it gave the first time for this key."""
    cache: dict[Hashable, object] | None = getattr(_LOCAL, "cache", None)
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]  # type: ignore[return-value]


def pinned_read(fn: Callable[P, T]) -> Callable[P, T]:
    """A read (a search, a browse page) that runs inside one `pinned()` view."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with pinned():
            return fn(*args, **kwargs)

    return wrapper
