"""The ML runtime: device choice, inference backends and precisions, prepared model runners, batch sizing."""

from __future__ import annotations

from chronicon.runtime.backends import (
    BACKENDS,
    PRECISIONS,
    RUNTIME_SETTINGS,
    backend_available,
    parse_batch_size,
    resolve_backend,
    resolve_precision,
)
from chronicon.runtime.batching import auto_batch_size, is_out_of_memory
from chronicon.runtime.device import bf16_supported_on_cpu, choose_device, warn_once
from chronicon.runtime.report import runtime_report
from chronicon.runtime.runner import ModelRunner, prepare_model

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "RUNTIME_SETTINGS",
    "ModelRunner",
    "auto_batch_size",
    "backend_available",
    "bf16_supported_on_cpu",
    "choose_device",
    "is_out_of_memory",
    "parse_batch_size",
    "prepare_model",
    "resolve_backend",
    "resolve_precision",
    "runtime_report",
    "warn_once",
]
