"""How live sessions and batch jobs share one machine: live first, batch never stopped.

A batch job holds the engine's run lock for its whole length (minutes for a long file); live sessions never take
that lock, so a batch job cannot make them wait for it. They do share the models and the processor, and a live
user is waiting for each turn's text while a batch user waits for the whole file. The rule:

- whenever live decodes are waiting or running, a batch job pauses at its next step boundary (the next ASR batch,
  alignment segment or diarization step: every progress check) until they are done, but never longer than
  BATCH_MAX_PAUSE_S at one boundary, after which it takes its step anyway;
- so a live decode waits for at most the one batch step already running (a CTranslate2 call cannot be
  interrupted), and a batch job under a constant live load still moves at least one step per BATCH_MAX_PAUSE_S:
  slowed, never starved.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

BATCH_MAX_PAUSE_S = 2.0


class LivePriority:
    """Shared by the batch engine (`yield_to_live`) and the live engine (`live_waiting`, `live_running`)."""

    def __init__(self, max_pause_s: float = BATCH_MAX_PAUSE_S) -> None:
        self.max_pause_s = max_pause_s
        self._idle = threading.Event()
        self._idle.set()
        self._waiting = False
        self._running = 0
        self._lock = threading.Lock()

    def live_waiting(self, waiting: bool) -> None:
        with self._lock:
            self._waiting = waiting
            self._update()

    @contextlib.contextmanager
    def live_running(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
            self._update()
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._update()

    def yield_to_live(self) -> None:
        """A batch job's step boundary: wait while live work is pending, at most `max_pause_s`."""
        if not self._idle.is_set():
            self._idle.wait(self.max_pause_s)

    @property
    def live_busy(self) -> bool:
        return not self._idle.is_set()

    def _update(self) -> None:
        if self._waiting or self._running:
            self._idle.clear()
        else:
            self._idle.set()
