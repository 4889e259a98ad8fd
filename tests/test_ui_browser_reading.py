"""Reading a long result in headless Chromium: an hour-long, 1,000-turn meeting opened from its saved result JSON
with its recording (no model runs); search, the sticky player, following playback, the render's time and the
browser's memory (recorded in test-artifacts/long-meeting.json); overlapped speech marked in words; the axe-core
audit in light and dark (overlap marks included); the phone layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import (
    NEEDLE,
    NEEDLE_TURN,
    long_meeting,
    pick_speaker,
    save_result,
    serious_violations,
    silent_recording,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TURNS = 1000
# Set before the result arrives: when the transcript lands in the page, and when the frame after it is painted.
MEASURE_RENDER_JS = """() => {
  window.wxRender = {};
  const view = document.querySelector('#wx-view');
  const observer = new MutationObserver(() => {
    if (window.wxRender.landed || !view.querySelector('.wx-transcript')) return;
    window.wxRender.landed = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => { window.wxRender.painted = performance.now(); }));
    observer.disconnect();
  });
  observer.observe(view, {subtree: true, childList: true});
}"""
IN_VIEWPORT = """(el) => { const box = el.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0; }"""


@pytest.fixture(scope="module")
def meeting(tmp_path_factory) -> tuple[Path, Path]:
    """meeting.json (a saved result: 60 minutes, 1,000 turns, four speakers) and meeting.ogg (an hour of silence)."""
    folder = tmp_path_factory.mktemp("meeting")
    return (save_result(long_meeting(TURNS), folder / "meeting.json"),
            silent_recording(folder / "meeting.ogg", 3600))


@pytest.fixture(scope="module")
def short_result(tmp_path_factory, dialogue) -> tuple[Path, Path]:
    """A small diarized saved result with its recording, for the audits: every third turn has words said over
    the other speaker (`overlap_with`)."""
    folder = tmp_path_factory.mktemp("short")
    result = long_meeting(turns=12, duration=dialogue_duration(dialogue), speakers=2, overlaps=True)
    (folder / "talk.wav").write_bytes(dialogue.path.read_bytes())
    return save_result(result, folder / "talk.json"), folder / "talk.wav"


def dialogue_duration(dialogue) -> float:
    import soundfile

    return soundfile.info(str(dialogue.path)).duration


def open_page(browser, url: str, *, width: int = 1366, height: int = 900, dark: bool = False, mobile: bool = False):
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=mobile,
                                  color_scheme="dark" if dark else "light")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + ("?__theme=dark" if dark else "?__theme=light"))
    page.locator("#wx-transcribe").wait_for()
    # loaded as a user meets it: titled, and the page's own scripts attached (they run after Gradio mounts)
    page.wait_for_function("document.title && document.body.dataset.wxScripts === 'attached'")
    return page


def show(page, *paths: Path, turns: int) -> None:
    page.locator("#wx-upload input[type=file]").set_input_files([str(path) for path in paths])
    for path in paths:
        page.locator(f"#wx-upload td.filename[aria-label='{path.name}']").wait_for()
    page.locator("#wx-transcribe").click()
    page.wait_for_function(f"document.querySelectorAll('#wx-view .wx-turn').length === {turns}", timeout=120_000)
    page.wait_for_function("document.querySelector('#wx-view audio').readyState >= 1")


def test_an_hour_long_meeting_is_searchable_and_the_player_stays_in_view(browser, ui_server, meeting):
    page = open_page(browser, ui_server.url)
    page.evaluate(MEASURE_RENDER_JS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")  # layout and style times from here on: the render of the result
    show(page, *meeting, turns=TURNS)
    page.wait_for_function("window.wxRender.painted !== undefined")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    render = page.evaluate("window.wxRender")
    measured = {"turns": TURNS, "render_ms": round(render["painted"] - render["landed"], 1),
                "js_heap_mb": round(metrics["JSHeapUsedSize"] / 2**20, 1), "dom_nodes": int(metrics["Nodes"]),
                "layout_s": round(metrics["LayoutDuration"], 3), "style_s": round(metrics["RecalcStyleDuration"], 3)}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "long-meeting.json").write_text(json.dumps(measured, indent=2) + "\n")
    assert page.locator("#wx-cards").inner_text().startswith("meeting.ogg")
    view = page.locator("#wx-view")
    assert view.locator(".wx-bar").count() == TURNS and view.locator(".wx-lane").count() == 4

    # search: one turn says the word; it alone stays, the word is marked, a click on it plays from there
    view.get_by_label("Search the transcript").fill(NEEDLE)
    view.get_by_text(f"1 of {TURNS} turns match").wait_for()
    assert view.locator(".wx-turn:not([hidden])").count() == 1
    hit = view.locator(".wx-word.wx-hit")
    assert hit.count() == 1 and hit.inner_text() == NEEDLE
    hit.click()
    needle = long_meeting(TURNS).segments[NEEDLE_TURN].words[4]
    # it plays on from the word, so on a busy machine the clock may be a little past it when read
    playing_at = page.evaluate("document.querySelector('#wx-view audio').currentTime")
    assert needle.start - 0.05 <= playing_at <= needle.start + 0.5, (playing_at, needle.start)
    assert hit.evaluate(IN_VIEWPORT) and view.locator("audio").evaluate(IN_VIEWPORT), "the player is in view"
    page.screenshot(path=str(ARTIFACTS / "ui-long-search.png"))

    # two terms must both be in a turn; Escape shows every turn again
    search = view.get_by_label("Search the transcript")
    search.fill("budget roadmap")
    page.wait_for_function("/^([2-9]|\\d\\d+) of \\d+ turns match$/.test("
                           "document.querySelector('#wx-view .wx-status').textContent)")
    shown = view.locator(".wx-turn:not([hidden])").count()
    assert 0 < shown < TURNS
    search.press_sequentially(" ")  # typing again, then Escape before the search runs: Escape wins
    search.press("Escape")
    page.wait_for_function(f"document.querySelectorAll('#wx-view .wx-turn:not([hidden])').length === {TURNS}")

    # following playback: the turn being played is marked and scrolled into view, under the sticky player
    target = 900
    page.evaluate(f"document.querySelector('#wx-view audio').currentTime = "
                  f"{long_meeting(TURNS).segments[target].start + 0.5}")
    turn = view.locator(".wx-turn").nth(target)
    page.wait_for_function(f"document.querySelectorAll('#wx-view .wx-turn')[{target}].classList.contains('wx-active')")
    assert turn.get_attribute("aria-current") == "true"
    page.wait_for_function(f"({IN_VIEWPORT})(document.querySelectorAll('#wx-view .wx-turn')[{target}])")
    assert view.locator("audio").evaluate(IN_VIEWPORT), "the player stays visible far down the page"
    assert page.evaluate("window.scrollY") > 20_000, "the page really scrolled to the end of the hour"
    assert view.locator(".wx-turn.wx-active").count() == 1
    page.screenshot(path=str(ARTIFACTS / "ui-long-follow.png"))
    page.context.close()


def test_overlapped_speech_is_marked_in_words_and_follows_a_rename(browser, ui_server, short_result):
    """Words said over someone else: a dashed underline (not a colour), a tooltip and a hidden "also speaking"
    note on the run, "overlaps with" in the turn's header; search and the text editor see only the words; a
    rename reaches the marks."""
    saved = json.loads(short_result[0].read_text())
    expected = [segment for segment in saved["segments"] if segment.get("overlap_with")]
    assert len(expected) == 4
    page = open_page(browser, ui_server.url)
    show(page, *short_result, turns=12)
    view = page.locator("#wx-view")
    marks = view.locator(".wx-overlap")
    others = [", ".join(segment["overlap_with"]) for segment in expected]
    assert marks.evaluate_all("marks => marks.map(m => m.title)") == [f"Also speaking: {o}" for o in others]
    assert view.locator(".wx-overlap .wx-sr").all_text_contents() == [f"(also speaking: {o}) " for o in others]
    assert view.locator(".wx-overlaps").all_inner_texts() == [f"overlaps with {o}" for o in others]
    words = [word["word"] for segment in expected for word in segment["words"] if word.get("overlap_with")]
    assert view.locator(".wx-overlap .wx-word").all_inner_texts() == words
    decoration = "ws => ws.map(w => [getComputedStyle(w).textDecorationLine, getComputedStyle(w).textDecorationStyle])"
    assert view.locator(".wx-overlap .wx-word").evaluate_all(decoration) == [["underline", "dashed"]] * len(words)
    assert view.locator(".wx-turn").first.locator(".wx-word").evaluate_all(decoration)[0][0] == "none"
    page.screenshot(path=str(ARTIFACTS / "ui-overlap.png"))

    search = view.get_by_label("Search the transcript")
    search.fill("speaking")
    view.get_by_text("0 of 12 turns match").wait_for()
    search.press("Escape")
    page.wait_for_function("document.querySelectorAll('#wx-view .wx-turn:not([hidden])').length === 12")

    turn = view.locator(".wx-turn", has=page.locator(".wx-overlap")).first
    turn.locator(".wx-turn-head").focus()
    page.keyboard.press("e")
    assert turn.locator("textarea.wx-edit-box").input_value() == expected[0]["text"]
    page.keyboard.press("Escape")

    talking_over = expected[0]["overlap_with"][0]
    pick_speaker(page, talking_over)
    page.get_by_label("New name").fill("Bea")
    page.locator("#wx-rename").click()
    view.locator(".wx-overlap[title='Also speaking: Bea']").first.wait_for()
    renamed = [", ".join("Bea" if name == talking_over else name for name in segment["overlap_with"])
               for segment in expected]
    assert view.locator(".wx-overlaps").all_inner_texts() == [f"overlaps with {o}" for o in renamed]
    page.context.close()


@pytest.mark.parametrize(("dark", "phone"), [(False, False), (True, False), (False, True), (True, True)],
                         ids=["light-desktop", "dark-desktop", "light-phone", "dark-phone"])
def test_axe_finds_no_serious_problems_on_the_empty_page_and_a_result(browser, ui_server, short_result, dark,
                                                                     phone):
    """axe (its experimental label-content-name-mismatch rule included) in every state a user passes through:
    the empty page, the drop zone focused, a result with the advanced options open, the rename button hovered
    and focused, and an error toast open; light and dark, desktop and a 390x844 phone."""
    size = {"width": 390, "height": 844} if phone else {}
    page = open_page(browser, ui_server.url, dark=dark, mobile=phone, **size)
    assert page.evaluate("document.body.classList.contains('dark') || "
                         "document.querySelector('.gradio-container').closest('.dark') !== null") == dark
    found = {"empty": serious_violations(page)}
    page.locator("#wx-upload button[aria-dropeffect]").focus()
    found["drop zone focused"] = serious_violations(page)
    show(page, *short_result, turns=12)
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    found["result"] = serious_violations(page)
    rename = page.locator("#wx-rename")
    rename.scroll_into_view_if_needed()
    rename.hover()
    page.wait_for_timeout(300)  # Gradio's buttons ease into their hover colour
    found["rename hovered"] = serious_violations(page)
    page.mouse.move(0, 0)
    rename.focus()
    found["rename focused"] = serious_violations(page)
    page.locator("#wx-opt-beam_size textarea, #wx-opt-beam_size input").first.fill("999")
    page.locator("#wx-transcribe").click()
    page.locator("[data-testid='toast-body']").first.wait_for()
    page.wait_for_timeout(1000)  # the toast fades in: audited once it is fully drawn, as a user reads it
    found["toast open"] = serious_violations(page)
    name = ("dark" if dark else "light") + ("-phone" if phone else "")
    page.screenshot(path=str(ARTIFACTS / f"ui-axe-{name}.png"), full_page=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(found, indent=2) + "\n")
    assert all(violations == [] for violations in found.values()), found
    page.context.close()


CLIPPED_JS = """() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > width + 1) problems.push('page scrolls sideways');
  const controls = document.querySelectorAll('button, input, textarea, select, [role=listbox], label');
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest('[hidden], .hidden')) continue;
    const name = (el.id || el.className || el.tagName) + ' ' + (el.getAttribute('aria-label') || el.textContent || '')
      .trim().slice(0, 30);
    if (box.left < -1 || box.right > width + 1) problems.push('outside the screen: ' + name);
    if (el.placeholder && el.scrollWidth <= el.clientWidth) {
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = getComputedStyle(el).font;
      const style = getComputedStyle(el);
      const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      if (ctx.measureText(el.placeholder).width > room + 1) problems.push('placeholder clipped: ' + name);
    }
    if ((el.tagName === 'INPUT' && el.type !== 'checkbox' && el.type !== 'radio' && el.type !== 'file')
        && el.value && el.scrollWidth > el.clientWidth + 1) problems.push('value clipped: ' + name);
  }
  return problems;
}"""


def test_phone_layout_has_no_clipped_controls_and_big_timeline_targets(browser, ui_server, short_result):
    page = open_page(browser, ui_server.url, width=390, height=844, mobile=True)
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    page.get_by_label("Speaker diarization").check()
    assert page.evaluate(CLIPPED_JS) == []
    show(page, *short_result, turns=12)
    page.screenshot(path=str(ARTIFACTS / "ui-phone.png"), full_page=True)
    page.locator("#wx-cards").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-phone-result.png"))  # off-screen turns are painted only when seen
    assert page.evaluate(CLIPPED_JS) == []
    heights = page.locator("#wx-view .wx-bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().height)")
    assert heights and min(heights) >= 24, heights
    turn_heads = page.locator("#wx-view .wx-turn-head").evaluate_all(
        "heads => heads.map(h => h.getBoundingClientRect().height)")
    assert min(turn_heads) >= 24, turn_heads
    page.context.close()
