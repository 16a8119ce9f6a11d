"""Closed sets shared across the engine: media kinds, phases, statuses, scan outcomes."""

from __future__ import annotations

from enum import StrEnum


class MediaKind(StrEnum):
    """What a file is, decided by content sniffing."""

    IMAGE = "image"
    VIDEO = "video"


class Phase(StrEnum):
    """Scan phases, run in this order for every batch of assets."""

    METADATA = "metadata"
    CONTENT = "content"
    ML = "ml"


PHASE_ORDER: tuple[Phase, ...] = (Phase.METADATA, Phase.CONTENT, Phase.ML)


class PassStatus(StrEnum):
    """Outcome of one pass over one asset."""

    DONE = "done"
    ERROR = "error"
    SKIPPED = "skipped"  # the pass does not apply (dependency failed, or kind mismatch)


class AssetStatus(StrEnum):
    """Roll-up of every pass of an asset."""

    OK = "ok"
    ERROR = "error"  # at least one pass failed; the others' data is kept
    PENDING = "pending"  # discovered, passes not run yet (an interrupted scan resumes these)


class Change(StrEnum):
    """How a file on disk relates to the catalog."""

    NEW = "new"
    CHANGED = "changed"
    MOVED = "moved"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    FAILED = "failed"


class ErrorKind(StrEnum):
    """Why a file failed; `io` errors are retried on every scan, `media` errors only when the file changes."""

    IO = "io"
    MEDIA = "media"
    PLUGIN = "plugin"
