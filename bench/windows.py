"""Diarization in windows against one pass (`python -m bench --parts windows`): on synthetic meetings whose first
speaker leaves and comes back, the pipeline's peak memory, time and DER per length, and whether each voice keeps
one label across the file. The one-pass column shows the quadratic clustering memory the windows remove."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.measure import process_cpu_s, process_rss_mb, reset_peak_rss, table
from bench.meeting import RETURNING, labels_by_part, make_meeting
from core import Settings


def windows_part(settings: Settings, scratch: Path, lengths_min: list[float], window_min: float,
                 one_pass_up_to_min: float) -> dict[str, Any]:
    from core.media.decode import decode_audio
    from core.models.memory import release_memory
    from core.models.registry import ModelRegistry
    from core.speakers.diarization import diarize
    from tests.speech import diarization_error_rate

    pipeline = ModelRegistry(settings).diarization()
    pid = os.getpid()
    rows: list[tuple[str, str]] = []
    figures: dict[str, Any] = {}
    for minutes in lengths_min:
        meeting = make_meeting(scratch, minutes, phases=RETURNING)
        audio = decode_audio(meeting.path).samples
        variants = [("windows", window_min * 60)] + ([("one pass", 0.0)] if minutes <= one_pass_up_to_min else [])
        for label, window_s in variants:
            release_memory()
            reset_peak_rss(pid)
            before, cpu, started = process_rss_mb(pid), process_cpu_s(pid), time.perf_counter()
            found = diarize(pipeline, audio, window_s=window_s)
            wall, cpu = time.perf_counter() - started, process_cpu_s(pid) - cpu
            peak = process_rss_mb(pid, "VmHWM") - before
            turns = [(turn.start, turn.end, turn.speaker) for turn in found.turns]
            labels = labels_by_part(meeting, turns, parts=len(RETURNING))
            kept = labels.get(("kal", 0)) == labels.get(("kal", len(RETURNING) - 1))
            der = diarization_error_rate(meeting.turns, turns)
            figures[f"{minutes:g}m {label}"] = {"peak_mb": peak, "wall_s": wall, "cpu_s": cpu, "der": der,
                                                "speakers": len({t[2] for t in turns}), "kept": kept}
            rows.append((f"{minutes:g} min, {label}", f"peak +{peak:.0f} MB over {before:.0f} MB; {wall:.1f} s wall, "
                         f"{cpu:.1f} s CPU ({cpu / minutes * 60:.0f} s per audio hour); "
                         f"{len({t[2] for t in turns})} speakers; DER {der:.3f}; returning voice keeps its "
                         f"label: {'yes' if kept else 'NO'}"))
            print(rows[-1][0], "|", rows[-1][1], flush=True)
    print(table(f"Diarization in {window_min:g}-minute windows vs one pass (meetings: kal+slt, slt+ked, kal+ked)",
                rows))
    return figures
