"""Plugin discovery (built-ins, folders, entry points), containment of failures, and the hookspec meta-test."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

from chronicon import hookspecs
from chronicon.plugins import PluginHost

REPO = Path(__file__).resolve().parents[1]

GOOD_PLUGIN = '''
from __future__ import annotations
from typing import Any, ClassVar
import click
import pyarrow as pa
from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.config import Setting
from chronicon.hookspecs import hookimpl
from chronicon.types import Phase

PLUGIN_NAME = "wordcount"
__version__ = "1.2.3"
EVENTS: list[str] = []

class NameLength(PerItemAnalyzer):
    name: ClassVar[str] = "namelength"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    depends: ClassVar[tuple[str, ...]] = ("metadata",)
    columns: ClassVar[dict[str, pa.DataType]] = {"name_length": pa.int64()}
    settings: ClassVar[dict[str, Setting]] = {"factor": Setting("int", 1, minimum=1)}

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        return {"name_length": len(item.path.rsplit("/", 1)[-1]) * int(self.config["factor"])}

@hookimpl
def chronicon_register_analyzers():
    return [NameLength]

@hookimpl
def chronicon_register_commands(cli: click.Group) -> None:
    @cli.command("hello")
    def hello() -> None:
        """Say hello from a plugin."""
        click.echo("hello from wordcount")

@hookimpl
def chronicon_asset_indexed(event):
    EVENTS.append("indexed:" + event.change.value)

@hookimpl
def chronicon_asset_removed(event):
    EVENTS.append("removed:" + event.path)

@hookimpl
def chronicon_register_settings():
    return {"wordcount.greeting": Setting("str", "hello")}

@hookimpl
def chronicon_scan_finished(summary):
    EVENTS.append("finished")
'''

BAD_PLUGIN = """
from chronicon.hookspecs import hookimpl

@hookimpl
def chronicon_asset_indexed(event):
    raise RuntimeError("boom in a plugin")
"""


def write_plugins(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wordcount.py").write_text(textwrap.dedent(GOOD_PLUGIN))
    (folder / "explodes.py").write_text(textwrap.dedent(BAD_PLUGIN))
    (folder / "broken_import.py").write_text("import this_module_does_not_exist\n")
    return folder


def test_builtins_are_plugins() -> None:
    host = PluginHost()
    host.load(entry_points=False)
    names = {i.name for i in host.infos if i.enabled}
    builtins = ["metadata", "xmp", "live", "raw_pairs", "content", "bursts", "shots", "tags", "clip", "transcribe",
                "caption", "ocr", "summarize"]  # fmt: skip
    assert set(builtins) <= names
    assert [c.name for c in host.analyzer_classes()] == builtins


def test_folder_plugins_load_and_failures_are_contained(tmp_path: Path) -> None:
    host = PluginHost()
    host.load(paths=[str(write_plugins(tmp_path / "plugins"))], entry_points=False)
    infos = {i.name: i for i in host.infos}
    assert infos["wordcount"].version == "1.2.3"
    assert "chronicon_register_analyzers" in infos["wordcount"].hooks
    assert any(p.plugin == "broken_import" and p.where == "import" for p in host.problems)
    assert "namelength" in [c.name for c in host.analyzer_classes()]
    settings = host.settings(host.analyzer_classes())
    assert "namelength.factor" in settings and "namelength.enabled" in settings
    assert settings["wordcount.greeting"].default == "hello"
    host.call("chronicon_asset_indexed", event=object())
    assert any(p.plugin == "explodes" and "boom in a plugin" in p.error for p in host.problems)


def test_disabled_plugins_are_listed_but_not_loaded(tmp_path: Path) -> None:
    host = PluginHost()
    host.load(paths=[str(write_plugins(tmp_path / "p"))], disabled=["wordcount", "content"], entry_points=False)
    enabled = {i.name: i.enabled for i in host.infos}
    assert enabled["wordcount"] is False and enabled["content"] is False
    assert [c.name for c in host.analyzer_classes()] == [
        "metadata",
        "xmp",
        "live",
        "raw_pairs",
        "bursts",
        "shots",
        "tags",
        "clip",
        "transcribe",
        "caption",
        "ocr",
        "summarize",
    ]


def test_missing_plugin_folder_is_reported(tmp_path: Path) -> None:
    host = PluginHost()
    host.load(paths=[str(tmp_path / "nope")], entry_points=False)
    assert any("does not exist" in p.error for p in host.problems)


def _hook_names() -> list[str]:
    return [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("chronicon_")]


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hookspec_is_documented_and_tested(hook: str) -> None:
    """Meta-test: each hook has a docstring, an entry in docs/plugins.md and a test that implements it."""
    func = getattr(hookspecs, hook)
    assert func.__doc__ and func.__doc__.strip()
    assert hook in (REPO / "docs" / "plugins.md").read_text()
    tests = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    assert re.search(rf"def {hook}\(", tests), f"no test implements {hook}"
