"""The page by keyboard alone, in headless Chromium against the real server: Tab walks through the options with
no option list left open over the fields below (Escape and a click elsewhere close one), and a skip link, first
in the Tab order, takes the focus past the upload box and the options to the transcript's first turn. A saved
result with its recording stands in for a transcription (no model runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, long_meeting, save_result, serious_violations, silent_recording, upload

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The option fields Tab walks through, in order, from Model to Speaker model (the speaker counts after it are
# disabled until diarization is on, so out of the Tab order).
OPTION_FIELDS = ["model", "language", "task", "align_output", "diarization", "recognize_voices", "diarization_model"]
OPEN_LISTS_JS = ("[...document.querySelectorAll('input[role=listbox][aria-expanded=true]')]"
                 ".map(input => input.closest('[id^=wx-opt-]').id.slice(7))")
FOCUSED_FIELD_JS = """() => { const field = document.activeElement.closest('[id^=wx-opt-]');
  return field ? field.id.slice(7) : document.activeElement.tagName; }"""


@pytest.fixture(scope="module")
def saved_meeting(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keyboard")
    return (save_result(long_meeting(turns=12, duration=60.0, speakers=2), folder / "talk.json"),
            silent_recording(folder / "talk.ogg", 60))


def test_tab_walks_the_options_and_no_option_list_stays_open(page):
    page.wait_for_function("document.body.dataset.wxScripts === 'attached'")
    page.locator("#wx-opt-model input").focus()
    walked, left_open = ["model"], []
    for _ in OPTION_FIELDS[1:]:
        page.keyboard.press("Tab")
        page.wait_for_timeout(150)  # the dropdowns' own handlers run after the key
        walked.append(page.evaluate(FOCUSED_FIELD_JS))
        left_open += [(walked[-1], name) for name in page.evaluate(OPEN_LISTS_JS) if name != walked[-1]]
    assert walked == OPTION_FIELDS, "each Tab reaches the next option (never the page body or a list)"
    assert left_open == [], "a list left behind stays open over the fields below"
    assert page.locator("ul[role=listbox]").count() <= 1

    page.locator("#wx-opt-model input").click()  # opened with the pointer, then left with Tab
    page.locator("ul[role=listbox]").first.wait_for()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")  # Escape closes the list of the field that has the focus, and any other
    page.wait_for_function(f"{OPEN_LISTS_JS}.length === 0")
    page.locator("#wx-opt-task input").click()
    page.locator("ul[role=listbox]").first.wait_for()
    page.locator("h2").first.click()  # a click elsewhere closes it
    page.wait_for_function(f"{OPEN_LISTS_JS}.length === 0 && !document.querySelector('ul[role=listbox]')")


def test_skip_links_reach_the_first_turn_from_the_top_and_from_transcribe(page, saved_meeting):
    page.wait_for_function("document.body.dataset.wxScripts === 'attached'")
    page.keyboard.press("Tab")  # the first Tab on the page
    top = page.locator(":focus")
    assert top.inner_text() == "Skip to the transcript" and top.get_attribute("id") == "wx-skip-top"
    assert top.is_visible() and top.bounding_box()["x"] >= 0, "the link shows while it has the focus"
    found = {"top link": serious_violations(page)}

    upload(page, *saved_meeting)
    page.locator("#wx-transcribe").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#wx-view .wx-turn').length === 12", timeout=120_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.keyboard.press("Tab")  # Stop
    page.keyboard.press("Tab")  # past the options: the link after Stop
    link = page.locator(":focus")
    assert link.inner_text() == "Skip to the transcript" and link.is_visible()
    found["link after Stop"] = serious_violations(page)
    page.keyboard.press("Enter")
    first_turn = page.locator("#wx-view .wx-turn").first.locator(".wx-turn-head")
    assert first_turn.evaluate("head => head === document.activeElement"), "the first turn has the focus"
    assert first_turn.evaluate("""head => { const box = head.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= window.innerHeight; }"""), "and is in view"
    assert not page.locator("#wx-skip-options").evaluate("link => link.getBoundingClientRect().right > 0"), (
        "the link hides once left")
    assert page.get_by_role("region", name="Transcript and downloads").count() == 1, "a landmark for the results"
    (ARTIFACTS / "axe-skip-links.json").write_text(json.dumps(found, indent=2) + "\n")
    assert found == {"top link": [], "link after Stop": []}
