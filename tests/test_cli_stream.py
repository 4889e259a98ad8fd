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


def test_ctrl_c_writes_the_finished_part_marked_partial(models_dir, dialogue, tmp_path):
    """Ctrl+C (SIGINT) once the first segment is on stdout: the file stops at its next step, its outputs hold what
    was finished (the JSON marked partial, with a warning saying up to where), the next file is not started, and
    the exit status is 130."""
    import signal

    from tests.browser import tiled

    long = tiled(dialogue.path, 3, tmp_path / "long.wav")
    env = {**os.environ, "MODELS_DIR": str(models_dir), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "core", str(long), str(dialogue.path), "--stream", "--chunk-size", "5",
               "--batch-size", "1", "--formats", "json,srt", "--output-dir", str(tmp_path / "out")]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        printed = []
        for line in process.stdout:
            printed.append(line)
            if LINE.match(line.rstrip("\n")):
                process.send_signal(signal.SIGINT)
                break
        _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    result = json.loads((tmp_path / "out" / "long.json").read_text())
    assert result["partial"] is True and result["segments"]
    assert result["segments"][-1]["end"] < result["duration"] - 20, "it stopped well before the end"
    assert any(w.startswith("partial: the job was stopped at") for w in result["warnings"])
    assert (tmp_path / "out" / "long.srt").read_text().strip()
    assert f"{long}: stopped at " in stderr and "long.json, long.srt (marked partial)" in stderr
    assert f"{dialogue.path}: not started (stopped)" in stderr and not (tmp_path / "out" / "dialogue.json").exists()
    assert "Traceback" not in stderr
