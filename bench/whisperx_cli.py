"""The same file through the `whisperx` CLI with the same models and options, for the speed ratio."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.measure import stopwatch
from core.models.registry import ModelRegistry


def run_whisperx_cli(registry: ModelRegistry, audio: Path, *, diarize: bool, align: bool) -> float:
    """Wall seconds of one `python -m whisperx` run (a fresh process: what a CLI user pays per file)."""
    model_dir = registry._asr_source(registry.default_asr_name)
    command = [sys.executable, "-m", "whisperx", str(audio), "--model", model_dir, "--device", registry.device,
               "--compute_type", registry.compute_type, "--batch_size", str(registry.batch_size),
               "--language", "en", "--vad_method", "pyannote", "--output_format", "json",
               "--threads", str(os.cpu_count() or 1)]
    if not align:
        command.append("--no_align")
    if diarize:
        command += ["--diarize", "--diarize_model", registry._diarization_source(registry.default_diarization_name)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"}
    with tempfile.TemporaryDirectory() as out, stopwatch() as clock:
        subprocess.run([*command, "--output_dir", out], check=True, capture_output=True, env=env)
    return clock["seconds"]
