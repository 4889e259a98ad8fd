"""The page in headless Chromium against the real server: upload, transcribe, read, rename, download, errors."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path

import pytest
import soundfile

from tests.subtitles import parse_srt
from ui.handlers import STAGE_LABELS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
JOB_TIMEOUT_MS = 120_000
# Every text the results panel shows while a job runs (progress included), recorded in the page itself so no
# short-lived state is missed between two polls.
RECORD_VIEW_JS = """() => {
  window.wxSeen = [];
  const view = document.querySelector('#wx-view');
  new MutationObserver(() => window.wxSeen.push(view.innerText))
    .observe(view, {subtree: true, childList: true, characterData: true});
}"""


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed; `bash scripts/setup.sh --dev` installs it")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, ui_server):
    """A fresh session (its own Gradio session and downloads) on the loaded page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(ui_server.url)
    page.locator("#wx-transcribe").wait_for()
    yield page
    context.close()


def upload(page, path: Path) -> None:
    page.locator("#wx-upload input[type=file]").set_input_files(str(path))
    page.locator("#wx-upload").get_by_text(path.stem).first.wait_for()


def transcribe(page) -> None:
    page.locator("#wx-transcribe").click()
    page.locator("#wx-view .wx-turn").first.wait_for(timeout=JOB_TIMEOUT_MS)


def test_transcribe_rename_and_download(page, dialogue):
    upload(page, dialogue.path)
    page.get_by_label("Speaker diarization").check()
    page.get_by_label("srt", exact=True).check()
    page.get_by_text("Advanced: subtitles, decoding, VAD").click()
    chunk = page.get_by_label("number input for Chunk size (s)")
    chunk.fill("5")  # one segment per line of the dialogue, so the turns alternate
    chunk.press("Enter")
    page.evaluate(RECORD_VIEW_JS)
    transcribe(page)

    view = page.locator("#wx-view")
    turns = view.locator(".wx-turn")
    names = view.locator(".wx-turn .wx-speaker").all_inner_texts()
    assert turns.count() >= 4 and set(names) == {"SPEAKER_00", "SPEAKER_01"}, names
    assert all(a != b for a, b in itertools.pairwise(names)), "one block per speaker turn"
    assert re.fullmatch(r"0:00\.\d – 0:0\d\.\d", turns.first.locator(".wx-time").inner_text())
    assert "table for two people" in turns.first.inner_text()
    assert view.locator(".wx-lane-name").all_inner_texts() == ["SPEAKER_00", "SPEAKER_01"]
    assert "alignment" in view.locator(".wx-warnings").inner_text(), "result warnings are shown"
    seen = " ".join(page.evaluate("window.wxSeen"))
    assert any(label in seen for label in STAGE_LABELS.values()), "the progress bar names the stage"

    second = turns.nth(1)
    second.click()
    start = float(second.get_attribute("data-start"))
    assert page.evaluate("document.querySelector('#wx-view audio').currentTime") == pytest.approx(start, abs=0.05)

    page.locator("#wx-speaker input").click()
    page.get_by_role("option", name="SPEAKER_01").click()
    page.get_by_label("New name").fill("Alice")
    page.locator("#wx-rename").click()
    view.locator(".wx-speaker", has_text="Alice").first.wait_for()
    renamed = view.locator(".wx-turn .wx-speaker").all_inner_texts()
    assert renamed == ["Alice" if name == "SPEAKER_01" else name for name in names]
    assert view.locator(".wx-lane-name").all_inner_texts() == ["SPEAKER_00", "Alice"]

    page.get_by_text("Result JSON").click()
    page.locator("#wx-json").get_by_text("Alice").first.wait_for()

    srt_link = page.locator("#wx-downloads a[download$='.srt']")
    assert page.locator("#wx-downloads a[download$='.json']").count() == 1
    with page.expect_download() as download:
        srt_link.click()
    srt = Path(download.value.path()).read_text(encoding="utf-8")
    cues = parse_srt(srt)
    assert any(body.startswith("[Alice]: ") for *_, body in cues) and "SPEAKER_01" not in srt
    assert len(cues) == turns.count()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)


def test_a_bad_upload_shows_an_error_and_the_next_one_works(page, dialogue, tmp_path):
    text_file = tmp_path / "minutes.txt"
    text_file.write_text("meeting minutes, not a recording\n" * 20)
    page.locator("#wx-upload input[type=file]").set_input_files(str(text_file))
    page.get_by_text("Invalid file type").first.wait_for()

    fake_wav = tmp_path / "fake.wav"
    fake_wav.write_text("a text file that calls itself audio\n" * 20)
    upload(page, fake_wav)
    page.locator("#wx-transcribe").click()
    page.get_by_text("fake.wav: it is a text file, not a media file").first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert page.get_by_text("Traceback").count() == 0
    assert page.locator("#wx-view .wx-turn").count() == 0

    page.locator("#wx-upload button[aria-label='Clear']").click()
    odd_name = tmp_path / "call #2 (ü).wav"  # `#` would end the player's URL if it were not encoded
    shutil.copy(dialogue.path, odd_name)
    upload(page, odd_name)
    transcribe(page)
    assert "table for two people" in page.locator("#wx-view .wx-transcript").inner_text()
    page.wait_for_function("document.querySelector('#wx-view audio').readyState >= 1")
    duration = page.evaluate("document.querySelector('#wx-view audio').duration")
    assert duration == pytest.approx(soundfile.info(str(dialogue.path)).duration, abs=0.1)
