"""Progress events (`core.progress`): a paced stage keeps moving while its step reports nothing, never claims
the stage's end, and stops quietly when the job is stopped; a stage's time left is measured from its own steps,
never from the pacing guess. No models."""

from __future__ import annotations

import threading
import time

import pytest

from core.errors import Cancelled
from core.progress import MEASURED_SHARE, PACE_CAP, STAGE_WEIGHTS, ProgressTracker


def test_a_paced_stage_moves_between_reports_and_never_claims_its_end():
    events: list[tuple[str, float]] = []
    tracker = ProgressTracker(lambda stage, fraction: events.append((stage, fraction)), ("decode", "transcribe"))
    tracker.update("decode", 1.0)
    share = STAGE_WEIGHTS["decode"] / (STAGE_WEIGHTS["decode"] + STAGE_WEIGHTS["transcribe"])
    with tracker.paced("transcribe", expected_s=1.0):
        time.sleep(1.8)  # one silent step (e.g. the only ASR batch of a short file)
    paced = [fraction for stage, fraction in events if stage == "transcribe"]
    assert len(paced) >= 2 and paced == sorted(paced), events
    assert paced[-1] > share + (1 - share) * 0.5, events  # well into the stage after ~2 expected times
    assert paced[-1] <= share + (1 - share) * PACE_CAP + 1e-3, events  # never the end before the step says so
    count = len(events)
    time.sleep(0.7)
    assert len(events) == count, "the pacer stops with the step"
    tracker.update("transcribe", 1.0)
    assert events[-1] == ("transcribe", 1.0)


def test_a_real_report_ahead_of_the_pace_wins_and_the_bar_never_goes_back():
    events: list[float] = []
    tracker = ProgressTracker(lambda _, fraction: events.append(fraction), ("transcribe",))
    with tracker.paced("transcribe", expected_s=60.0):
        tracker.update("transcribe", 0.7)
        time.sleep(1.1)
    assert events == sorted(events) and events[-1] >= 0.7


def test_a_stopped_job_ends_its_pacer_quietly():
    cancel = threading.Event()
    tracker = ProgressTracker(lambda *_: None, ("transcribe",), cancel)
    started = time.monotonic()
    with pytest.raises(Cancelled), tracker.paced("transcribe", expected_s=1.0):
        cancel.set()
        time.sleep(0.6)  # the pacer's next move sees the stop and ends; the step raises at its own check
        tracker.check_cancelled()
    assert time.monotonic() - started < 2.0
    assert not [thread for thread in threading.enumerate() if thread.name == "progress-transcribe"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_is_measured_from_the_stages_own_steps_and_never_promised_before():
    events: list[tuple[str, float | None]] = []

    def on_progress(stage: str, fraction: float, left_s: float | None = None) -> None:
        events.append((stage, left_s))

    clock = Clock()
    tracker = ProgressTracker(on_progress, ("decode", "diarize"), clock=clock)
    tracker.update("decode", 1.0)
    tracker.update("diarize", 0.0)
    clock.now += 4.0
    tracker.update("diarize", MEASURED_SHARE / 2)  # too little done to know its pace
    assert [left for _, left in events] == [None, None, None]
    clock.now += 4.0
    tracker.update("diarize", 0.25)  # a quarter in 8 s: 24 s more at this pace
    assert events[-1] == ("diarize", pytest.approx(24.0))
    clock.now += 30.0
    tracker.update("diarize", 0.3, boundary=False)  # past what its pace promised, no step since: no number
    assert events[-1] == ("diarize", None)
    tracker.update("diarize", 0.31)  # the next step re-measures it
    assert events[-1][1] == pytest.approx(38 / 0.31 * 0.69)
    tracker.update("diarize", 1.0)
    assert events[-1] == ("diarize", None)


def test_a_paced_stage_promises_no_time_left_and_plain_callbacks_get_two_arguments():
    events: list[tuple[str, float, float | None]] = []

    def on_progress(stage: str, fraction: float, *, left_s: float | None) -> None:
        events.append((stage, fraction, left_s))

    tracker = ProgressTracker(on_progress, ("transcribe",))
    tracker.update("transcribe", 0.0)
    with tracker.paced("transcribe", expected_s=1.0):
        time.sleep(1.3)  # only the guess moves it: no step has reported
    assert len(events) >= 3 and events[-1][1] > 0.3
    assert [left for *_, left in events] == [None] * len(events), "the pacing guess is not a measure"
    plain: list[tuple] = []
    ProgressTracker(lambda *args: plain.append(args), ("transcribe",)).update("transcribe", 0.5)
    assert plain == [("transcribe", 0.5)]
