"""Text on screen while a job runs: the engine's finished segments, shown until the final transcript replaces them.

`LiveJob` runs one transcription in a thread and lets the page's generator handler iterate over the segments
finished so far (at most one update per `interval_s`, so a long file does not flood the browser); the job's
result, or its exception, comes back in the handler's own thread. `render_live` draws them: plain text with
times, no speakers yet (diarization assigns them at the end), announced politely to screen readers.
"""

from __future__ import annotations

import contextvars
import html
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from core.transcript.result import Segment, SegmentsCallback
from ui.render import format_time

T = TypeVar("T")
UPDATE_INTERVAL_S = 1.0
SHOWN_SEGMENTS = 300  # the latest ones; an hour holds ~1,000 and every update redraws the list
_DONE = object()


class LiveJob(Generic[T]):
    """`job(on_segments)` in a thread. Iterating yields all segments so far each time more arrived; afterwards
    `result` holds what the job returned (or the job's exception is raised by the iteration)."""

    def __init__(self, job: Callable[[SegmentsCallback], T], *, cancel: threading.Event | None = None,
                 interval_s: float = UPDATE_INTERVAL_S) -> None:
        self._job, self._cancel, self._interval_s = job, cancel, interval_s
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._outcome: tuple[T | None, BaseException | None] = (None, None)
        self.result: T | None = None

    def _run(self) -> None:
        try:
            self._outcome = (self._job(self._events.put), None)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer's thread, raised there
            self._outcome = (None, error)
        finally:
            self._events.put(_DONE)

    def __iter__(self) -> Iterator[tuple[Segment, ...]]:
        context = contextvars.copy_context()  # what Gradio keeps there (progress, warnings) reaches the job
        thread = threading.Thread(target=context.run, args=(self._run,), name="live-job", daemon=True)
        thread.start()
        segments: list[Segment] = []
        shown, last, finished = 0, float("-inf"), False
        try:
            while True:
                wait = max(0.0, last + self._interval_s - time.monotonic()) if len(segments) > shown else None
                try:
                    event = self._events.get(timeout=wait)
                except queue.Empty:
                    event = None
                if event is _DONE:
                    finished = True  # the thread may still be alive for a moment: it is done all the same
                    break
                if event is not None:
                    segments.extend(event)  # type: ignore[arg-type]
                if len(segments) > shown and time.monotonic() - last >= self._interval_s:
                    shown, last = len(segments), time.monotonic()
                    yield tuple(segments)
        finally:
            if not finished and self._cancel is not None:  # the page went away: stop the job at its next step
                self._cancel.set()
            thread.join()
        result, error = self._outcome
        if error is not None:
            raise error
        self.result = result


def render_live(segments: Sequence[Segment]) -> str:
    """The segments so far, newest last, with a note that the final transcript (speakers, timeline, search)
    replaces them."""
    hidden = max(0, len(segments) - SHOWN_SEGMENTS)
    lines = [f'<p class="wx-live-seg"><span class="wx-live-time">{format_time(segment.start)} – '
             f'{format_time(segment.end)}</span> {html.escape(segment.text)}</p>'
             for segment in segments[hidden:]]
    earlier = f'<p class="wx-live-note">… {hidden} earlier segments</p>' if hidden else ""
    note = (f'<p class="wx-live-note">Transcribing… {len(segments)} segments so far (up to '
            f'{format_time(segments[-1].end) if segments else "0:00.0"}). Speakers, word timings and search come '
            "with the final transcript, which replaces this text.</p>")
    return f'<div class="wx-live" aria-live="polite" aria-busy="true">{note}{earlier}{"".join(lines)}</div>'
