"""The benchmark harness runs end to end and reports what its tables promise (no timing is asserted)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_bench_engine_api_and_soak_parts(models_dir, monologue, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--parts", "engine,api,soak", "--audio", str(monologue.path),
         "--models-dir", str(models_dir), "--repeats", "1", "--services", "runpod", "--soak-long", "1",
         "--soak-long-minutes", "0.5", "--soak-jobs", "3", "--scratch", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "## Engine, warm" in out and "sequential: realtime factor" in out
    # Concurrent diarization must give the same text and speakers as the sequential run.
    assert re.search(r"concurrent == sequential \(text, speakers\) +\| True", out)
    # One segmentation pass for VAD and diarization must not change the result either.
    assert re.search(r"shared == apart \(text, speakers\) +\| True", out)
    # The whisperX-API peer ran on the same file and the ratios were printed.
    assert "whisperX's Python API" in out and "/runsync / whisperX API (wall; CPU)" in out
    assert "warm RunPod request / whisperX API script" in out
    # Soak: one long meeting and three short jobs, every outcome as expected, nothing left in the temp dir.
    assert "long job 0:" in out and "FAILED" not in out
    assert "unexpected outcome for" not in out and "differs from the first" not in out
    rounds = [line for line in out.splitlines() if "after round" in line]
    assert len(rounds) == 1 and rounds[0].rstrip().endswith("leftover job files 0")
    assert "unexpected outcomes: 0" in out
    assert list(tmp_path.glob("meeting-0.5m.*")), "the synthetic meeting is built in --scratch"


def test_bench_quality_part_scores_three_systems_on_a_real_clip(models_dir, tmp_path):
    """One AMI excerpt and a joined conversation of real voices (the dev split, so the voice library enrols and the
    verification embeds the dev speakers only) through ours, whisperX's API and faster-whisper: every measure
    printed and in range, speaker verification and the voice library reported. (The cpWER of a meeting with each
    participant's words is checked without models: tests/test_quality_metrics.py.)"""
    figures = tmp_path / "quality.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--parts", "quality", "--quality-splits", "dev",
         "--quality-clips", "ami-trn04,conv-dev-quick",
         "--models-dir", str(models_dir), "--quality-json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "## Quality set, dev: per file" in out and "## Quality set, dev: pooled" in out and "heldout" not in out
    for system in ("ours", "whisperx", "faster-whisper"):  # an AMI excerpt has no words: no WER, no cpWER
        assert re.search(rf"\| ami-trn04 \| {system}( \(segments\))? \| – \| – \| ", out), system
    rows = json.loads(figures.read_text())["rows"]
    ami = {row["system"]: row for row in rows if row["clip"] == "ami-trn04"}
    for system, row in ami.items():
        words = row["words|0.25|False"]
        assert 0 < words["total"] <= 30 and 0 <= words["der"] < 2, (system, words)
        assert 0.3 < row["coverage"] <= 1.0 and row["speakers_ref"] == 3
    assert "turns|0.0|True" in ami["ours"] and "turns|0.25|False" in ami["whisperx"]
    pooled = json.loads(figures.read_text())["pooled"]
    assert set(pooled) >= {"dev/ours", "dev/whisperx", "dev/faster-whisper"}
    joined = {row["system"]: row for row in rows if row["clip"] == "conv-dev-quick"}
    for system, row in joined.items():
        assert row["speakers_ref"] == 3 and row["turns"] == 12 and len(row["missing"]) <= 3, (system, row["missing"])
        assert row["wer"] < 0.3 and re.search(rf"\| conv-dev-quick \| {system}( \(segments\))? \| \d+\.\d \| – \|",
                                              out)
    assert "## Joined conversations, dev: pooled" in out and "## Turns missing, dev" in out
    speakers = json.loads(figures.read_text())["speakers"]
    for kind in ("whole", "2 s"):
        found = speakers["verification"][f"dev/{kind}"]
        assert found["speakers"] == 9 and 0 <= found["eer"] < 0.2 and found["same"]["mean"] > found["different"]["mean"]
    assert "## Speaker verification on the real utterances, dev" in out and "## Voice library" in out
    library = speakers["library"]["speakers"]
    assert set(library) == {"ls-2414", "ls-3005", "ls-3331"}  # the quick exchange's people, enrolled elsewhere
    assert all(found["enrolled_from"] for found in library.values())


def test_bench_realign_part_prints_the_time_to_re_time_one_turn(models_dir, monologue, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--parts", "realign", "--audio", str(monologue.path), "--models-dir",
         str(models_dir), "--repeats", "1", "--long-minutes", "3", "--scratch", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "## Re-timing one turn of a 3-minute recording (m4a)" in out
    assert re.search(r"re-time a [0-9.]+ s turn at 3 min \(median of 1\) +\| [0-9.]+ s wall, [0-9.]+ s CPU", out), out
    assert re.search(r"re-time a 20 s turn of a long recording \(s\) +\| [0-9.]+ \(≤ 2", out), out
    assert list(tmp_path.glob("realign-3m.m4a")), "the long recording is built in --scratch"


def test_bench_first_text_part_prints_when_the_first_segments_came(models_dir, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--parts", "first-text", "--hour-minutes", "1", "--models-dir",
         str(models_dir), "--repeats", "1", "--scratch", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert re.search(r"seconds to the first finished segments \(median of 1\) +\| [0-9.]+ s \(target ~15 s", out), out
    assert re.search(r"first text of a long meeting \(s\) +\| [0-9.]+ \(≤ 15", out), out
