"""Progress as events, never rendering: the UI wraps `gr.Progress`, RunPod `progress_update`, the CLI logs.

The callback gets `(stage, fraction)` where `fraction` is the whole job's progress in [0, 1], monotonic even
when stages run concurrently, so every front end can show it as is. The first event of each stage is always
sent (even at an unchanged fraction), so a label shows the stage now running, not the one before it.

A callback with a `left_s` keyword also gets the stage's time left in seconds, measured from the stage's own
step reports (never from the pacing guess, which only keeps the bar moving): None until a tenth of the stage is
reported done, and again once the stage runs past what its pace promised. One stage's time only: how long the
stages after it take is not known until they run.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import threading
import time
from collections.abc import Callable, Iterator

from core.errors import Cancelled

ProgressCallback = Callable[[str, float], None]

# The stages a job may run, in order, with their share of a typical job's time. The one list of stage names:
# front ends label these keys, and the engine times each under the same name.
STAGE_WEIGHTS = {"decode": 0.05, "transcribe": 0.55, "align": 0.1, "diarize": 0.25, "translate": 0.4, "write": 0.05}
STAGES = tuple(STAGE_WEIGHTS)
PACE_INTERVAL_S = 0.5  # how often a paced stage moves on while its step reports nothing
PACE_CAP = 0.9  # a paced stage never claims more of itself than this before its step says it is done
MEASURED_SHARE = 0.1  # a stage's time left is promised once its steps report this much of it done


class ProgressTracker:
    """Weights the stages a job will run and reports their combined fraction.

    Every progress event is also where a job can be stopped: once `cancel` is set, the next update (the next
    ASR batch, alignment segment or diarization step, from whichever thread) raises `Cancelled`."""

    def __init__(self, callback: ProgressCallback | None, stages: tuple[str, ...],
                 cancel: threading.Event | None = None, *, checkpoint: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
        self._callback = callback
        self._timed = callback is not None and _takes_time_left(callback)
        self._clock = clock
        self._began: dict[str, float] = {}  # when each stage's first event came
        self._reported: dict[str, tuple[float, float]] = {}  # a stage's steps: (fraction reported done, when)
        self._cancel = cancel
        self._checkpoint = checkpoint  # called at every step boundary (the engine: live sessions go first)
        self._stopped = threading.Event()
        total = sum(STAGE_WEIGHTS[stage] for stage in stages)
        self._weights = {stage: STAGE_WEIGHTS[stage] / total for stage in stages}
        self._done = dict.fromkeys(stages, 0.0)
        self._lock = threading.Lock()
        self._last = -1.0
        self._seen: set[str] = set()

    def stop(self) -> None:
        """Make every later update raise `Cancelled` (the engine stops a job's other thread this way)."""
        self._stopped.set()

    def check_cancelled(self) -> None:
        """A step boundary: `Cancelled` once stopped; else the checkpoint runs (it may pause the job), then the stop
        is checked again."""
        self._raise_if_stopped()
        if self._checkpoint is not None:
            self._checkpoint()
            self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self._stopped.is_set() or (self._cancel is not None and self._cancel.is_set()):
            raise Cancelled()

    def update(self, stage: str, fraction: float, *, boundary: bool = True) -> None:
        """`boundary=False`: a paced estimate, not a step of the job (never paused, never a measure of its pace)."""
        if boundary:
            self.check_cancelled()
        else:
            self._raise_if_stopped()
        if self._callback is None or stage not in self._done:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        now = self._clock()
        with self._lock:
            self._began.setdefault(stage, now)
            if boundary and fraction > self._reported.get(stage, (0.0, now))[0]:
                self._reported[stage] = (fraction, now)
            self._done[stage] = max(self._done[stage], fraction)
            overall = sum(self._weights[name] * done for name, done in self._done.items())
            first = stage not in self._seen
            self._seen.add(stage)
            if not first and overall - self._last < 0.005 and fraction < 1.0:
                return
            self._last = overall
            left = self._left_s(stage, now) if self._timed else None
        if self._timed:
            self._callback(stage, round(min(overall, 1.0), 4), left_s=left)  # type: ignore[call-arg]
        else:
            self._callback(stage, round(min(overall, 1.0), 4))

    def _left_s(self, stage: str, now: float) -> float | None:
        """The stage's time left at the pace its own steps showed, or None: not measured yet, done, or late."""
        done, at = self._reported.get(stage, (0.0, now))
        if not MEASURED_SHARE <= done < 1.0:
            return None
        left = (at - self._began[stage]) / done * (1.0 - done) - (now - at)
        return left if left > 0 else None

    def skip(self, stage: str) -> None:
        """Count a stage as done without announcing it, so no label claims work that is not running."""
        self.check_cancelled()
        if stage in self._done:
            with self._lock:
                self._done[stage] = 1.0
                self._seen.add(stage)

    @contextlib.contextmanager
    def paced(self, stage: str, expected_s: float) -> Iterator[None]:
        """While a step that reports seldom runs (whisperx reports ASR once per batch: one report for a short
        file), move `stage` on along `1 - exp(-2 t / expected_s)` of what is left of it, capped at PACE_CAP, so the
        bar keeps moving instead of sitting still and then jumping. An estimate, never ahead of the end: real
        updates that are further on still win (fractions only grow)."""
        if self._callback is None or stage not in self._done or expected_s <= 0:
            yield
            return
        finished = threading.Event()
        begin = self._done[stage]

        def move_on() -> None:
            started = time.monotonic()
            while not finished.wait(PACE_INTERVAL_S):
                share = PACE_CAP * (1.0 - math.exp(-2.0 * (time.monotonic() - started) / expected_s))
                try:
                    self.update(stage, begin + (1.0 - begin) * share, boundary=False)
                except Cancelled:  # a stopped job: the step itself raises at its next check
                    return

        pacer = threading.Thread(target=move_on, name=f"progress-{stage}", daemon=True)
        pacer.start()
        try:
            yield
        finally:
            finished.set()
            pacer.join()

    def stage_callback(self, stage: str) -> Callable[[float], None]:
        """A whisperx-style callback (percent 0–100) feeding this tracker."""
        return lambda percent: self.update(stage, float(percent) / 100.0)


def _takes_time_left(callback: Callable[..., None]) -> bool:
    """Whether a progress callback takes the `left_s` keyword (see the module's docstring)."""
    try:
        parameters = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # a builtin or C callable: the plain two arguments
        return False
    return "left_s" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
