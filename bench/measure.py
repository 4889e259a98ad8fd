"""Small measuring helpers shared by the benchmark parts."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - started


def repeat(function: Callable[[], Any], times: int) -> tuple[list[float], Any]:
    """Wall times of `times` calls and the last call's value."""
    seconds, value = [], None
    for _ in range(times):
        with stopwatch() as clock:
            value = function()
        seconds.append(clock["seconds"])
    return seconds, value


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tile_audio(source: Path, target: Path, minutes: float) -> Path:
    """A long recording made by repeating `source` (real speech, known speakers) to `minutes`."""
    import soundfile

    samples, rate = soundfile.read(str(source), dtype="float32")
    repeats = int(np.ceil(minutes * 60 * rate / len(samples)))
    soundfile.write(str(target), np.tile(samples, repeats)[: int(minutes * 60 * rate)], rate)
    return target


def table(title: str, rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows) if rows else 0
    lines = [f"\n## {title}", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)
