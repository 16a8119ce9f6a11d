"""Layered configuration: defaults < user file < environment < CLI flags, validated against declared settings."""

from __future__ import annotations

import builtins
import difflib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from chronicon.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PREFIX = "CHRONICON_"
ENV_CONFIG_FILE = "CHRONICON_CONFIG"  # names a config file; not a key
_KINDS = ("bool", "int", "float", "str", "list", "path", "records")


@dataclass(frozen=True)
class Setting:
    """One config key: its kind, default and the values it allows."""

    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown setting kind {self.kind!r}; allowed: {', '.join(_KINDS)}")

    def allowed(self) -> str:
        """Human description of what this key accepts, used in error messages."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "list":
            text = "a list of strings"
        elif self.kind == "records":
            text = "a list of mappings (e.g. - {name: x, query: y})"
        elif self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            lo = "" if self.minimum is None else f" >= {self.minimum:g}"
            hi = "" if self.maximum is None else f" <= {self.maximum:g}"
            text = noun + lo + (" and" if lo and hi else "") + hi
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "path":
            text = "a path"
        else:
            text = "a string"
        return text + (" (or null)" if self.nullable else "")

    def check(self, key: str, value: Any) -> Any:
        """Return the value coerced to this setting's kind, or raise ConfigError naming the key."""
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"config key {key!r} may not be null; allowed: {self.allowed()}")
        bad = ConfigError(f"config key {key!r} has bad value {value!r}; allowed: {self.allowed()}")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise bad
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad
            if self.kind == "int" and not float(value).is_integer():
                raise bad
            number: int | float = int(value) if self.kind == "int" else float(value)
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise bad
            return number
        if self.kind == "records":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise bad
            return [dict(v) for v in value]
        if self.kind == "list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad
            if self.choices and any(v not in self.choices for v in value):
                raise bad
            return list(value)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise bad
        text = str(value)
        if self.choices and text not in self.choices:
            raise bad
        if self.kind == "path":
            return os.path.expanduser(text)
        return text


# The core keys, each declared once with its default (default.yaml documents them; a test keeps the two equal).
CORE_SETTINGS: dict[str, Setting] = {
    "catalog": Setting("path", None, nullable=True),  # a folder, or s3://bucket/prefix (docs/object-storage.md)
    "catalog_storage_options": Setting("list", []),  # name=value LanceDB/S3 options of an s3:// catalog
    "catalog_lease_seconds": Setting("float", 60.0, minimum=1, maximum=86_400),
    "catalog_staging": Setting("path", None, nullable=True),  # an s3:// catalog's local folder
    "roots": Setting("list", []),
    "model_cache": Setting("path", None, nullable=True),
    "log_level": Setting("str", "info", choices=("debug", "info", "warning", "error")),
    "scan.include": Setting("list", []),
    "scan.exclude": Setting("list", ["**/@eaDir/**", "**/.thumbnails/**", "**/#recycle/**", "**/$RECYCLE.BIN/**"]),
    "scan.follow_symlinks": Setting("bool", True),
    "scan.workers": Setting("int", 0, minimum=0, maximum=256),
    "scan.batch_size": Setting("int", 256, minimum=1, maximum=100_000),
    "scan.model_chunk": Setting("int", 32, minimum=0, maximum=100_000),
    "scan.hash": Setting("str", "sampled", choices=("sampled", "full")),
    "scan.max_image_pixels": Setting("int", 250_000_000, minimum=1),
    "scan.skip_extensions": Setting(
        "list", [".xmp", ".aae", ".json", ".txt", ".md", ".db", ".ini", ".thm", ".lrv", ".pdf", ".zip", ".nfo"]
    ),
    "scan.missing_grace_days": Setting("float", 30.0, minimum=0),
    "scan.compact_after_batches": Setting("int", 16, minimum=1),
    "scan.engine": Setting("str", "local", choices=("local", "ray")),
    "scan.ray_address": Setting("str", None, nullable=True),  # checked by scan.ray_engine.check_address
    "scan.ray_concurrency": Setting("int", 0, minimum=0, maximum=100_000),
    "scan.ray_num_gpus": Setting("float", None, minimum=0.0, maximum=64.0, nullable=True),
    "scan.ray_retries": Setting("int", 3, minimum=0, maximum=100),
    "search.space": Setting("str", "auto"),  # or a contributed space's kind: checked by the search engine
    "search.hybrid": Setting("bool", True),
    "search.limit": Setting("int", 20, minimum=1, maximum=10_000),
    "search.min_score": Setting("float", None, minimum=-1.0, maximum=1.0, nullable=True),
    "search.rrf_k": Setting("float", 60.0, minimum=1.0),
    "search.speech_min_score": Setting("float", 0.15, minimum=-1.0, maximum=1.0),
    "search.video_score": Setting("str", "best_frame", choices=("pooled", "best_frame")),
    "search.cutoff": Setting("bool", True),
    "search.cutoff_z": Setting("float", 2.0, minimum=0.0, maximum=20.0),
    "search.cutoff_gap": Setting("float", 3.0, minimum=0.0, maximum=20.0, nullable=True),
    "search.ann_threshold": Setting("int", 100_000, minimum=1),
    "search.prefilter_cache": Setting("int", 8, minimum=0),
    "server.host": Setting("str", "127.0.0.1"),
    "server.port": Setting("int", 8765, minimum=0, maximum=65535),
    "server.token": Setting("str", None, nullable=True),
    "eval.terminology": Setting("path", None, nullable=True),
    "plugins.paths": Setting("list", []),
    "plugins.disabled": Setting("list", []),
}


def core_section(name: str, values: Mapping[str, Any]) -> Section:
    """A core section (`scan`, `search`, ...) from a mapping: a `Section` as is, else the declared defaults with
    these values over them (tests and tools build engines from plain dicts)."""
    if isinstance(values, Section):
        return values
    prefix = name + "."
    declared = {k[len(prefix) :]: v for k, v in CORE_SETTINGS.items() if k.startswith(prefix)}
    return Section.declared(name, declared, **dict(values))


class Section(Mapping[str, Any]):
    """One config section (`search`, a pass's own): its values, checked against the declared settings, read by
    typed accessors (`section.int("batch_size")`). Defaults live only in the declarations: a key that was not
    declared is a ConfigError naming the section, never a silent fallback."""

    def __init__(
        self,
        name: builtins.str,
        values: Mapping[builtins.str, Any],
        settings: Mapping[builtins.str, Setting] | None = None,
    ) -> None:
        self.name = name
        self._values = dict(values)
        self._settings = dict(settings or {})

    @classmethod
    def declared(cls, name: builtins.str, settings: Mapping[builtins.str, Setting], **values: Any) -> Section:
        """A section of these settings at their defaults, with `values` checked and set over them (for tests and
        for code that builds a pass outside a Library)."""
        merged = {key: setting.default for key, setting in settings.items()}
        for key, value in values.items():
            if key not in settings:
                raise ConfigError(f"{name}: no setting {key!r} (declared: {', '.join(sorted(settings))})")
            merged[key] = settings[key].check(f"{name}.{key}", value)
        return cls(name, merged, settings)

    def __getitem__(self, key: builtins.str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            declared = ", ".join(sorted(self._values)) or "none"
            raise ConfigError(f"config key {self.name}.{key} is not declared (keys here: {declared})") from None

    def __iter__(self) -> Iterator[builtins.str]:
        return iter(self._values)

    def __len__(self) -> builtins.int:
        return len(self._values)

    def __repr__(self) -> builtins.str:
        return f"Section({self.name!r}, {self._values!r})"

    def setting(self, key: builtins.str) -> Setting | None:
        return self._settings.get(key)

    # Typed reads: the value as the declaration's kind (a value of another type is a bug in the declaration).
    def bool(self, key: builtins.str) -> builtins.bool:
        return bool(self[key])

    def int(self, key: builtins.str) -> builtins.int:
        return int(self[key])

    def float(self, key: builtins.str) -> builtins.float:
        return float(self[key])

    def str(self, key: builtins.str) -> builtins.str:
        value = self[key]
        return "" if value is None else str(value)

    def optional_str(self, key: builtins.str) -> builtins.str | None:
        value = self[key]
        return None if value is None or value == "" else str(value)

    def optional_float(self, key: builtins.str) -> builtins.float | None:
        value = self[key]
        return None if value is None else float(value)

    def list(self, key: builtins.str) -> builtins.list[builtins.str]:
        return [str(v) for v in (self[key] or [])]

    def records(self, key: builtins.str) -> builtins.list[dict[builtins.str, Any]]:
        return [dict(v) for v in (self[key] or [])]


def load_default_yaml() -> dict[str, Any]:
    """The packaged default.yaml as a nested dict."""
    text = resources.files("chronicon").joinpath("default.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError("default.yaml is not a mapping")
    return data


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"scan": {"workers": 2}} -> {"scan.workers": 2}; a mapping is always a section, never a value."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ConfigError(f"config key {prefix}{key!r} is not a string")
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def default_user_config_file() -> Path:
    """Where the user's config file lives when --config is not given."""
    return Path(platformdirs.user_config_dir("chronicon")) / "config.yaml"


def default_catalog_dir() -> Path:
    """The catalog folder when neither config nor --catalog names one."""
    return Path(platformdirs.user_data_dir("chronicon")) / "catalog"


def read_config_file(path: Path) -> dict[str, Any]:
    """Flattened keys of a YAML config file; a broken file is a ConfigError naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(data).__name__}")
    return flatten(data)


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """CHRONICON_SCAN__WORKERS=4 -> {"scan.workers": 4}; values are parsed as YAML scalars or lists."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key] = raw
    return out


@dataclass
class Config:
    """Validated, flattened settings with the layer each value came from."""

    values: dict[str, Any]
    origins: dict[str, str]
    settings: dict[str, Setting]
    files: list[Path] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise ConfigError(f"unknown config key {key!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.values))

    def section(self, name: str) -> Section:
        """All keys of one section without the prefix, typed: section("content").int("thumbnail_size")."""
        prefix = name + "."
        values = {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}
        settings = {k[len(prefix) :]: v for k, v in self.settings.items() if k.startswith(prefix)}
        return Section(name, values, settings)

    def nested(self) -> dict[str, Any]:
        """The values as nested mappings, the shape of a config file."""
        tree: dict[str, Any] = {}
        for key in sorted(self.values):
            node = tree
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = self.values[key]
        return tree

    @property
    def catalog_dir(self) -> Path:
        value = self.values.get("catalog")
        return Path(value) if value else default_catalog_dir()


@dataclass
class ConfigLayers:
    """The raw (unvalidated) layers, kept so plugin settings can join before validation."""

    defaults: dict[str, Any]
    user: dict[str, Any]
    env: dict[str, Any]
    cli: dict[str, Any]
    files: list[Path]

    def raw(self, key: str) -> Any:
        """Value of one key from the highest layer that sets it (used to find plugin folders early)."""
        for layer in (self.cli, self.env, self.user, self.defaults):
            if key in layer:
                return layer[key]
        return None


def read_layers(
    config_file: str | os.PathLike[str] | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigLayers:
    """Read every layer; the user file is --config, else $CHRONICON_CONFIG, else the XDG one if it exists."""
    env = os.environ if environ is None else environ
    files: list[Path] = []
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        files.append(path)
    elif env.get(ENV_CONFIG_FILE):
        path = Path(env[ENV_CONFIG_FILE])
        if not path.is_file():
            raise ConfigError(f"config file {path} (from ${ENV_CONFIG_FILE}) does not exist")
        files.append(path)
    elif default_user_config_file().is_file():
        files.append(default_user_config_file())
    user: dict[str, Any] = {}
    for path in files:
        user.update(read_config_file(path))
    return ConfigLayers(
        defaults={key: setting.default for key, setting in CORE_SETTINGS.items()},
        user=user,
        env=read_environment(env),
        cli={k: v for k, v in (cli or {}).items() if v is not None},
        files=files,
    )


def resolve(layers: ConfigLayers, extra_settings: Mapping[str, Setting] | None = None) -> Config:
    """Validate the layers against the core and plugin settings and merge them into one Config."""
    settings: dict[str, Setting] = dict(CORE_SETTINGS)
    for key, setting in (extra_settings or {}).items():
        if key in settings and settings[key] != setting:
            raise ConfigError(f"config key {key!r} is declared twice with different settings")
        settings[key] = setting
    defaults = {key: setting.default for key, setting in settings.items()}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    # The config section of a plugin that `plugins.disabled` leaves out is kept for later, not an error.
    raw_disabled = layers.raw("plugins.disabled")
    disabled = {str(d) for d in raw_disabled} if isinstance(raw_disabled, list) else set()
    for origin, layer in (
        ("default", defaults),
        ("file", layers.user),
        ("env", layers.env),
        ("cli", layers.cli),
    ):
        for key, value in layer.items():
            found = settings.get(key)
            if found is None and key.split(".", 1)[0] in disabled:
                continue
            if found is None and origin == "env":
                # A stray variable (another tool's, an old key) must not stop every command: warn and ignore.
                _warn_unknown_env(key, settings)
                continue
            if found is None:
                raise ConfigError(_unknown_key_message(key, settings, origin))
            values[key] = found.check(key, value)
            origins[key] = origin
    return Config(values=values, origins=origins, settings=settings, files=list(layers.files))


_warned_env: set[str] = set()


def _warn_unknown_env(key: str, settings: Mapping[str, Setting]) -> None:
    if key in _warned_env:
        return
    _warned_env.add(key)
    name = env_name(key)
    close = difflib.get_close_matches(key, list(settings), n=1, cutoff=0.8)
    hint = f"; did you mean {env_name(close[0])} ({close[0]})?" if close else "; it is ignored"
    log.warning("unknown config key %r from the environment variable %s%s", key, name, hint)


def env_name(key: str) -> str:
    """The environment variable of a config key: scan.workers -> CHRONICON_SCAN__WORKERS."""
    return ENV_PREFIX + key.upper().replace(".", "__")


def _unknown_key_message(key: str, settings: Mapping[str, Setting], origin: str) -> str:
    section = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = sorted(k for k in settings if (k.rsplit(".", 1)[0] if "." in k else "") == section)
    where = {"file": "config file", "env": "environment", "cli": "command line", "default": "defaults"}[origin]
    if siblings:
        return f"unknown config key {key!r} (from {where}); allowed keys here: {', '.join(siblings)}"
    sections = sorted({k.split(".", 1)[0] for k in settings})
    return f"unknown config key {key!r} (from {where}); known sections and keys: {', '.join(sections)}"


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    extra_settings: Mapping[str, Setting] | None = None,
) -> Config:
    """Read and validate all layers in one call (no plugin discovery; see `chronicon.library`)."""
    return resolve(read_layers(config_file, cli, environ), extra_settings)
