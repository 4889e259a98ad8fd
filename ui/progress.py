"""The page's progress strip: the engine's `(stage, fraction, left_s)` events (`core.progress`) as `gr.Progress`
text, from whichever thread sends them.

In a batch a file's text starts with its name and its bar fills the file's share of the whole; it says
"Starting…" the moment the file begins (model loading and decoding come before the engine's first step). The time
left is the running step's, as the engine measured it from that step's own reports, and only once it has
(Gradio's own estimate averages unrelated jobs, and the pacing guess is no measure). Gradio blanks the strip each
time the batch's generator yields an update of the panel; `ProgressLine.again` shows the last text again then.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from core import ProgressCallback

STAGE_LABELS = {"decode": "Decoding audio", "transcribe": "Transcribing", "align": "Aligning words",
                "diarize": "Identifying speakers", "translate": "Translating", "write": "Writing outputs"}
FETCH_LABEL = "Downloading the link"
STARTING_LABEL = "Starting…"


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage) or (FETCH_LABEL if stage == "fetch" else stage)


def duration_text(seconds: float) -> str:
    """"25 s", "3 min"."""
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"


class ProgressLine:
    """One event's progress strip (`gr.Progress`): what it shows last, shown again on request."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._context = contextvars.copy_context()  # gr.Progress finds its event through context variables
        self._lock = threading.Lock()
        self._last: tuple[float, str] | None = None

    def show(self, fraction: float, text: str) -> None:
        with self._lock:
            self._last = (fraction, text)
            self._context.run(self._progress, fraction, desc=text)

    def again(self) -> None:
        """The last text once more (after the panel was updated), unless the file it was about is over."""
        with self._lock:
            last = self._last
        if last is not None:
            self.show(*last)

    def clear(self) -> None:
        """The file is over: nothing to show again until the next one starts."""
        with self._lock:
            self._last = None

    def for_file(self, prefix: str = "", share: tuple[float, float] = (0.0, 1.0)) -> ProgressCallback:
        """The engine's progress callback for one file: `prefix` names it, `share` is (offset, width) of this
        file in the whole bar. Shows "Starting…" at once."""
        offset, width = share
        self.show(offset, f"{prefix}{STARTING_LABEL}")

        def on_progress(stage: str, fraction: float, left_s: float | None = None) -> None:
            left = f" · about {duration_text(left_s)} left in this step" if left_s else ""
            self.show(offset + width * fraction, f"{prefix}{stage_label(stage)}{left}")

        return on_progress


def gradio_progress(progress: Any, prefix: str = "", share: tuple[float, float] = (0.0, 1.0)) -> ProgressCallback:
    """The engine's progress callback on `gr.Progress` for one file (the API's job: one strip, one file)."""
    return ProgressLine(progress).for_file(prefix, share)
