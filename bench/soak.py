"""Long and short, good and bad jobs through one service process (RunPod worker or Gradio app): memory must stay
flat, no job file may stay behind, and every result must be right (the same file gives the same transcript;
each bad input gets its own error)."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.long_audio import long_job
from bench.measure import process_rss_mb
from bench.services import Service, audio_input, request_once, runsync
from tests.speech import Recording

GOOD = {"diarization": True, "align_output": False, "language": "en"}


def bad_inputs(audio: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """RunPod inputs (name, expected outcome, input): each takes a different error path; a cut-off file is
    transcribed as far as it goes, with a warning."""
    noise = base64.b64encode(os.urandom(40_000)).decode()
    truncated = base64.b64encode(audio.read_bytes()[: audio.stat().st_size // 4]).decode()
    return [
        ("random bytes", "error", {"audio_base64": noise}),
        ("truncated file", "warning", {"audio_base64": truncated}),
        ("bad option", "error", {**audio_input(audio), "beam_size": -3}),
        ("private URL", "error", {"audio": "http://169.254.169.254/latest/meta-data"}),
        ("no audio", "error", {"language": "en"}),
    ]


def bad_files(audio: Path, folder: Path) -> list[tuple[str, str, Path, dict[str, Any]]]:
    """The web app's bad uploads (name, expected outcome, file, options)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "noise.wav").write_bytes(os.urandom(40_000))
    (folder / "cut.wav").write_bytes(audio.read_bytes()[: audio.stat().st_size // 4])
    (folder / "notes.txt").write_text("meeting notes, not audio\n" * 40)
    return [("random bytes", "error", folder / "noise.wav", {}),
            ("truncated file", "warning", folder / "cut.wav", GOOD),
            ("bad option", "error", audio, {"beam_size": -3}),
            ("text file", "error", folder / "notes.txt", {})]


def outcome(output: dict[str, Any]) -> str:
    if "error" in output:
        return "error"
    return "warning" if output.get("warnings") else "ok"


def leftover_files(tmp: Path, baseline: frozenset[Path] = frozenset()) -> int:
    """Files and folders in the service's private temp dir that were not there after its warm-up (what the
    server made at start-up is not a job's): zero when every job cleaned up."""
    return sum(1 for path in tmp.rglob("*") if path not in baseline)


def cache_files(cache: Path) -> int:
    """Files in Gradio's upload cache (kept by design until `delete_cache` removes them)."""
    return sum(1 for path in cache.rglob("*") if path.is_file()) if cache.is_dir() else 0


def short_job(service: Service, client: Any, index: int, clip: Path, scratch: Path) -> tuple[str, str, dict]:
    """Every third short job is good (with diarization); the others cycle through the bad inputs."""
    if index % 3 == 0:
        return "good", "ok", request_once(service, client, clip, GOOD)
    if service.mode == "runpod":
        cases = bad_inputs(clip)
        name, expected, job = cases[index % len(cases)]
        return name, expected, runsync(service, job)
    cases_ui = bad_files(clip, scratch)
    name, expected, path, options = cases_ui[index % len(cases_ui)]
    return name, expected, request_once(service, client, path, options)


def soak(service: Service, client: Any, clip: Path, long_recording: Recording | None, *, long_jobs: int,
         short_jobs: int, home: Path, url: str | None = None,
         report: Callable[[str], None] = print) -> dict[str, Any]:
    """`long_jobs` long recordings, each followed by its share of `short_jobs` mixed jobs; a row per round.
    `home` holds the service's private temp dir (`tmp`) and Gradio's upload cache (`gradio`)."""
    tmp = home / "tmp"
    rounds = max(long_jobs, 1)
    per_round = [short_jobs // rounds + (1 if i < short_jobs % rounds else 0) for i in range(rounds)]
    scratch = Path(tempfile.mkdtemp(prefix="bench-soak-bad-"))
    rows, unexpected, texts, short_index = [], 0, {}, 0
    start_rss = process_rss_mb(service.process.pid)
    baseline = frozenset(tmp.rglob("*"))
    try:
        for round_index in range(rounds):
            if round_index < long_jobs and long_recording is not None:
                figures = long_job(service, client, long_recording, GOOD, url)
                if "error" in figures:
                    unexpected += 1
                    report(f"  long job {round_index}: FAILED {figures['error']}")
                else:
                    texts.setdefault("long", figures["text"])
                    if figures["text"] != texts["long"]:
                        unexpected += 1
                        report(f"  long job {round_index}: transcript differs from the first long job's")
                    report(f"  long job {round_index}: {figures['wall_s']:.0f} s, peak {figures['peak_rss_mb']:.0f}"
                           f" MB, after {figures['rss_after_mb']:.0f} MB, WER {figures['wer']:.3f}, "
                           f"speakers {figures.get('speakers')}")
            for _ in range(per_round[round_index]):
                name, expected, output = short_job(service, client, short_index, clip, scratch)
                short_index += 1
                if outcome(output) != expected:
                    unexpected += 1
                    report(f"  unexpected outcome for short job {short_index} ({name}): {str(output)[:200]}")
                elif name == "good" and texts.setdefault("short", output["text"]) != output["text"]:
                    unexpected += 1
                    report(f"  short job {short_index}: transcript differs from the first good short job's")
            row = (round_index + 1, process_rss_mb(service.process.pid), leftover_files(tmp, baseline))
            rows.append(row)
            report(f"  after round {row[0]}: worker RSS {row[1]:7.1f} MB, leftover job files {row[2]}")
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    if unexpected:
        report(f"  {unexpected} jobs had an unexpected outcome")
    return {"rows": rows, "unexpected": unexpected, "start_rss_mb": start_rss,
            "gradio_cache_files": cache_files(home / "gradio")}
