"""Long recordings through the real services (RunPod worker, Gradio app): realtime factor, CPU seconds, the
worker's peak RSS during the job and its RSS after it, and whether the result is right (WER against the
script, speakers found, DER against the reference turns)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.measure import process_cpu_s, process_rss_mb, reset_peak_rss, word_error_rate
from bench.services import Service, request_once
from tests.speech import Recording

SETTLE_S = 3.0  # after the reply: let the worker finish its bookkeeping before reading its RSS


def long_job(service: Service, client: Any, recording: Recording, options: dict[str, Any],
             url: str | None = None) -> dict[str, Any]:
    """One job on a warm service, with the worker's memory around it."""
    pid = service.process.pid
    before = process_rss_mb(pid)
    peak_reset = reset_peak_rss(pid)
    cpu = process_cpu_s(pid)
    started = time.perf_counter()
    output = request_once(service, client, recording.path, options, url)
    wall = time.perf_counter() - started
    cpu = process_cpu_s(pid) - cpu
    peak = process_rss_mb(pid, "VmHWM")
    time.sleep(SETTLE_S)
    figures = {"wall_s": wall, "cpu_s": cpu, "rss_before_mb": before, "peak_rss_mb": peak,
               "peak_is_job_only": peak_reset, "rss_after_mb": process_rss_mb(pid)}
    return figures | quality(output, recording)


def quality(output: dict[str, Any], recording: Recording) -> dict[str, Any]:
    """How right the result is; `error` when the job was refused or failed."""
    if "error" in output or "segments" not in output:
        return {"error": str(output.get("error", output))[:300]}
    from tests.speech import diarization_error_rate

    duration = float(output.get("duration") or 0.0)
    figures: dict[str, Any] = {"duration_s": duration, "text": output.get("text", ""),
                               "wer": word_error_rate(recording.script, output.get("text", "")),
                               "warnings": output.get("warnings", [])}
    if output.get("diarization") is not None:
        turns = [(turn["start"], turn["end"], turn["speaker"]) for turn in output["diarization"]]
        figures["speakers"] = len(output.get("speakers") or [])
        figures["der"] = diarization_error_rate(list(recording.turns), turns) if recording.turns else None
    return figures


def describe(figures: dict[str, Any]) -> list[tuple[str, str]]:
    if "error" in figures:
        return [("job", f"FAILED: {figures['error']}")]
    rows = [("wall (realtime factor)", f"{figures['wall_s']:.1f} s ({figures['duration_s'] / figures['wall_s']:.1f}×)"),
            ("worker CPU time (all threads)", f"{figures['cpu_s']:.1f} s"),
            ("worker RSS before the job (warm)", f"{figures['rss_before_mb']:.0f} MB"),
            ("worker peak RSS during the job" + ("" if figures["peak_is_job_only"] else " (since start)"),
             f"{figures['peak_rss_mb']:.0f} MB"),
            (f"worker RSS {SETTLE_S:g} s after the job", f"{figures['rss_after_mb']:.0f} MB "
             f"({figures['rss_after_mb'] - figures['rss_before_mb']:+.0f} MB)"),
            ("WER against the script", f"{figures['wer']:.3f}")]
    if "speakers" in figures:
        der = figures.get("der")
        rows.append(("speakers found (3 voices); DER", f"{figures['speakers']}; "
                     f"{der:.3f}" if der is not None else f"{figures['speakers']}"))
    return rows


def time_ratio(hour: dict[str, Any], longer: dict[str, Any]) -> float:
    """The long job's wall time over the one-hour job's, scaled to 4 h / 1 h lengths (4.4 = 10 % over linear for
    four times the audio): (long wall / hour wall) × (4 / (long duration / hour duration))."""
    lengths = longer["duration_s"] / hour["duration_s"]
    return longer["wall_s"] / hour["wall_s"] * 4.0 / lengths


def compare(hour: dict[str, Any], longer: dict[str, Any], target: float) -> list[tuple[str, str]]:
    """Time per audio hour and memory of a long job next to the one-hour job's."""
    if "error" in hour or "error" in longer:
        return [("comparison", "a job failed")]
    rows = []
    for label, figures in (("one hour", hour), ("long", longer)):
        audio_h = figures["duration_s"] / 3600
        rows.append((f"{label}: wall / CPU per audio hour", f"{figures['wall_s'] / audio_h:.0f} s / "
                     f"{figures['cpu_s'] / audio_h:.0f} s ({audio_h:.2f} h of audio)"))
        rows.append((f"{label}: peak RSS; RSS after the job", f"{figures['peak_rss_mb']:.0f} MB; "
                     f"{figures['rss_after_mb'] - figures['rss_before_mb']:+.0f} MB"))
    ratio = time_ratio(hour, longer)
    cpu_ratio = longer["cpu_s"] / hour["cpu_s"] * 4.0 / (longer["duration_s"] / hour["duration_s"])
    rows.append(("time ratio, as 4 h / 1 h (wall; CPU)", f"{ratio:.2f}; {cpu_ratio:.2f} (target ≤ {target:g}: "
                 f"{'met' if ratio <= target else 'NOT met'})"))
    return rows


def relative_url(base: str | None, path: Path, folder: Path) -> str | None:
    return f"{base}/{path.relative_to(folder)}" if base else None
