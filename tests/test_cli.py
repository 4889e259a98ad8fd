"""`python -m core`: files named after inputs, one `FILE: reason` line per failure, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_cli(models_dir, *args):
    env = {**os.environ, "MODELS_DIR": str(models_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_good_and_bad_files_in_one_run(models_dir, dialogue, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio at all\n" * 10)
    out = tmp_path / "out"
    completed = run_cli(models_dir, dialogue.path, bad, "--diarize", "--formats", "json,srt,rttm",
                        "--output-dir", out)
    assert completed.returncode == 1
    error_lines = [line for line in completed.stderr.splitlines() if line.startswith(str(bad))]
    assert len(error_lines) == 1 and "not a media file" in error_lines[0]
    assert "Traceback" not in completed.stderr
    stem = dialogue.path.stem
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.json", f"{stem}.rttm", f"{stem}.srt"]
    data = json.loads((out / f"{stem}.json").read_text())
    assert len(data["speakers"]) == 2 and data["segments"]
    assert (out / f"{stem}.srt").read_text().startswith("1\n00:00:")


def test_all_good_exits_zero(models_dir, monologue, tmp_path):
    completed = run_cli(models_dir, monologue.path, "--no-align", "--formats", "txt,vtt", "--output-dir", tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / f"{monologue.path.stem}.vtt").read_text().startswith("WEBVTT")
    assert "quick brown fox" in (tmp_path / f"{monologue.path.stem}.txt").read_text().lower()


def test_bad_arguments_are_reported_without_traceback(models_dir, monologue, tmp_path):
    completed = run_cli(models_dir, monologue.path, "--formats", "json,docx")
    assert completed.returncode == 2 and "docx" in completed.stderr and "Traceback" not in completed.stderr
    completed = run_cli(models_dir, monologue.path, "--model", "huge-v9")
    assert completed.returncode == 2 and "huge-v9" in completed.stderr and "tiny.en" in completed.stderr
