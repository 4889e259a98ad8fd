"""`python -m core --stream`: segments on stdout while the job runs, then the same files as without it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.asr.chunks import CHUNK_PAD_S

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
LINE = re.compile(r"^\[(\d\d):(\d\d):(\d\d\.\d{3}) --> (\d\d):(\d\d):(\d\d\.\d{3})\] (.+)$")


def _seconds(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_stream_prints_segments_as_they_finish(models_dir, dialogue, monologue, tmp_path):
    env = {**os.environ, "MODELS_DIR": str(models_dir), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "core", str(dialogue.path), str(monologue.path), "--stream", "--chunk-size",
               "5", "--formats", "json", "--output-dir", str(tmp_path)]
    arrivals: list[tuple[float, str]] = []
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        for line in process.stdout:
            arrivals.append((time.time(), line.rstrip("\n")))
        stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    lines = [line for _, line in arrivals]
    assert lines[0] == f"==> {dialogue.path} <==" and f"==> {monologue.path} <==" in lines
    split = lines.index(f"==> {monologue.path} <==")
    for stem, printed in ((dialogue.path.stem, lines[1:split]), (monologue.path.stem, lines[split + 1:])):
        segments = json.loads((tmp_path / f"{stem}.json").read_text())["segments"]
        parsed = [LINE.match(line) for line in printed]
        assert all(parsed), printed
        # Without diarization the printed segments are the result's, in order.
        assert [match.group(7) for match in parsed] == [segment["text"] for segment in segments]
        starts = [_seconds(*match.groups()[:3]) for match in parsed]
        assert starts == sorted(starts)
        # The final times are the streamed ones fitted to the speech (a padded chunk's edge moves to its words).
        assert starts == pytest.approx([segment["start"] for segment in segments], abs=CHUNK_PAD_S + 0.05)
    # The dialogue's first segment was on stdout before its result file was written.
    assert arrivals[1][0] < (tmp_path / f"{dialogue.path.stem}.json").stat().st_mtime
