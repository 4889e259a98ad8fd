"""Test helpers for the page in headless Debian Chromium: launching it, an hour-long generated meeting (a saved
result plus a silent recording of the same length), and the axe-core audit (`axe-playwright-python` injects
axe-core's own script into the page)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Result
from core.transcript.overlap import with_overlaps
from core.transcript.result import Segment, SpeakerTurn, Word

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
JOB_TIMEOUT_MS = 120_000
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


def open_page(browser, url: str, *, timeout_ms: int = 60_000, clipboard: bool = False) -> Iterator:
    """A fresh browser session (its own Gradio session and downloads) on the loaded page, closed afterwards: the
    body of the tests' `page` fixtures."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.locator("#wx-transcribe").wait_for()
    yield page
    context.close()


def tiled(recording: Path, times: int, path: Path) -> Path:
    """`recording` played `times` times in a row, written to `path`: longer speech with a known script."""
    import numpy as np
    import soundfile

    samples, rate = soundfile.read(str(recording), dtype="float32")
    soundfile.write(str(path), np.tile(samples, times), rate)
    return path


def long_meeting(turns: int = 1000, duration: float = 3600.0, speakers: int = 4, *,
                 overlaps: bool = False) -> Result:
    """An hour of four people talking in `turns` turns (never the same speaker twice in a row), every word
    timed; turn NEEDLE_TURN says NEEDLE. With `overlaps`, in every third turn the previous speaker talks over
    its words 3 to 5 (a turn of theirs there, as pyannote's overlapping turns give it; `overlap_with` marked)."""
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
        if overlaps and index % 3 == 1:
            diarization.append(SpeakerTurn(start=words[3].start, end=words[5].end, speaker=segments[-2].speaker))
    diarization.sort(key=lambda turn: (turn.start, turn.end))
    marked = with_overlaps(segments, diarization) if overlaps else tuple(segments)
    return Result(segments=marked, language="en", speakers=tuple(f"SPEAKER_{k:02d}" for k in range(speakers)),
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


# axe's default rules, and its experimental label-content-name-mismatch (a control's name must hold the text it
# shows: speech-input users say what they see), which found Gradio's drop zone.
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"label-content-name-mismatch": {"enabled": True}}}


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (rule id, impact, a few targets). The
    wrapper's bundled axe-core, or AXE_CORE_JS: another build's axe.min.js (e.g. the latest npm `axe-core`)."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe.from_file(os.environ["AXE_CORE_JS"]) if os.environ.get("AXE_CORE_JS") else Axe()
    # Gradio's page gets its <title> from its script once the app has mounted: on a loaded box that can come after
    # the elements a test waits for. Waiting for it here (a page that never gets one still fails: the wait times
    # out) keeps axe's document-title rule about the page, not about the box's speed.
    page.wait_for_function("document.title.length > 0", timeout=30_000)
    results = axe.run(page, options=AXE_OPTIONS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [node["target"] for node in v["nodes"][:5]]}
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


# ---- driving the page -------------------------------------------------------------------------------------
def upload(page, *paths: Path) -> None:
    page.locator("#wx-upload input[type=file]").set_input_files([str(path) for path in paths])
    for path in paths:
        page.locator(f"#wx-upload td.filename[aria-label='{path.name}']").wait_for()


def clear_files(page) -> None:
    # clicked from the page: after a job Gradio shows the box's top panel twice, one over the other
    page.evaluate("document.querySelectorAll('#wx-upload button[aria-label=Clear]').forEach(b => b.click())")
    page.wait_for_function("!document.querySelector('#wx-upload td.filename')")


def cards(page) -> list[tuple[str, str]]:
    """(file name, status) per card."""
    names = page.locator("#wx-cards .wx-card-name").all_inner_texts()
    return list(zip(names, page.locator("#wx-cards .wx-card-status").all_inner_texts(), strict=True))


def wait_until_finished(page, count: int) -> None:
    """Until the batch's `count` cards (not an earlier batch's, which `start` marked as old) are all settled."""
    page.wait_for_function(
        f"document.querySelectorAll('#wx-cards .wx-card:not([data-old])').length === {count} && "
        "!document.querySelector('#wx-cards .wx-card-waiting, #wx-cards .wx-card-running')",
        timeout=JOB_TIMEOUT_MS)


def choose(radio, tries: int = 3) -> None:
    """Check a radio of the page, again if the click is undone: the batch's last panel update can still be on its
    way when the cards already read Done, and it sets the shown file back (a user would click again)."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(1, tries + 1):
        try:
            radio.check(timeout=10_000)
            return
        except PlaywrightError:
            if attempt == tries:
                raise
            radio.page.wait_for_timeout(1000)


def start(page) -> None:
    page.evaluate("document.querySelectorAll('#wx-cards .wx-card').forEach(card => card.dataset.old = '1')")
    page.locator("#wx-transcribe").click()


def transcribe(page, count: int = 1) -> None:
    start(page)
    wait_until_finished(page, count)


def download(page, selector: str, *, tries: int = 3, timeout_ms: int = 20_000) -> tuple[str, Path]:
    """(suggested filename, local path) of what clicking the first `selector` downloads. The click is repeated,
    on a freshly found link, when no download starts (seen once on a loaded CI machine, right after a correction
    replaced the file list; a user would click again). A link that never downloads still fails, after `tries`
    clicks."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, tries + 1):
        try:
            with page.expect_download(timeout=timeout_ms) as started:
                page.locator(selector).first.click()
            return started.value.suggested_filename, Path(started.value.path())
        except PlaywrightTimeout:
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


def pick_speaker(page, name: str) -> None:
    """Choose `name` in the rename dropdown, and wait until the dropdown shows it (the rename that follows reads
    it)."""
    page.locator("#wx-speaker input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("(name) => document.querySelector('#wx-speaker input').value === name", arg=name)
