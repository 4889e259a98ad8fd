"""How refusals and failures reach the page's user, in one place for every event (`ui.handlers`, `ui.editor`,
`ui.layout`): a `WorkerError` as its own message (on the page with option names replaced by the labels on
screen), anything else as a short generic one, logged in full; the server keeps serving."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping

import gradio as gr

from core import WorkerError

logger = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong while processing this file; the details are in the server log."
ERROR_TOAST_S = 15  # a failure's toast closes by itself; the card keeps the message


@contextlib.contextmanager
def user_errors(labels: Mapping[str, str] | None = None) -> Iterator[None]:
    """The UI's one error mapping: readable message, no traceback; the server keeps serving. With `labels`
    (option name → label on screen) the message names what the user sees."""
    try:
        yield
    except gr.Error:
        raise
    except WorkerError as error:
        # the message may quote file names, links or speaker names: the log says what kind of refusal it was
        logger.info("request refused: %s (field %s)", type(error).__name__, error.field or "-")
        message = on_screen(error.message, labels) if labels else error.message
        raise gr.Error(message, title="Cannot transcribe", print_exception=False) from None
    except Exception:
        logger.exception("unexpected error while handling a request")
        raise gr.Error(GENERIC_ERROR, print_exception=False) from None


def on_screen(message: str, labels: Mapping[str, str]) -> str:
    """Replace option names (`num_speakers`) in a message with their labels ("Number of speakers")."""
    names = sorted((name for name in labels if "_" in name or message.startswith(name)), key=len, reverse=True)
    if not names:
        return message
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return pattern.sub(lambda match: f"“{labels[match.group(1)]}”", message)


def error_toast(message: str, title: str = "Cannot transcribe") -> None:
    """An error toast that does not end the event (raising `gr.Error` would cover the panel and stop the batch):
    Gradio's own log message at its "error" level, which `gr.Warning`/`gr.Info` do not expose. Closes by itself."""
    from gradio.helpers import log_message

    log_message(message, title=title, level="error", duration=ERROR_TOAST_S)  # type: ignore[arg-type]
