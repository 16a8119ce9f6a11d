"""Config overrides that turn the ML passes off, for tests that are not about them (models load in seconds)."""

from __future__ import annotations

NO_ML = {
    "tags.enabled": False,
    "clip.enabled": False,
    "transcribe.enabled": False,
    "caption.enabled": False,
    "ocr.enabled": False,
    "shots.detector": "fast",  # (TransNetV2 is a model too: the fast detector needs none)
}
