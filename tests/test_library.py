"""The Python API with plugins: a folder plugin adds a pass, a failing plugin is contained, entry points load."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from chronicon.cli import cli, load_plugin_commands
from chronicon.errors import ConfigError
from chronicon.library import Library
from chronicon.plugins import PluginHost
from mediafactory import make_jpeg, make_mp4
from test_plugins import write_plugins


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    make_jpeg(root / "a.jpg")
    make_jpeg(root / "longer-name.jpg", color=(1, 200, 3))
    make_mp4(root / "c.mp4", seconds=0.5)
    return root


def test_plugin_pass_runs_alone_on_an_indexed_library(library_dir: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    Library(catalog, environ={}, entry_points=False).scan([str(library_dir)])
    plugins = write_plugins(tmp_path / "plugins")
    (plugins / "explodes.py").unlink()
    (plugins / "broken_import.py").unlink()
    lib = Library(
        catalog, overrides={"plugins.paths": [str(plugins)], "namelength.factor": 2}, environ={}, entry_points=False
    )
    summary = lib.scan([str(library_dir)])
    assert summary.exit_code == 0, summary.plugin_problems
    assert summary.updated == 3
    assert summary.timings["namelength"].items == 3
    assert summary.timings["metadata"].items == 0 and summary.timings["content"].items == 0
    row = lib.info(library_dir / "longer-name.jpg")
    assert row is not None and row["name_length"] == 2 * len("longer-name.jpg")
    module = sys.modules["chronicon_plugins_wordcount"]
    assert module.EVENTS.count("indexed:unchanged") == 3 and module.EVENTS[-1] == "finished"
    (library_dir / "a.jpg").unlink()
    Library(catalog, overrides={"plugins.paths": [str(plugins)]}, environ={}, entry_points=False).scan(
        [str(library_dir)]
    )
    module = sys.modules["chronicon_plugins_wordcount"]  # each Library loads its plugins afresh
    assert module.EVENTS == [f"removed:{library_dir / 'a.jpg'}", "finished"]
    # Disabling the plugin again costs nothing but a signature update, and the pass data stays.
    again = Library(catalog, environ={}, entry_points=False)
    assert again.scan([str(library_dir)]).timings["content"].items == 0


def test_pass_whose_dependency_is_disabled_is_left_out(library_dir: Path, tmp_path: Path) -> None:
    plugins = write_plugins(tmp_path / "plugins")
    (plugins / "explodes.py").unlink()
    (plugins / "broken_import.py").unlink()
    overrides = {"plugins.paths": [str(plugins)], "plugins.disabled": ["metadata"]}
    summary = Library(tmp_path / "catalog", overrides=overrides, environ={}, entry_points=False).scan(
        [str(library_dir)]
    )
    assert summary.counts["new"] == 3 and "namelength" not in summary.timings
    assert summary.exit_code == 1
    assert any("namelength" in p and "needs metadata" in p for p in summary.plugin_problems)


def test_raising_plugins_are_reported_and_the_scan_finishes(library_dir: Path, tmp_path: Path) -> None:
    plugins = write_plugins(tmp_path / "plugins")
    lib = Library(tmp_path / "catalog", overrides={"plugins.paths": [str(plugins)]}, environ={}, entry_points=False)
    summary = lib.scan([str(library_dir)])
    assert summary.counts["new"] == 3
    assert summary.exit_code == 1
    assert any("boom in a plugin" in p for p in summary.plugin_problems)


def test_pass_that_raises_fails_only_its_items(library_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "flaky.py").write_text(
        textwrap.dedent(
            """
            from typing import Any, ClassVar
            from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
            from chronicon.hookspecs import hookimpl
            from chronicon.types import Phase

            class Flaky(PerItemAnalyzer):
                name: ClassVar[str] = "flaky"
                version: ClassVar[int] = 1
                phase: ClassVar[Phase] = Phase.ML

                def analyze(self, item: AssetItem) -> dict[str, Any]:
                    if item.path.endswith(".mp4"):
                        raise RuntimeError("cannot handle videos")
                    return {}

            @hookimpl
            def chronicon_register_analyzers():
                return [Flaky]
            """
        )
    )
    lib = Library(tmp_path / "catalog", overrides={"plugins.paths": [str(folder)]}, environ={}, entry_points=False)
    summary = lib.scan([str(library_dir)])
    assert summary.counts["new"] == 2 and summary.failed == 1
    assert summary.failures[0].stage == "flaky" and "cannot handle videos" in summary.failures[0].reason
    row = lib.info(library_dir / "c.mp4")
    assert row is not None and row["status"] == "error" and row["duration"] is not None  # other passes kept
    assert json.loads(row["phases"])["flaky"]["error_kind"] == "plugin"


def test_entry_point_plugins_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "epplugin").mkdir(parents=True)
    (site / "epplugin" / "__init__.py").write_text(
        "from chronicon.hookspecs import hookimpl\n__version__ = '9.9'\n"
        "@hookimpl\ndef chronicon_scan_finished(summary):\n    pass\n"
    )
    dist = site / "epplugin-9.9.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: epplugin\nVersion: 9.9\n")
    (dist / "entry_points.txt").write_text("[chronicon.plugins]\nepplugin = epplugin\n")
    monkeypatch.syspath_prepend(str(site))
    host = PluginHost()
    host.load()
    info = next(i for i in host.infos if i.name == "epplugin")
    assert info.enabled and info.version == "9.9" and "epplugin" in info.source
    assert info.hooks == ["chronicon_scan_finished"]


def test_plugin_commands_reach_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"plugins:\n  paths: [{write_plugins(tmp_path / 'plugins')}]\n")
    host = load_plugin_commands(["--config", str(config), "hello"])
    result = CliRunner().invoke(cli, ["--config", str(config), "hello"], obj=host)
    assert result.exit_code == 0 and "hello from wordcount" in result.output


def test_library_needs_roots(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to scan"):
        Library(tmp_path / "c", environ={}, entry_points=False).scan()
