"""The page's Live tab in headless Chromium with its fake microphone playing a festival meeting
(`--use-file-for-fake-audio-capture`): captions come while it plays, with speakers (the enrolled voice by its
name), and Stop opens the session as a normal result (the view, downloads). The real server (`app.py`,
APP_MODE=ui, the API on the page's port) and the real models; nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.browser import CHROMIUM_FLAGS, chromium_path, serious_violations
from tests.test_openai_api import start

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
ADA = "Ada Lovelace"


@pytest.fixture(scope="module")
def live_page_server(models_dir, voice_recordings, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("live-page-voices")
    env = {**os.environ, "MODELS_DIR": str(models_dir), "DATA_DIR": str(data_dir), "DEVICE": "cpu"}
    subprocess.run([sys.executable, "-m", "core", "voices", "add", ADA, str(voice_recordings["enrol"].path)],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    server = start(models_dir, "ui", DATA_DIR=str(data_dir))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def microphone_file(voice_recordings, tmp_path_factory) -> tuple[Path, float]:
    """The three-person meeting as Chromium's fake microphone plays it (48 kHz 16-bit), 2 s of silence after."""
    from scipy.signal import resample_poly

    samples, rate = soundfile.read(str(voice_recordings["meeting"].path), dtype="float32")
    audio = np.concatenate([np.zeros(rate // 2, np.float32), samples, np.zeros(2 * rate, np.float32)])
    path = tmp_path_factory.mktemp("fake-mic") / "meeting-48k.wav"
    soundfile.write(str(path), resample_poly(audio, 3, 1), 48_000, subtype="PCM_16")
    return path, len(audio) / rate


def test_live_captions_with_speakers_then_a_result(live_page_server, microphone_file):
    from playwright.sync_api import sync_playwright

    path, seconds = microphone_file
    flags = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={path}%noloop"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=flags)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            context.grant_permissions(["microphone"], origin=live_page_server.url)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(live_page_server.url)
            page.get_by_role("tab", name="Live").click()
            page.locator("#wx-live .wx-live-start").click()
            page.wait_for_function("document.querySelector('#wx-live .wx-live-status').textContent"
                                   ".startsWith('Listening')", timeout=60_000)
            # captions with speakers while the meeting plays: the enrolled voice by name, the others by letter
            page.wait_for_function(
                "(name) => [...document.querySelectorAll('#wx-live .wx-live-speaker')]"
                ".some(n => n.textContent === name)",
                arg=ADA, timeout=int(seconds * 1000) + 90_000)
            page.wait_for_timeout(max(0, int(seconds * 1000) - 5_000))
            speakers = set(page.locator("#wx-live .wx-live-speaker").all_inner_texts())
            captions = page.locator("#wx-live .wx-live-captions").inner_text()
            print(speakers, captions)
            assert ADA in speakers and len(speakers) >= 2, speakers
            assert "numbers" in captions.lower() or "spring" in captions.lower(), captions
            assert serious_violations(page) == []  # the tab with its captions passes the axe audit
            page.locator("#wx-live .wx-live-stop").click()
            # Stop: the session opens as a result on the right, with speakers and downloads
            page.wait_for_function("document.querySelector('#wx-live .wx-live-status').textContent.startsWith('Done')",
                                   timeout=120_000)
            page.locator("#wx-view .wx-turn").first.wait_for(timeout=120_000)
            view = page.locator("#wx-view").inner_text()
            assert ADA in view, view
            page.locator("#wx-downloads td.filename").first.wait_for()
            names = [cell.get_attribute("aria-label") for cell in page.locator("#wx-downloads td.filename").all()]
            assert any(name.startswith("live-") and name.endswith(".json") for name in names), names
        finally:
            browser.close()
