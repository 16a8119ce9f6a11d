"""Batch sizing: find the largest batch that fits in accelerator memory by doubling until it runs out."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

log = logging.getLogger("chronicon.runtime")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an accelerator out-of-memory error (torch.cuda.OutOfMemoryError or its RuntimeError text)."""
    torch = sys.modules.get("torch")  # only when torch is already loaded: never import it for this check
    if torch is not None:
        oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
        if isinstance(oom, type) and isinstance(exc, oom):
            return True
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower()


def _release_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # best effort only
        pass


def auto_batch_size(try_batch: Callable[[int], None], *, start: int = 8, maximum: int = 1024) -> int:
    """The largest batch size (a power-of-two multiple of `start`, up to `maximum`) for which `try_batch` runs.

    Doubles from `start` while `try_batch(n)` succeeds. On an out-of-memory error the CUDA cache is emptied and
    the last size that worked is returned. If `start` itself runs out of memory it is halved until a size works;
    if even 1 does not, that error is raised. Errors other than out-of-memory are raised as they are.
    """
    if start < 1 or maximum < 1:
        raise ValueError("start and maximum must be positive")
    size = min(start, maximum)
    while True:  # find a size that works, halving from start
        try:
            try_batch(size)
            break
        except Exception as exc:
            if not is_out_of_memory(exc) or size == 1:
                raise
            _release_memory()
            log.info("batch %d ran out of memory; trying %d", size, size // 2)
            size = max(1, size // 2)
    best = size
    while best < maximum:  # then grow while it fits
        nxt = min(best * 2, maximum)
        try:
            try_batch(nxt)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _release_memory()
            log.info("batch %d ran out of memory; using %d", nxt, best)
            break
        best = nxt
    return best
