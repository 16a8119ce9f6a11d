"""Log and progress-bar policy of the command line: Chronicon's lines at the chosen level, libraries quiet.

Model libraries print on their own: transformers and huggingface_hub draw tqdm bars ("Loading weights: 100%"),
open_clip logs INFO on the root logger, LiteRT/absl write C++ lines. A cron job wants none of it, and an
interactive scan wants one progress bar (ours), so third-party bars are always off in the CLI and their log
lines below WARNING are dropped unless `--log-level debug`."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator

# Loggers of libraries we load; their INFO lines say nothing a user acts on.
LIBRARY_LOGGERS = (
    "transformers",
    "huggingface_hub",
    "filelock",
    "urllib3",
    "httpx",
    "faster_whisper",
    "ctranslate2",
    "whisper",
    "ultralytics",
    "open_clip",
    "timm",
    "absl",
    "PIL",
    "numba",
    "sentence_transformers",
    "torch",
)

# Read by the libraries when they start (or when they draw a bar): set before any model loads.
_QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TQDM_DISABLE": "1",  # tqdm >= 4.66 reads TQDM_* defaults from the environment
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow / LiteRT C++ logs: warnings and errors only
    "GLOG_minloglevel": "2",
    "YOLO_VERBOSE": "False",  # ultralytics
}


class _RootInfoFilter(logging.Filter):
    """Drops records below WARNING that libraries log on the root logger (open_clip's `logging.info`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name != "root"


_quiet = False
_FD_LOCK = threading.Lock()


def configure(level: str = "info", *, quiet: bool = False) -> None:
    """Set up stderr logging: Chronicon at `level` (WARNING when `quiet`), libraries at WARNING unless
    `level` is debug, third-party progress bars off."""
    global _quiet
    chosen = getattr(logging, level.upper(), logging.INFO)
    if quiet:
        chosen = max(chosen, logging.WARNING)
    _quiet = quiet
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(chosen)
    debugging = chosen <= logging.DEBUG
    for existing in root.handlers:
        if not debugging and not any(isinstance(f, _RootInfoFilter) for f in existing.filters):
            existing.addFilter(_RootInfoFilter())
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(chosen if debugging else max(chosen, logging.WARNING))
    if not debugging:
        silence_progress_bars()


def silence_progress_bars() -> None:
    """Turn off the libraries' own progress bars and C++ chatter (already imported ones too)."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            hf_logging.set_verbosity_warning()  # type: ignore[no-untyped-call]
        except Exception:  # pragma: no cover - an odd transformers build: the environment still applies
            pass
    if "huggingface_hub" in sys.modules:
        try:
            from huggingface_hub import utils as hub_utils

            hub_utils.disable_progress_bars()  # type: ignore[attr-defined]
        except Exception:  # pragma: no cover
            pass


@contextlib.contextmanager
def native_stderr_muted() -> Iterator[None]:
    """In quiet mode, send what C++ code writes to file descriptor 2 inside the block to /dev/null (LiteRT
    prints "INFO: Created TensorFlow Lite XNNPACK delegate" there and no setting turns it off). A no-op
    otherwise; keep the block short, since Python's own stderr lines written meanwhile are muted too."""
    if not _quiet:
        yield
        return
    with _FD_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
            finally:
                os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
