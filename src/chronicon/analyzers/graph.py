"""Ordering analyzers by phase and dependencies, and the signature that says which versions ran."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chronicon.analyzers.base import Analyzer
from chronicon.errors import PluginError
from chronicon.types import PHASE_ORDER, MediaKind


def order_analyzers(analyzers: Iterable[Analyzer]) -> list[Analyzer]:
    """Phase order first, then dependencies (a stable topological sort); cycles and unknown deps are errors."""
    pending = sorted(analyzers, key=lambda a: (PHASE_ORDER.index(a.phase), a.name))
    names = {a.name for a in pending}
    for analyzer in pending:
        missing = [d for d in analyzer.depends if d not in names]
        if missing:
            raise PluginError(f"analyzer {analyzer.name!r} depends on {', '.join(missing)}, which is not enabled")
    ordered: list[Analyzer] = []
    placed: set[str] = set()
    while pending:
        for index, analyzer in enumerate(pending):
            soft = [u for u in analyzer.uses if u in names]  # optional inputs still run first when enabled
            if all(d in placed for d in (*analyzer.depends, *soft)):
                ordered.append(pending.pop(index))
                placed.add(analyzer.name)
                break
        else:
            cycle = ", ".join(a.name for a in pending)
            raise PluginError(f"analyzers depend on each other in a cycle: {cycle}")
    for analyzer in ordered:
        for dep in analyzer.depends:
            dep_phase = next(a.phase for a in ordered if a.name == dep)
            if PHASE_ORDER.index(dep_phase) > PHASE_ORDER.index(analyzer.phase):
                raise PluginError(
                    f"analyzer {analyzer.name!r} ({analyzer.phase}) depends on {dep!r}, "
                    f"which runs in the later phase {dep_phase}"
                )
    return ordered


def pass_signature(analyzers: Sequence[Analyzer], kind: MediaKind) -> str:
    """`name@fingerprint` of every pass that applies to this kind: equal signatures mean nothing to re-run."""
    return ",".join(sorted(f"{a.name}@{a.fingerprint()}" for a in analyzers if kind in a.kinds))
