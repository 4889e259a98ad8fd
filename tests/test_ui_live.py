"""The page shows finished segments while a file is transcribed, and the final transcript replaces them
(headless Chromium against the real server; `ui/live.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.test_ui_browser import page, start, upload, wait_until_finished  # noqa: F401 - `page` is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Each change of the results panel, recorded in the page (nothing short-lived is missed between two polls):
# how many live segments it showed, their text, and whether the final transcript was there.
RECORD_JS = """() => {
  window.wxStates = [];
  const view = document.querySelector('#wx-view');
  new MutationObserver(() => window.wxStates.push({
      live: view.querySelectorAll('.wx-live-seg').length,
      text: Array.from(view.querySelectorAll('.wx-live-seg')).map(p => p.lastChild.textContent).join(' '),
      final: view.querySelectorAll('.wx-turn').length > 0}))
    .observe(view, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def three_minutes(dialogue, tmp_path_factory) -> Path:
    samples, rate = soundfile.read(str(dialogue.path), dtype="float32")
    path = tmp_path_factory.mktemp("live") / "three-minutes.wav"
    soundfile.write(str(path), np.tile(samples, 9), rate)
    return path


def test_segments_appear_while_it_runs_and_the_transcript_replaces_them(page, three_minutes):  # noqa: F811
    upload(page, three_minutes)
    page.evaluate(RECORD_JS)
    start(page)
    wait_until_finished(page, 1)
    states = page.evaluate("window.wxStates")
    live = [state for state in states if state["live"]]
    assert live, "no segment was shown before the transcript"
    counts = [state["live"] for state in live]
    assert counts == sorted(counts) and counts[-1] > counts[0], "the live text grows as the job runs"
    first_final = next(index for index, state in enumerate(states) if state["final"])
    assert all(index < first_final for index, state in enumerate(states) if state["live"])
    view = page.locator("#wx-view")
    assert view.locator(".wx-live").count() == 0 and view.locator(".wx-turn").count() > 0
    final_words = view.locator(".wx-transcript").inner_text().lower().split()
    assert {word.strip(".,?!") for word in live[-1]["text"].lower().split()} <= {
        word.strip(".,?!") for word in final_words}
