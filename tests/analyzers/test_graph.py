"""Analyzer ordering, dependency errors, pass signatures and the lazy, locked load."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from chronicon.analyzers.base import Analyzer, AnalyzerContext, AssetItem, Outcome, PerItemAnalyzer
from chronicon.analyzers.graph import order_analyzers, pass_signature
from chronicon.errors import PluginError
from chronicon.types import MediaKind, Phase


def _make(name: str, phase: Phase, depends: tuple[str, ...] = (), kinds: frozenset[MediaKind] | None = None) -> Any:
    attrs: dict[str, Any] = {"name": name, "version": 1, "phase": phase, "depends": depends}
    if kinds is not None:
        attrs["kinds"] = kinds
    attrs["analyze"] = lambda self, item: {}
    cls = type(name.title(), (PerItemAnalyzer,), attrs)
    return cls(AnalyzerContext({}, Path(".")))


def test_order_is_by_phase_then_dependencies() -> None:
    a = _make("captions", Phase.ML, depends=("clip",))
    b = _make("clip", Phase.ML)
    c = _make("content", Phase.CONTENT)
    d = _make("metadata", Phase.METADATA)
    assert [x.name for x in order_analyzers([a, b, c, d])] == ["metadata", "content", "clip", "captions"]


def test_unknown_dependency_and_cycles_are_errors() -> None:
    with pytest.raises(PluginError, match="depends on nothere"):
        order_analyzers([_make("a", Phase.ML, depends=("nothere",))])
    with pytest.raises(PluginError, match="cycle"):
        order_analyzers([_make("a", Phase.ML, depends=("b",)), _make("b", Phase.ML, depends=("a",))])
    with pytest.raises(PluginError, match="later phase"):
        order_analyzers([_make("a", Phase.METADATA, depends=("b",)), _make("b", Phase.ML)])


def test_signature_depends_on_kind_and_version() -> None:
    photo_only = _make("faces", Phase.ML, kinds=frozenset({MediaKind.IMAGE}))
    both = _make("metadata", Phase.METADATA)
    assert pass_signature([photo_only, both], MediaKind.IMAGE) == "faces@1,metadata@1"
    assert pass_signature([photo_only, both], MediaKind.VIDEO) == "metadata@1"


class _Slow(Analyzer):
    name: ClassVar[str] = "slow"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    loads = 0

    def _load(self) -> None:
        type(self).loads += 1

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        return [{"n": i} for i, _ in enumerate(items)]


def test_load_is_lazy_locked_and_idempotent() -> None:
    analyzer = _Slow(AnalyzerContext({}, Path(".")))
    assert _Slow.loads == 0
    items = [AssetItem(str(i), f"/x/{i}", MediaKind.IMAGE, "jpeg", 1, 1) for i in range(3)]
    threads = [threading.Thread(target=analyzer.run, args=(items,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _Slow.loads == 1
    assert analyzer.run(items) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_per_item_analyzer_contains_item_errors() -> None:
    class Picky(PerItemAnalyzer):
        name: ClassVar[str] = "picky"
        version: ClassVar[int] = 1
        phase: ClassVar[Phase] = Phase.CONTENT

        def analyze(self, item: AssetItem) -> dict[str, Any]:
            if item.id == "bad":
                raise ValueError("nope")
            return {"ok": item.id}

    items = [AssetItem(i, f"/x/{i}", MediaKind.IMAGE, "jpeg", 1, 1) for i in ("a", "bad", "c")]
    out = Picky(AnalyzerContext({}, Path("."))).run(items)
    assert out[0] == {"ok": "a"} and isinstance(out[1], ValueError) and out[2] == {"ok": "c"}
