"""The benchmark harness runs end to end and reports what its table promises (no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_engine_and_soak_parts(models_dir, monologue):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--parts", "engine,soak", "--audio", str(monologue.path),
         "--models-dir", str(models_dir), "--repeats", "1", "--soak-jobs", "4", "--soak-block", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "## Engine, warm" in out and "sequential: realtime factor" in out
    # Concurrent diarization must give the same text and speakers as the sequential run.
    assert "concurrent == sequential (text, speakers) | True" in out
    assert "unexpected outcome" not in out
    soak_lines = [line for line in out.splitlines() if "leftover job files" in line and "after" in line]
    assert len(soak_lines) == 2 and all(line.rstrip().endswith("leftover job files 0") for line in soak_lines)
