"""What the bundled plugins' tests share: the plugins folder, a CLI config that loads it, running the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chronicon.cli import main
from ml_switches import NO_ML

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


def write_cli_config(folder: Path, *, disabled: list[str], **sections: Any) -> Path:
    """A config file: a catalog in `folder`, the plugins folder as plugin path, ML passes off, more sections."""
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "catalog": str(folder / "catalog"),
                "plugins": {"paths": [str(PLUGINS_DIR)], "disabled": disabled},
                **{key.split(".")[0]: {"enabled": False} for key in NO_ML},
                **sections,
            }
        )
    )
    return config


def run_cli(args: list[str], config: Path) -> int:
    """`chronicon --config CONFIG ARGS...` in this process; its exit code."""
    try:
        main(["--config", str(config), *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
