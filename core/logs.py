"""Logging is configured once, by whichever entry point runs (app.py, rp_handler.py, the CLI, the web app)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO, fmt: str = LOG_FORMAT) -> None:
    """Our loggers at `level` on stderr; a second call (another entry point in the same process) changes nothing."""
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
