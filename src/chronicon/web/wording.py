"""Error messages for API clients: the library words some errors for the command line (`--min-count`,
`--label`, `--min-score`, ...); the API names its own parameters (`min_count`, `label`, `min_score`) instead.
Only flags that are API parameters are reworded, so the CLI keeps its messages and other text stays as it is."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chronicon.api.web import storage_message, storage_status  # defined there, for plugin routes too

__all__ = ["CORE_FLAGS", "api_flags", "api_message", "storage_message", "storage_status"]

# CLI flags of `chronicon search` / `similar` -> the query parameter of /api/search and /api/browse.
CORE_FLAGS = {
    "--kind": "kind",
    "--after": "after",
    "--before": "before",
    "--camera": "camera",
    "--label": "label",
    "--under": "under",
    "--has-speech": "has_speech",
    "--min-count": "min_count",
    "--gps": "gps",
    "--sort": "sort",
    "--min-score": "min_score",
    "--space": "space",
    "--limit": "limit",
    "--no-hybrid": "hybrid=false",
}
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")


def api_flags(plugin_filters: Iterable[str] = ()) -> dict[str, str]:
    """The CLI flag -> API parameter map: the core filters and every plugin filter (`--min-aesthetic` is
    `min_aesthetic`)."""
    flags = dict(CORE_FLAGS)
    flags.update({"--" + name.replace("_", "-"): name for name in plugin_filters})
    return flags


def api_message(message: str, flags: dict[str, str]) -> str:
    """The message with the CLI flags it names replaced by the API parameters (`--min-count 'x'` ->
    `min_count 'x'`); flags that are not API parameters are left alone."""
    return _FLAG.sub(lambda m: flags.get(m.group(0), m.group(0)), message)
