"""Small measuring helpers shared by the benchmark parts."""

from __future__ import annotations

import os
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


def process_rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of `pid` now (`VmRSS`) or at its peak since start / the last `reset_peak_rss` (`VmHWM`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(pid: int) -> bool:
    """Restart `pid`'s VmHWM from its current RSS (Linux `clear_refs` 5), so a peak is one job's peak."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds `pid` has used (all its threads): steadier than wall time on a shared box."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER (Levenshtein over normalised words / reference length), one numpy row at a time: an hour's
    transcript (~9,000 words) takes about a second. Insertions along a row are a running minimum."""
    from tests.speech import normalize

    vocabulary: dict[str, int] = {}
    ref = np.array([vocabulary.setdefault(word, len(vocabulary)) for word in normalize(reference)])
    hyp = np.array([vocabulary.setdefault(word, len(vocabulary)) for word in normalize(hypothesis)])
    steps = np.arange(len(hyp) + 1)
    row = steps.copy()
    for index, word in enumerate(ref, start=1):
        candidates = np.empty_like(row)
        candidates[0] = index
        candidates[1:] = np.minimum(row[1:] + 1, row[:-1] + (hyp != word))
        row = np.minimum.accumulate(candidates - steps) + steps
    return float(row[-1]) / max(len(ref), 1)
