"""Device selection (cuda, mps, cpu), one-time warnings, CPU bf16 detection and the runtime report for `doctor`."""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from pathlib import Path

log = logging.getLogger("chronicon.runtime")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str) -> None:
    """Log `message` as a warning on the `chronicon.runtime` logger, once per `key` per process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)


def _reset_warnings() -> None:
    """Forget which warnings were given (for tests)."""
    with _warned_lock:
        _warned.clear()


def torch_installed() -> bool:
    """Whether torch can be imported, without importing it."""
    return importlib.util.find_spec("torch") is not None


def _cuda_count() -> int:
    import torch

    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # a broken driver reads as "no CUDA"
        return 0


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps is not None and mps.is_available())
    except Exception:
        return False


def choose_device(preference: str = "auto") -> str:
    """The torch device to use for `preference` ('auto', 'cpu', 'cuda', 'cuda:N', 'mps').

    'auto' picks cuda, then mps, then cpu. An explicit device that is not available here logs one warning
    and gives 'cpu'. Without torch the answer is always 'cpu'.
    """
    pref = (preference or "auto").strip().lower()
    if not torch_installed():
        if pref not in ("auto", "cpu"):
            warn_once(
                f"device:{pref}:no-torch", f"device {preference!r} asked for but torch is not installed; using cpu"
            )
        return "cpu"
    if pref == "auto":
        if _cuda_count() > 0:
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if pref == "cpu":
        return "cpu"
    if pref == "mps":
        if _mps_available():
            return "mps"
        warn_once("device:mps", "device 'mps' asked for but MPS is not available here; using cpu")
        return "cpu"
    if pref == "cuda" or pref.startswith("cuda:"):
        count = _cuda_count()
        index_text = pref.partition(":")[2]
        if index_text and not index_text.isdigit():
            warn_once(f"device:{pref}", f"device {preference!r} is not a valid CUDA device name; using cpu")
            return "cpu"
        index = int(index_text) if index_text else 0
        if count == 0:
            warn_once(f"device:{pref}", f"device {preference!r} asked for but CUDA is not available here; using cpu")
            return "cpu"
        if index >= count:
            warn_once(
                f"device:{pref}", f"device {preference!r} asked for but only {count} CUDA device(s) exist; using cpu"
            )
            return "cpu"
        return pref
    warn_once(f"device:{pref}", f"unknown device {preference!r} (use auto, cpu, cuda, cuda:N or mps); using cpu")
    return "cpu"


def device_type(device: str) -> str:
    """'cuda:1' -> 'cuda'; 'cpu' -> 'cpu'."""
    return device.partition(":")[0]


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@functools.cache
def bf16_supported_on_cpu() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX), so bf16 autocast is worth it."""
    if torch_installed():
        try:
            import torch

            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except Exception:  # older or unusual builds: fall back to the CPU flags
            pass
    flags = _cpu_flags()
    return bool(flags & {"avx512_bf16", "amx_bf16"})
