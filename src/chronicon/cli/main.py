"""The root `chronicon` group, the console-script entry point and the plugin commands' loading.

The command modules of this package define module-level click commands; this module imports them and attaches
them to the group (`cli.add_command`), so nothing in the package imports this module back."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from chronicon import __version__, logs
from chronicon.api.cli import EXIT_CANNOT_RUN, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, AppState
from chronicon.cli.caption import caption
from chronicon.cli.catalog import catalog_group
from chronicon.cli.core import config_group, doctor, info, plugins_group, stats
from chronicon.cli.eval import eval_group
from chronicon.cli.scan import scan
from chronicon.cli.search import add_plugin_filter_options, search, similar
from chronicon.cli.serve import serve
from chronicon.cli.video import export, transcript
from chronicon.config import read_layers
from chronicon.errors import ChroniconError, ConfigError
from chronicon.plugins import PluginHost


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="chronicon")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="CHRONICON_CONFIG",
    help="Config file (default: ~/.config/chronicon/config.yaml if it exists).",
)
@click.option(
    "--catalog",
    type=click.Path(file_okay=False),
    help="Catalog folder, or s3://bucket/prefix on object storage (overrides the `catalog` key).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Library log level.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, catalog: str | None, log_level: str | None) -> None:
    """Chronicon indexes photo and video folders into a searchable catalog.

    \b
    Typical use:
      chronicon scan ~/Pictures ~/Videos     # index (incremental: unchanged files cost nothing)
      chronicon search "dog in the snow"     # semantic search (see chronicon search --help)
      chronicon similar ~/Pictures/a.jpg     # photos that look like this one
      chronicon transcript talk.mp4 --format srt   # what is said in a video, with times
      chronicon stats                        # what the catalog holds
      chronicon info ~/Pictures/IMG_0001.JPG # everything known about one file

    Exit codes: 0 all good, 1 some files failed, 2 usage or config error, 3 the catalog is locked by
    another scan or cannot be opened, read or written, 4 an unexpected internal error.
    """
    overrides: dict[str, Any] = {}
    if catalog:
        overrides["catalog"] = catalog
    if log_level:
        overrides["log_level"] = log_level
    host = ctx.obj if isinstance(ctx.obj, PluginHost) else None
    level = log_level
    if level is None:
        try:
            raw = read_layers(config_file).raw("log_level")
            level = raw if isinstance(raw, str) else "info"
        except ConfigError:
            level = "info"
    ctx.obj = AppState(config_file, overrides, host, level)
    logs.configure(level)


for _command in (
    scan, info, stats, config_group, doctor, plugins_group, search, similar, serve, transcript, export, eval_group,
    caption, catalog_group,
):  # fmt: skip
    cli.add_command(_command)


# -- entry point ----------------------------------------------------------------------------------------
def _preparse_config_file(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return os.environ.get("CHRONICON_CONFIG") or None


def load_plugin_commands(argv: Sequence[str]) -> PluginHost | None:
    """Load plugins before click parses, so plugin commands appear in --help; problems are reported later."""
    try:
        layers = read_layers(_preparse_config_file(argv))
    except ConfigError:
        return None  # the command itself reports the config error with exit code 2
    host = PluginHost()
    paths = layers.raw("plugins.paths") or []
    disabled = layers.raw("plugins.disabled") or []
    host.load(
        paths=[p for p in paths if isinstance(p, str)] if isinstance(paths, list) else [],
        disabled=[d for d in disabled if isinstance(d, str)] if isinstance(disabled, list) else [],
    )
    host.call("chronicon_register_commands", cli=cli)
    add_plugin_filter_options(cli, *host.search_extensions())
    return host


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: whatever escapes a command becomes one line and a documented exit code
    (the traceback only with --log-level debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        host = load_plugin_commands(args)
        cli.main(args=args, prog_name="chronicon", obj=host)
    except BrokenPipeError:  # `chronicon search ... -f | head`: the reader left, nothing is wrong
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        sys.exit(EXIT_OK)
    except Exception as exc:
        code, message = describe_failure(exc)
        if _debugging(args):
            traceback.print_exc()
        click.echo(f"error: {message}", err=True)
        if not _debugging(args):
            click.echo("(run with --log-level debug for the traceback)", err=True)
        sys.exit(code)


def _debugging(args: Sequence[str]) -> bool:
    return "debug" in [a.split("=", 1)[-1] for a in args if a.startswith("--log-level")] + [
        args[i + 1] for i, a in enumerate(args[:-1]) if a == "--log-level"
    ] or logging.getLogger().isEnabledFor(logging.DEBUG)


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and one-line message for an error that reached the entry point."""
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, ChroniconError):
        return EXIT_CANNOT_RUN, str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        advice = {
            errno.ENOSPC: "the disk is full: free some space and run the same command again (nothing is lost)",
            errno.EDQUOT: "the disk quota is used up: free some space and run the same command again",
            errno.EROFS: "the file system is read-only: use a writable catalog folder (--catalog)",
            errno.EACCES: "permission denied: check the owner and mode of the catalog folder",
            errno.EPERM: "operation not permitted: check the owner and mode of the catalog folder",
        }.get(exc.errno or 0, "a storage error")
        return EXIT_CANNOT_RUN, f"{advice}{where}: {exc.strerror or exc}"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "lance" in text.lower() or "arrow" in type(exc).__module__:
        return EXIT_CANNOT_RUN, (
            f"the catalog could not be read or written ({first[:300]}); "
            "`chronicon catalog check` finds the damaged table and `chronicon catalog restore` goes back to its "
            "last good version"
        )
    return EXIT_INTERNAL, f"unexpected {type(exc).__name__}: {first[:300]} (a bug: please report it)"


if __name__ == "__main__":  # pragma: no cover
    main()
