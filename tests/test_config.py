"""Config layers, validation messages and the default.yaml contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chronicon.builtin.content import ContentPass
from chronicon.config import CORE_SETTINGS, Setting, flatten, load_config, load_default_yaml, read_layers, resolve
from chronicon.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_repo_config_file_is_the_packaged_defaults() -> None:
    assert yaml.safe_load((REPO / "config" / "default.yaml").read_text()) == load_default_yaml()


def test_every_core_setting_is_documented_in_default_yaml() -> None:
    defaults = flatten(load_default_yaml())
    missing = [key for key in CORE_SETTINGS if key not in defaults]
    assert missing == []
    for key, setting in CORE_SETTINGS.items():
        assert setting.check(key, defaults[key]) == defaults[key] or setting.kind == "path"


def test_builtin_pass_settings_match_default_yaml() -> None:
    defaults = flatten(load_default_yaml())
    for key, setting in ContentPass.settings.items():
        assert defaults[f"content.{key}"] == setting.default, key


def test_default_yaml_is_exactly_the_declarations() -> None:
    """Each key is declared once (a `Setting`, the only source of its default); default.yaml documents every
    declared key of the core and the built-in passes with that same default, and nothing else."""
    from chronicon.plugins import PluginHost

    host = PluginHost()
    host.load(entry_points=False)
    declared = {**CORE_SETTINGS, **host.settings(host.analyzer_classes())}
    documented = flatten(load_default_yaml())
    assert sorted(set(documented) - set(declared)) == []  # documented but not declared
    assert sorted(set(declared) - set(documented)) == []  # declared but undocumented
    for key, setting in declared.items():
        assert documented[key] == setting.default, (
            f"{key}: default.yaml says {documented[key]!r}, the declaration {setting.default!r}"
        )


def test_layers_override_in_order(tmp_path: Path) -> None:
    user = tmp_path / "c.yaml"
    user.write_text("scan:\n  workers: 3\n  batch_size: 10\nroots: [/a]\n")
    env = {"CHRONICON_SCAN__BATCH_SIZE": "20", "CHRONICON_SCAN__HASH": "full"}
    config = load_config(user, cli={"scan.hash": "sampled"}, environ=env)
    assert config["scan.workers"] == 3
    assert config.origins["scan.workers"] == "file"
    assert config["scan.batch_size"] == 20
    assert config.origins["scan.batch_size"] == "env"
    assert config["scan.hash"] == "sampled"
    assert config.origins["scan.hash"] == "cli"
    assert config["roots"] == ["/a"]
    assert config["scan.follow_symlinks"] is True
    assert config.origins["scan.follow_symlinks"] == "default"
    assert config.nested()["scan"]["workers"] == 3


def test_environment_config_file_variable(tmp_path: Path) -> None:
    user = tmp_path / "c.yaml"
    user.write_text("log_level: debug\n")
    config = load_config(environ={"CHRONICON_CONFIG": str(user)})
    assert config["log_level"] == "debug"
    assert config.files == [user]


def test_unknown_key_names_the_key_and_the_allowed_ones(tmp_path: Path) -> None:
    user = tmp_path / "c.yaml"
    user.write_text("scan:\n  wrokers: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(user, environ={})
    message = str(err.value)
    assert "'scan.wrokers'" in message
    assert "scan.workers" in message


def test_bad_choice_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'scan.hash'.*one of sampled, full"):
        load_config(cli={"scan.hash": "md5"}, environ={})


@pytest.mark.parametrize(
    ("key", "value"),
    [("scan.workers", -1), ("scan.workers", "many"), ("scan.follow_symlinks", "yes"), ("scan.batch_size", 0.5)],
)
def test_bad_values_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(cli={key: value}, environ={})


def test_unknown_environment_key_warns_and_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    # Another tool's CHRONICON_* variable, or an old key, must not stop every command (a file's typo still does).
    with caplog.at_level("WARNING", logger="chronicon.config"):
        config = load_config(environ={"CHRONICON_SCAN__NOPE": "1", "CHRONICON_SCAN__WORKRS": "3"})
    assert "scan.nope" not in config
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "CHRONICON_SCAN__NOPE" in messages and "it is ignored" in messages
    assert "did you mean CHRONICON_SCAN__WORKERS" in messages


def test_broken_yaml_file_names_the_file(tmp_path: Path) -> None:
    user = tmp_path / "c.yaml"
    user.write_text("scan: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(user, environ={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_plugin_settings_join_validation() -> None:
    layers = read_layers(cli={"myplugin.threshold": 0.5}, environ={})
    extra = {"myplugin.threshold": Setting("float", 0.2, minimum=0, maximum=1)}
    assert resolve(layers, extra)["myplugin.threshold"] == 0.5
    with pytest.raises(ConfigError, match=r"myplugin.threshold.*<= 1"):
        resolve(read_layers(cli={"myplugin.threshold": 3}, environ={}), extra)
    assert resolve(read_layers(environ={}), extra)["myplugin.threshold"] == 0.2
