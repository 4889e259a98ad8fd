"""Test helpers for the page in headless Debian Chromium: launching it, an hour-long generated meeting (a saved
result plus a silent recording of the same length), and the axe-core audit (`axe-playwright-python` injects
axe-core's own script into the page)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core import Result
from core.transcript.result import Segment, SpeakerTurn, Word

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
VOCABULARY = ("budget", "roadmap", "customer", "release", "design", "quarter", "hiring", "review", "launch",
              "metrics", "support", "pricing", "feedback", "timeline", "security", "training")
NEEDLE = "zanzibar"  # the one word the long meeting says once (turn NEEDLE_TURN)
NEEDLE_TURN = 700


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed; `bash scripts/setup.sh --dev` installs it")
    return path


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)


def long_meeting(turns: int = 1000, duration: float = 3600.0, speakers: int = 4) -> Result:
    """An hour of four people talking in `turns` turns (never the same speaker twice in a row), every word
    timed; turn NEEDLE_TURN says NEEDLE."""
    step = duration / turns
    segments, diarization = [], []
    speaker = 0
    for index in range(turns):
        speaker = (speaker + 1 + index % (speakers - 1)) % speakers
        label = f"SPEAKER_{speaker:02d}"
        start, end = round(index * step, 3), round(index * step + step * 0.9, 3)
        texts = [VOCABULARY[(index * 7 + k * 3) % len(VOCABULARY)] for k in range(9)]
        if index == NEEDLE_TURN:
            texts[4] = NEEDLE
        width = (end - start) / len(texts)
        words = tuple(Word(word=text, start=round(start + k * width, 3), end=round(start + (k + 1) * width, 3),
                           score=0.9, speaker=label) for k, text in enumerate(texts))
        segments.append(Segment(start=start, end=end, text=" ".join(texts), speaker=label, words=words))
        diarization.append(SpeakerTurn(start=start, end=end, speaker=label))
    return Result(segments=tuple(segments), language="en", speakers=tuple(f"SPEAKER_{k:02d}" for k in range(speakers)),
                  diarization=tuple(diarization), duration=duration, model="tiny.en", device="cpu",
                  compute_type="int8")


def save_result(result: Result, path: Path) -> Path:
    path.write_text(json.dumps(result.to_dict()), encoding="utf-8")
    return path


def silent_recording(path: Path, seconds: float) -> Path:
    """Silence of the given length as Opus (small even for an hour), made with ffmpeg."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=16000:cl=mono", "-t", str(seconds), "-c:a", "libopus", "-b:a", "6k", str(path)],
                   check=True)
    return path


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (rule id, impact, a few targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [node["target"] for node in v["nodes"][:5]]}
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
