"""Include/exclude globs with `**`, matched against paths relative to their root."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob: `**/` any folders (or none), `**` anything, `*` within a name, `?` one char, `[...]`."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


class PathFilter:
    """Decides which relative paths a scan keeps: matching an include (if any) and no exclude."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = [glob_regex(p.lstrip("/")) for p in include]
        self.exclude = [glob_regex(p.lstrip("/")) for p in exclude]

    def keeps_file(self, rel: str) -> bool:
        if any(p.match(rel) for p in self.exclude):
            return False
        return not self.include or any(p.match(rel) for p in self.include)

    def prunes_dir(self, rel: str) -> bool:
        """True when everything under this folder is excluded (so the walk need not enter it)."""
        probe = rel + "/\x00"  # a child name no real file has
        return any(p.match(probe) for p in self.exclude)
