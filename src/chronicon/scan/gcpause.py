"""A pause of Python's cyclic garbage collector while a bulk step builds millions of acyclic objects (the
scanner's plan of a 1M-file library: its collections alone took more than half of the planning time)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic cyclic collection inside; reference counting frees as usual, and the collector runs again
    (on its own schedule) after the outermost block."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
