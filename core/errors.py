"""One error family whose message is safe to show a user as is.

Every adapter maps `WorkerError` to its own surface in one place (RunPod `{"error": ...}`,
`gr.Error`, the CLI's `FILE: reason` line); anything else is a bug and is logged with a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.transcript.result import Result


class WorkerError(Exception):
    """Base error: `message` is user-facing, `field` names the offending input when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(WorkerError):
    """An option or request field is unknown, of the wrong type or out of range."""


class AudioDecodeError(WorkerError):
    """The media could not be read: empty, not media, truncated, no audio stream, too large."""


class ModelUnavailable(WorkerError):
    """A requested model is not installed under MODELS_DIR and cannot be fetched."""


class InferenceError(WorkerError):
    """A model failed while running (e.g. out of memory after retries)."""


class Cancelled(WorkerError):
    """The caller stopped the job; the engine gave up at the next batch or stage boundary. `partial` is what was
    finished by then (a `Result` marked `partial`, see `core.engine`), or None when nothing was."""

    def __init__(self, message: str = "the job was stopped before it finished", *,
                 partial: Result | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def check_cancelled(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` (nothing finished) once `cancel` is set: for the steps before a job's engine run."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def finished_part(run: Callable[[], Result]) -> Result:
    """`run()`'s result; when the job is stopped, what it had finished (a `Result` marked `partial`, whose warnings
    say up to where), so every front end keeps it. A job stopped before anything was finished still raises."""
    try:
        return run()
    except Cancelled as stopped:
        if stopped.partial is None:
            raise
        return stopped.partial
