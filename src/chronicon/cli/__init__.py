"""The `chronicon` command line: a thin click layer over `Library` that owns exit codes and output.

`main` (the console script `chronicon`, also `python -m chronicon`) and the root group `cli` live in
`chronicon.cli.main`; each command lives in its own module (`core`, `scan`, `search`, `video`, `caption`, `eval`,
`serve`, `catalog`), module-level, and reads the shared helpers (AppState, errors, JSON output) from
`chronicon.api.cli`, the same ones plugin commands use."""

from __future__ import annotations

from chronicon.cli.main import cli, describe_failure, load_plugin_commands, main

__all__ = ["cli", "describe_failure", "load_plugin_commands", "main"]
