"""The page shows finished segments while a file is transcribed, and the final transcript replaces them
(headless Chromium against the real server; `ui/live.py`)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from core.errors import Cancelled
from core.transcript.result import Segment
from tests.browser import start, tiled, upload, wait_until_finished
from ui.live import LiveJob, render_live

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
def twice(dialogue, tmp_path_factory) -> Path:
    """The dialogue twice (46 s): with 5 s chunks, several ASR batches, so text arrives in several steps."""
    return tiled(dialogue.path, 2, tmp_path_factory.mktemp("live") / "dialogue-twice.wav")


def _segment(start: float, text: str) -> Segment:
    return Segment(start=start, end=start + 1.0, text=text)


def test_live_job_yields_what_is_finished_so_far_then_its_result():
    release = [threading.Event() for _ in range(3)]

    def job(on_segments):
        for index, event in enumerate(release):
            on_segments((_segment(float(index), f"part {index}"),))
            event.wait(5)
        return "result"

    live = LiveJob(job, interval_s=0.0)
    seen = []
    for snapshot in live:
        seen.append([segment.text for segment in snapshot])
        release[len(snapshot) - 1].set()  # the job goes on only once the page has shown what it sent
    assert seen == [["part 0"], ["part 0", "part 1"], ["part 0", "part 1", "part 2"]]
    assert live.result == "result"


def test_live_job_raises_the_jobs_error_in_the_pages_thread_and_a_closed_page_stops_it():
    def failing(on_segments):
        raise Cancelled()

    with pytest.raises(Cancelled):
        list(LiveJob(failing))
    cancel = threading.Event()

    def endless(on_segments):
        on_segments((_segment(0.0, "hello"),))
        if not cancel.wait(10):
            raise AssertionError("the job was not stopped")
        raise Cancelled()

    iterator = iter(LiveJob(endless, cancel=cancel, interval_s=0.0))
    assert [segment.text for segment in next(iterator)] == ["hello"]
    iterator.close()  # Gradio closes the generator when the page goes away
    assert cancel.is_set()


def test_live_view_escapes_text_and_keeps_the_latest_segments():
    segments = [_segment(float(index), f"<b>{index}</b>") for index in range(305)]
    html_text = render_live(segments)
    assert "<b>" not in html_text and "&lt;b&gt;304&lt;/b&gt;" in html_text
    assert "… 5 earlier segments" in html_text and "&lt;b&gt;4&lt;/b&gt;" not in html_text
    assert 'aria-live="polite"' in html_text and "305 segments so far" in html_text


@pytest.mark.slow
@pytest.mark.browser
def test_segments_appear_while_it_runs_and_the_transcript_replaces_them(page, twice):
    upload(page, twice)
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    chunk = page.locator("#wx-opt-chunk_size input[type=number]")
    chunk.fill("5")
    chunk.press("Tab")
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
    # Every word shown live is in the final transcript (compared letters and digits only: the transcript splits
    # "o'clock" into word buttons).
    final = re.sub(r"[^a-z0-9]", "", view.locator(".wx-transcript").inner_text().lower())
    live_words = {re.sub(r"[^a-z0-9]", "", word) for word in live[-1]["text"].lower().split()} - {""}
    assert live_words and all(word in final for word in live_words), live_words
