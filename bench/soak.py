"""Many mixed good and bad jobs through one RunPod worker: memory and leftover job files must stay flat."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import process_rss_mb
from bench.services import Service, audio_input, runsync
from core.media_source import JOB_DIR_PREFIX


def bad_inputs(audio: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, expected outcome, input): each takes a different error path; a cut-off file is transcribed
    as far as it goes, with a warning."""
    noise = base64.b64encode(os.urandom(40_000)).decode()
    truncated = base64.b64encode(audio.read_bytes()[: audio.stat().st_size // 4]).decode()
    return [
        ("random bytes", "error", {"audio_base64": noise}),
        ("truncated file", "warning", {"audio_base64": truncated}),
        ("bad option", "error", {**audio_input(audio), "beam_size": -3}),
        ("private URL", "error", {"audio": "http://169.254.169.254/latest/meta-data"}),
        ("no audio", "error", {"language": "en"}),
    ]


def outcome(output: dict[str, Any]) -> str:
    if "error" in output:
        return "error"
    return "warning" if output.get("warnings") else "ok"


def leftover_job_files() -> int:
    """Job directories (and files in them) still in the temp dir: zero when every job cleaned up."""
    count = 0
    for directory in Path(tempfile.gettempdir()).glob(f"{JOB_DIR_PREFIX}*"):
        count += 1 + sum(1 for _ in directory.rglob("*"))
    return count


def soak(service: Service, audio: Path, jobs: int, block: int,
         report: Callable[[str], None] = print) -> list[tuple[int, float, int]]:
    """Runs `jobs` jobs (every third one good, with diarization); returns (done, RSS MB, leftovers) per block."""
    cases = [("good", "ok", audio_input(audio, diarization=True, align_output=False)), *bad_inputs(audio)]
    rows, failures_unexpected = [], 0
    for index in range(jobs):
        name, expected, job = cases[0] if index % 3 == 0 else cases[1 + index % (len(cases) - 1)]
        output = runsync(service, job)
        if outcome(output) != expected:
            failures_unexpected += 1
            report(f"unexpected outcome for job {index} ({name}): {str(output)[:200]}")
        if (index + 1) % block == 0 or index + 1 == jobs:
            row = (index + 1, process_rss_mb(service.process.pid), leftover_job_files())
            rows.append(row)
            report(f"  after {row[0]:4d} jobs: worker RSS {row[1]:7.1f} MB, leftover job files {row[2]}")
    if failures_unexpected:
        report(f"  {failures_unexpected} jobs had an unexpected outcome")
    return rows
