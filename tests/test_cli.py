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


def test_all_good_exits_zero(models_dir, monologue, dialogue, tmp_path):
    """Two inputs called the same (in two folders) get `talk` and `talk-2`: neither overwrites the other."""
    other = tmp_path / "elsewhere" / monologue.path.name
    other.parent.mkdir()
    other.write_bytes(dialogue.path.read_bytes())
    out = tmp_path / "out"
    completed = run_cli(models_dir, monologue.path, other, "--no-align", "--formats", "txt,vtt", "--output-dir", out)
    assert completed.returncode == 0, completed.stderr
    stem = monologue.path.stem
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}-2.txt", f"{stem}-2.vtt", f"{stem}.txt", f"{stem}.vtt"]
    assert (out / f"{stem}.vtt").read_text().startswith("WEBVTT")
    assert "quick brown fox" in (out / f"{stem}.txt").read_text().lower()
    assert "quick brown fox" not in (out / f"{stem}-2.txt").read_text().lower()


def test_bad_arguments_are_reported_without_traceback(models_dir, monologue, tmp_path):
    completed = run_cli(models_dir, monologue.path, "--formats", "json,docx")
    assert completed.returncode == 2 and "docx" in completed.stderr and "Traceback" not in completed.stderr
    completed = run_cli(models_dir, monologue.path, "--model", "huge-v9")
    assert completed.returncode == 2 and "huge-v9" in completed.stderr and "tiny.en" in completed.stderr
    # refused once, before any file: what the options alone rule out, and an output folder that cannot be made
    for args, needle in ((("--diarize", "--diarization-model", "no-such-pipeline"), "no-such-pipeline"),
                         (("--model", "tiny.en", "--language", "de"), "English-only"),
                         (("--output-dir", monologue.path), "--output-dir")):
        completed = run_cli(models_dir, monologue.path, *args)
        assert completed.returncode == 2 and needle in completed.stderr, completed.stderr
        assert "Traceback" not in completed.stderr and completed.stderr.startswith("error: ")  # not per file
    export = run_cli(models_dir, "voices", "export", tmp_path / "missing" / "voices.json")
    assert export.returncode == 1 and "Traceback" not in export.stderr and "voices.json" in export.stderr
