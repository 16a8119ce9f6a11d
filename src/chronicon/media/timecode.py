"""Times in a video as people read them: 00:01:23, and SRT/WebVTT cue times."""

from __future__ import annotations


def clock(seconds: float | None) -> str:
    """00:01:23 (hours always shown, so columns line up); empty for None."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def cue(seconds: float, sep: str = ",") -> str:
    """00:01:02,345 (SRT) or, with sep='.', 00:01:02.345 (WebVTT)."""
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms % 3_600_000 // 60_000:02d}:{ms % 60_000 // 1000:02d}{sep}{ms % 1000:03d}"
