"""The `first-text` part: seconds from a job's start until its first finished segments reach the caller, for a
long meeting (`--hour-minutes`), the way both front ends see them (the page's live view and the RunPod worker's
generator both forward the engine's `on_segments`). The job is stopped once the text has come."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from bench.measure import median, table
from core import Settings, TranscribeOptions
from core.errors import Cancelled

TARGET_S = 15.0


def first_text_part(settings: Settings, recording: Any, repeats: int) -> dict[str, Any]:
    """A warm engine; `repeats` jobs on `recording` (a path), each stopped at its first text."""
    from core.engine import Engine

    engine = Engine(settings)
    engine.registry.preload(diarization=True)
    seconds = [_first_text_s(engine, recording.path) for _ in range(max(1, repeats))]
    figures = {"first_text_s": median(seconds), "runs": seconds}
    print(table(f"First text of a {recording.path.name} job (diarization on, warm models)", [
        (f"seconds to the first finished segments (median of {len(seconds)})",
         f"{figures['first_text_s']:.1f} s (target ~{TARGET_S:g} s; runs: "
         f"{', '.join(f'{value:.1f}' for value in seconds)})")]))
    return figures


def _first_text_s(engine: Any, path: Any) -> float:
    stop, arrived = threading.Event(), []
    started = time.perf_counter()

    def on_segments(_: Any) -> None:
        if not arrived:
            arrived.append(time.perf_counter() - started)
        stop.set()

    with contextlib.suppress(Cancelled):
        engine.transcribe(path, TranscribeOptions(diarization=True, language="en"), on_segments=on_segments,
                          cancel=stop)
    if not arrived:
        raise SystemExit(f"first-text part: the job on {path} ended without streaming any text")
    return arrived[0]
