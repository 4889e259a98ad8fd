"""Logging is configured once, by whichever entry point runs (app.py, rp_handler.py, the CLI, the web app)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO, fmt: str = LOG_FORMAT) -> None:
    """Our loggers at `level` on stderr; a second call (another entry point in the same process) changes nothing."""
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    _whisperx_to_stderr()


def _whisperx_to_stderr() -> None:
    """whisperx's own set-up logs to stdout, which belongs to output (e.g. `python -m core --stream`). Before
    whisperx is imported, a handler here makes it skip that set-up and its records reach ours; after, its stdout
    handler is pointed at stderr."""
    whisperx = logging.getLogger("whisperx")
    if not whisperx.handlers:
        whisperx.addHandler(logging.NullHandler())
        return
    for handler in whisperx.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
