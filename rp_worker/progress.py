"""Progress to RunPod: throttled, in order, and never after the job's result.

The SDK's `progress_update` starts a new thread per update, so updates can overtake each other and arrive after
the handler has returned its result. Here one thread per job sends them one at a time, and the handler closes
it (waiting for what is queued, briefly) before returning, so the result is the last word.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
DRAIN_TIMEOUT_S = 5.0

ProgressSink = Callable[[Mapping[str, Any], str], None]
_STOP = object()


class ProgressReporter:
    """Forwards engine progress to a sink at most every `interval_s`, and at once on a new stage."""

    def __init__(self, job: Mapping[str, Any], sink: ProgressSink, *,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self._job, self._sink, self._clock, self._interval_s = job, sink, clock, interval_s
        self._stage: str | None = None
        self._last_sent = float("-inf")

    def __call__(self, stage: str, fraction: float) -> None:
        now = self._clock()
        if stage == self._stage and now - self._last_sent < self._interval_s:
            return
        self._stage, self._last_sent = stage, now
        try:
            self._sink(self._job, f"{stage} {round(fraction * 100)}%")
        except Exception:  # progress is best effort: it must never fail the job
            logger.warning("progress update failed", exc_info=True)


class OrderedSender:
    """A `ProgressSink` that delivers through `send` from one thread, in the order given. `close()` stops it:
    queued updates get up to `drain_timeout_s`, and nothing is sent once it returns (an update still queued
    then is dropped; one already being sent cannot be recalled, so the wait covers the usual case)."""

    def __init__(self, send: ProgressSink, *, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        self._send = send
        self._drain_timeout_s = drain_timeout_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._abandoned = False  # set when close() gave up waiting: drop what is left
        self._thread: threading.Thread | None = None

    def __call__(self, job: Mapping[str, Any], message: str) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
                self._thread.start()
            self._queue.put((job, message))

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            with self._lock:
                if self._abandoned:
                    continue
            job, message = item
            try:
                self._send(job, message)
            except Exception:  # best effort, like the reporter
                logger.warning("progress update failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(self._drain_timeout_s)
        if thread.is_alive():
            with self._lock:
                self._abandoned = True  # what is still queued is dropped
            logger.warning("progress updates still pending after %.0fs were dropped", self._drain_timeout_s)


def log_progress(job: Mapping[str, Any], message: str) -> None:
    """Local runs (test server, --test_input) have no RunPod API to report to: log instead."""
    logger.info("job %s progress: %s", _job_id(job), message)


def runpod_progress(job: Mapping[str, Any], message: str) -> None:
    """One update to the RunPod API, sent in the calling thread (the SDK's own sender, without its extra
    thread per update)."""
    from runpod.serverless.modules import rp_progress

    send = getattr(rp_progress, "_thread_target", None)
    if send is None:  # an SDK without it: its public, threaded call
        rp_progress.progress_update(dict(job), message)
        return
    send(dict(job), message)


def _job_id(job: Any) -> str:
    return str(job.get("id", "?")) if isinstance(job, Mapping) else "?"
