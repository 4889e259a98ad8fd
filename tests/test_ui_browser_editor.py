"""The page as a workbench, in headless Chromium against the real server: a turn's text corrected and its words
re-timed, a turn given to another speaker, a split at a word, a merge offered by a rename, undo/redo by keyboard
and buttons; every download follows, and the saved JSON re-opens with the corrections. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests import speech
from tests.browser import download, pick_speaker, serious_violations
from tests.subtitles import parse_srt

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FORMATS = ("srt", "vtt", "txt", "tsv", "rttm")
SENTENCES = re.compile(r"[^.?!\s][^.?!]*[.?!]")


@pytest.fixture(scope="module")
def saved(ui_server, timed_dialogue, tmp_path_factory) -> tuple[Path, Path]:
    """The timed dialogue as the open profile's default model (`base`) transcribes it, saved with its recording
    (the page re-opens a saved result without transcribing again)."""
    client = Client(ui_server.url, verbose=False)
    result = client.predict(handle_file(str(timed_dialogue.path)), model="base", diarization=True,
                            api_name="/transcribe")
    folder = tmp_path_factory.mktemp("editor")
    (folder / "talk.json").write_text(json.dumps(result), encoding="utf-8")
    (folder / "talk.wav").write_bytes(timed_dialogue.path.read_bytes())
    return folder / "talk.json", folder / "talk.wav"


def open_saved(page, *paths: Path) -> None:
    page.locator("#wx-upload input[type=file]").set_input_files([str(path) for path in paths])
    for path in paths:
        page.locator(f"#wx-upload td.filename[aria-label='{path.name}']").wait_for()
    for fmt in FORMATS:
        page.get_by_label(fmt, exact=True).check()
    page.locator("#wx-transcribe").click()
    page.wait_for_function("document.querySelectorAll('#wx-view .wx-turn').length > 0", timeout=120_000)


def downloads(page) -> dict[str, str]:
    """Every download file's text, by extension, as the page offers it now."""
    texts = {}
    for name in page.locator("#wx-downloads a[download]").evaluate_all("links => links.map(a => a.download)"):
        suggested, path = download(page, f"#wx-downloads a[download='{name}']")
        texts[Path(suggested).suffix[1:]] = path.read_text("utf-8")
    return texts


# The transcript as rendered by the server: turn headers and texts (not the editing tools the script adds).
TRANSCRIPT_JS = ("[...document.querySelectorAll('#wx-view .wx-turn')].map(t => t.querySelector('.wx-turn-head')"
                 ".innerText + ' ' + t.querySelector('.wx-text').textContent).join('\\n')")


LINKS_JS = "[...document.querySelectorAll('#wx-downloads a[download]')].map(a => a.href)"


def page_state(page) -> dict:
    """What a correction must change: the rendered transcript and the download links."""
    return page.evaluate(f"() => ({{text: {TRANSCRIPT_JS}, links: {LINKS_JS}}})")


def wait_for_change(page, before: dict) -> None:
    """Until the server's answer to a correction is on the page: the view re-rendered with a different transcript
    and every download replaced (the files arrive after the view; a link clicked in between never downloads)."""
    page.wait_for_function(f"(before) => ({TRANSCRIPT_JS}) !== before.text", arg=before, timeout=120_000)
    page.wait_for_function(f"(before) => {{ const now = {LINKS_JS}; "
                           "return now.length > 0 && now.every(h => !before.links.includes(h)); }",
                           arg=before, timeout=120_000)


def transcript_text(page) -> str:
    return page.evaluate(f"() => {TRANSCRIPT_JS}")


def speakers_of_turns(page) -> list[str]:
    return page.locator("#wx-view .wx-turn .wx-speaker").all_inner_texts()


def test_correct_text_speakers_merge_and_undo_reach_every_download(page, saved, timed_dialogue):
    open_saved(page, *saved)
    view = page.locator("#wx-view")
    assert page.locator("#wx-undo").is_visible() and page.locator("#wx-speaker-row").is_visible()

    # 1. the first turn's text replaced with the true words: re-timed against festival's own word boundaries
    first = view.locator(".wx-turn").first
    start, end = float(first.get_attribute("data-start")), float(first.get_attribute("data-end"))
    lines = [text for (turn_start, _, _), (_, text) in zip(timed_dialogue.turns, speech.DIALOGUE, strict=True)
             if start - 0.5 <= turn_start < end]
    truth = " ".join(lines)
    first.locator(".wx-turn-head").focus()
    page.keyboard.press("e")
    box = first.locator("textarea.wx-edit-box")
    box.fill(truth)
    before = page_state(page)
    page.screenshot(path=str(ARTIFACTS / "ui-editor-text.png"))
    box.press("Control+Enter")
    wait_for_change(page, before)
    assert view.locator(".wx-turn").first.locator(".wx-edited").count() == 1
    files = downloads(page)
    result = json.loads(files["json"])
    edited = [segment for segment in result["segments"] if segment.get("edited")]
    # the turn keeps its cues: cut into sentences as a transcription cuts it, one subtitle each (not one cue of
    # the whole turn)
    assert [segment["text"] for segment in edited] == SENTENCES.findall(truth) and len(edited) >= 2
    assert len(parse_srt(files["srt"])) == len(result["segments"])
    reference = tuple(w for w in timed_dialogue.words if start - 0.5 <= w[1] <= edited[-1]["end"] + 0.3)
    timed = [(w["word"], w["start"]) for segment in edited for w in segment["words"]]
    _, errors = speech.word_timing_errors(reference, timed)
    within = sum(error <= 0.2 for error in errors) / len(reference)
    print(f"\nre-timed turn: {len(errors)} words, within 0.2 s {within:.1%}, mean {sum(errors) / len(errors):.3f} s")
    assert within >= 0.95 and sum(errors) / len(errors) <= 0.12, sorted(errors)[-3:]
    for fmt in ("srt", "vtt", "txt", "tsv"):
        assert lines[0].split()[-1].rstrip(".") in files[fmt], fmt

    # 2. the second turn given to the first turn's speaker: every download follows, RTTM included
    names = speakers_of_turns(page)
    assert len(set(names)) == 2, names
    second = view.locator(".wx-turn").nth(1)
    second.locator(".wx-turn-head").focus()
    page.keyboard.press("s")
    second.locator("select.wx-pick-speaker").select_option(names[0])
    before = page_state(page)
    second.locator("button.wx-apply").click()
    wait_for_change(page, before)
    given = [names[0], names[0], *names[2:]]
    assert speakers_of_turns(page) == [n for k, n in enumerate(given) if k == 0 or given[k - 1] != n]
    files = downloads(page)
    rttm_speakers = [line.split()[7] for line in files["rttm"].splitlines()]
    assert rttm_speakers[0] == rttm_speakers[1] == names[0], files["rttm"]
    assert all(body.startswith(f"[{names[0]}]") for *_, body in parse_srt(files["srt"])[:2])

    # 3. undo (Ctrl+Z) brings the second speaker back; redo (the button) takes it away again
    page.locator("#wx-edit-help").click()  # focus off any field: Ctrl+Z is the page's, not a text box's
    before = page_state(page)
    page.keyboard.press("Control+z")
    wait_for_change(page, before)
    assert speakers_of_turns(page) == names
    speakers = [segment["speaker"] for segment in json.loads(downloads(page)["json"])["segments"]]
    assert [name for k, name in enumerate(speakers) if k == 0 or speakers[k - 1] != name] == names
    before = page_state(page)
    page.locator("#wx-redo").click()
    wait_for_change(page, before)
    assert speakers_of_turns(page) == [n for k, n in enumerate(given) if k == 0 or given[k - 1] != n]
    page.locator("#wx-undo").click()
    page.wait_for_function("(n) => document.querySelectorAll('#wx-view .wx-turn').length === n", arg=len(names))

    # 4. split the third turn ("That sounds perfect. Could we also order…") before "Could": the rest goes to a new
    # speaker; the split falls in the pause as heard (the first part ends where the voice stops), and no sliver of
    # the first speaker's turn is left over the new speaker's
    third = view.locator(".wx-turn").nth(2)
    word = third.locator(".wx-word", has_text="Could")
    word_text = word.inner_text()
    word.focus()
    page.keyboard.press("s")
    third.locator("select.wx-pick-speaker").select_option("")
    third.locator("input.wx-new-speaker").fill("Guest")
    assert third.locator("select.wx-pick-range").input_value() == "rest"
    page.screenshot(path=str(ARTIFACTS / "ui-editor-speaker.png"))
    before = page_state(page)
    third.locator("button.wx-apply").click()
    wait_for_change(page, before)
    guest = view.locator(".wx-turn", has=page.locator(".wx-speaker", has_text="Guest"))
    assert guest.count() == 1 and guest.locator(".wx-text").inner_text().startswith(word_text)
    files = downloads(page)
    assert "Guest" in files["rttm"] and f"[Guest]: {word_text}" in files["srt"] + files["vtt"]
    stopped = next(w[2] for w in timed_dialogue.words if w[0] == "perfect")
    first_part = view.locator(".wx-turn").nth(2)
    assert abs(float(first_part.get_attribute("data-end")) - stopped) <= 0.1, (first_part.inner_text(), stopped)
    guest_span = (float(guest.get_attribute("data-start")), float(guest.get_attribute("data-end")))
    bars = page.evaluate("(name) => [...document.querySelectorAll('#wx-view .wx-lane')].filter(lane => lane"
                         ".querySelector('.wx-lane-name').innerText.trim() === name).flatMap(lane => [...lane"
                         ".querySelectorAll('.wx-bar')].map(bar => [+bar.dataset.start, +bar.dataset.end]))",
                         names[0])
    assert bars and not [bar for bar in bars if bar[1] > guest_span[0] and bar[0] < guest_span[1] + 0.3], bars

    # 4b. Guest's whole turn given back: Guest is gone from the speakers (summary, timeline, RTTM); undo brings it
    guest.locator(".wx-turn-head").focus()
    page.keyboard.press("s")
    guest.locator("select.wx-pick-speaker").select_option(names[1])
    assert guest.locator("select.wx-pick-range").input_value() == "turn"
    before = page_state(page)
    guest.locator("button.wx-apply").click()
    wait_for_change(page, before)
    assert "Speakers: 2" in view.locator(".wx-summary").inner_text()
    assert "Guest" not in view.locator(".wx-timeline").inner_text() and "Guest" not in downloads(page)["rttm"]
    page.locator("#wx-edit-help").click()
    before = page_state(page)
    page.keyboard.press("Control+z")
    wait_for_change(page, before)
    assert view.locator(".wx-speaker", has_text="Guest").count() == 1

    # 5. naming a speaker with another's name offers the merge; merging leaves one speaker for both
    pick_speaker(page, "Guest")
    page.get_by_label("New name").fill(names[1])
    page.locator("#wx-rename").click()
    merge = page.locator("#wx-merge", has_text=f"Merge “Guest” into “{names[1]}”")
    merge.wait_for()
    before = page_state(page)
    merge.click()
    wait_for_change(page, before)
    assert "Guest" not in speakers_of_turns(page) and not merge.is_visible()
    files = downloads(page)
    result = json.loads(files["json"])
    assert "Guest" not in json.dumps(result) and "Guest" not in files["rttm"]
    with zipfile.ZipFile(download(page, "#wx-zip")[1]) as archive:
        saved_json = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith(".json"))))
    assert saved_json["segments"] == result["segments"]

    # 6. the saved JSON re-opens with its corrections marked
    reopened = saved[0].parent / "reopened" / "talk.json"
    reopened.parent.mkdir(exist_ok=True)
    reopened.write_text(files["json"], encoding="utf-8")
    page.evaluate("document.querySelectorAll('#wx-upload button[aria-label=Clear]').forEach(b => b.click())")
    page.wait_for_function("!document.querySelector('#wx-upload td.filename')")
    corrected = transcript_text(page)
    page.evaluate("document.querySelectorAll('#wx-cards .wx-card').forEach(card => card.dataset.old = '1')")
    open_saved(page, reopened, saved[1])
    page.wait_for_function("document.querySelector('#wx-cards .wx-card:not([data-old])[data-status=done]') && "
                           "document.querySelector('#wx-view .wx-turn')", timeout=120_000)
    assert transcript_text(page) == corrected and view.locator(".wx-edited").count() >= 1
    assert page.locator("[data-testid='toast-body']").count() == 0, "notes stay in the notes box: no toast"


def test_a_new_speaker_without_a_name_is_marked_at_its_field_and_a_refusal_ends_saving(page, saved):
    """*New speaker…* with an empty Name: the field is outlined and marked invalid with the reason beside it and
    the focus in it, nothing is sent (no toast, no "Saving…"); and a correction the server refuses ends its
    "Re-timing the words…" with the toast, instead of leaving it on screen."""
    open_saved(page, *saved)
    turn = page.locator("#wx-view .wx-turn").nth(1)
    turn.locator(".wx-turn-head").focus()
    page.keyboard.press("s")
    turn.locator("select.wx-pick-speaker").select_option("")
    name = turn.locator("input.wx-new-speaker")
    turn.locator("button.wx-apply").click()
    error = turn.locator(".wx-field-error")
    error.wait_for()
    assert error.inner_text() == "Type the new speaker’s name."
    assert name.get_attribute("aria-invalid") == "true"
    assert name.get_attribute("aria-describedby") == error.get_attribute("id"), "the reason is the field's description"
    assert name.evaluate("field => field === document.activeElement")
    mark = name.evaluate("field => getComputedStyle(field).boxShadow")  # outlined as an invalid option is
    assert "rgb(220, 38, 38)" in mark and "3px" in mark, mark
    page.screenshot(path=str(ARTIFACTS / "ui-editor-name-missing.png"))
    found = serious_violations(page)
    (ARTIFACTS / "axe-editor-name-missing.json").write_text(json.dumps(found, indent=2) + "\n")
    assert found == []
    page.wait_for_timeout(1000)
    assert page.locator("[data-testid='toast-body']").count() == 0, "nothing was sent"
    assert "Saving" not in page.locator("#wx-view .wx-status").inner_text()
    name.fill("Guest")
    assert name.get_attribute("aria-invalid") is None and not error.is_visible()
    page.keyboard.press("Escape")

    # a transcript opened without its recording: re-timing an edit is refused by the server
    page.evaluate("document.querySelectorAll('#wx-upload button[aria-label=Clear]').forEach(b => b.click())")
    page.wait_for_function("!document.querySelector('#wx-upload td.filename')")
    page.evaluate("document.querySelectorAll('#wx-cards .wx-card').forEach(card => card.dataset.old = '1')")
    open_saved(page, saved[0])
    page.wait_for_function("document.querySelector('#wx-cards .wx-card:not([data-old])[data-status=done]')",
                           timeout=120_000)
    first = page.locator("#wx-view .wx-turn").first
    first.locator(".wx-turn-head").focus()
    page.keyboard.press("e")
    first.locator("textarea.wx-edit-box").press("Control+Enter")
    status = page.locator("#wx-view .wx-status")
    page.locator("[data-testid='toast-body']", has_text="no recording").first.wait_for()
    page.wait_for_function("!document.querySelector('#wx-view .wx-status').innerText.includes('Re-timing')",
                           timeout=5_000)
    assert status.inner_text() == "Not changed: see the message."


# Boxes (left, top, right, bottom) in the window, for the phone test.
BOX_JS = "el => { const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }"


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_editing_on_a_phone_keeps_times_fields_and_hints_in_reach(browser, ui_server, saved):
    """390x844 by touch: a tapped turn's Edit/Speaker buttons sit clear of its speaker and times, the text box
    opens in view below the sticky player, the speaker form (a new speaker's Name included) fits the width, and
    the hints speak of tapping, not of hovering or keys; axe clean while editing."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(ui_server.url)
    page.locator("#wx-transcribe").wait_for()
    open_saved(page, *saved)
    help_text = page.locator("#wx-edit-help").inner_text()
    assert "Tap a turn" in help_text and "Hover" not in help_text and "Ctrl" not in help_text, help_text

    turn = page.locator("#wx-view .wx-turn").nth(2)
    turn.scroll_into_view_if_needed()
    turn.locator(".wx-text").tap()
    tools = turn.locator(".wx-edit-tools")
    tools.wait_for()
    head = turn.locator(".wx-turn-head")
    for part in (head.locator(".wx-speaker"), head.locator(".wx-time")):
        assert not _overlap(tools.evaluate(BOX_JS), part.evaluate(BOX_JS)), "the buttons cover the turn's header"

    # the turn's buttons near the bottom of the screen: the box opening below them comes into view, whole
    tools.evaluate("tools => window.scrollBy(0, tools.getBoundingClientRect().bottom - window.innerHeight + 40)")
    turn.locator(".wx-edit-text").tap()
    form = turn.locator(".wx-editing")
    form.wait_for()
    page.wait_for_timeout(500)  # the scroll settles
    player = page.locator("#wx-view .wx-head").evaluate(BOX_JS)
    box = form.evaluate(BOX_JS)
    assert box[1] >= player[3] - 1 and box[3] <= 844, (box, player)
    assert turn.locator("textarea.wx-edit-box").evaluate("box => box === document.activeElement")
    hint = turn.locator(".wx-hint").inner_text()
    assert "Ctrl" not in hint and "Escape" not in hint, hint
    found = {"text box": serious_violations(page)}
    turn.locator(".wx-cancel").tap()

    turn.locator(".wx-text").tap()
    turn.locator(".wx-edit-speaker").tap()
    turn.locator("select.wx-pick-speaker").select_option("")
    name = turn.locator("input.wx-new-speaker")
    name.fill("A guest with a long name")
    right = turn.evaluate(BOX_JS)[2]  # a turn paints nothing outside its box (content-visibility)
    outside = [selector for selector in ("input.wx-new-speaker", "select.wx-pick-speaker", "select.wx-pick-range",
                                         "button.wx-apply", "button.wx-cancel")
               if turn.locator(selector).evaluate(BOX_JS)[2] > right + 1]
    assert outside == [], f"cut off at the right: {outside}"
    turn.locator("button.wx-apply").evaluate("button => button.scrollIntoView({block: 'center'})")
    found["speaker form"] = serious_violations(page)
    page.screenshot(path=str(ARTIFACTS / "ui-editor-phone-speaker.png"))
    (ARTIFACTS / "axe-editor-phone.json").write_text(json.dumps(found, indent=2) + "\n")
    context.close()
    assert found == {"text box": [], "speaker form": []}


@pytest.mark.parametrize(("theme", "viewport"), [("light", (1400, 1000)), ("dark", (390, 844))],
                         ids=["light-desktop", "dark-phone"])
def test_axe_finds_no_serious_problems_while_editing(browser, ui_server, saved, theme, viewport):
    """The editing states (text box open, speaker menu open, a tool hovered) pass axe, light and dark, desktop and
    phone. Also: the correction and speaker tools stay hidden until there is a transcript (with speakers)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme=theme,
                                  is_mobile=viewport[0] < 500, has_touch=viewport[0] < 500)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{ui_server.url}?__theme={theme}")
    page.locator("#wx-transcribe").wait_for()
    assert not page.locator("#wx-speaker-row").is_visible() and not page.locator("#wx-undo").is_visible()
    open_saved(page, *saved)
    if viewport[0] < 500:  # on a phone the cards are far below Transcribe: pressing it brings them into view
        page.wait_for_function("(() => { const box = document.querySelector('#wx-cards').getBoundingClientRect();"
                               " return box.top < window.innerHeight && box.bottom > 0; })()", timeout=10_000)
    assert page.locator("#wx-speaker-row").is_visible() and page.locator("#wx-undo").is_visible()
    first = page.locator("#wx-view .wx-turn").first
    first.locator(".wx-turn-head").focus()
    page.keyboard.press("e")
    first.locator("textarea.wx-edit-box").wait_for()
    found = {"text box": serious_violations(page)}
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    first.locator("select.wx-pick-speaker").wait_for()
    found["speaker menu"] = serious_violations(page)
    page.keyboard.press("Escape")
    first.locator(".wx-edit-speaker").hover()
    found["tool hovered"] = serious_violations(page)
    page.screenshot(path=str(ARTIFACTS / f"ui-editor-{theme}-{viewport[0]}.png"), full_page=True)
    (ARTIFACTS / f"axe-editor-{theme}-{viewport[0]}.json").write_text(json.dumps(found, indent=2) + "\n")
    context.close()
    assert found == {"text box": [], "speaker menu": [], "tool hovered": []}


def test_an_invalid_option_marks_its_field_and_brings_it_into_view(page):
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    box = page.locator("#wx-opt-beam_size input, #wx-opt-beam_size textarea").first
    box.fill("999")
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#wx-transcribe").click()
    page.locator("#wx-opt-beam_size.wx-invalid").wait_for()
    assert box.get_attribute("aria-invalid") == "true"
    assert page.evaluate("(() => { const box = document.querySelector('#wx-opt-beam_size').getBoundingClientRect();"
                         " return box.top >= 0 && box.bottom <= window.innerHeight; })()"), "the field is in view"
    toast = page.locator("[data-testid='toast-body']").first
    toast.wait_for()
    text = toast.inner_text()
    assert text.startswith("Error") and "“Beam size”=999 is out of range" in text and "Warning" not in text
    page.screenshot(path=str(ARTIFACTS / "ui-invalid-option.png"))
    violations = serious_violations(page)  # with the toast open and a field marked invalid
    (ARTIFACTS / "axe-toast.json").write_text(json.dumps(violations, indent=2) + "\n")
    assert violations == []
    box.fill("5")
    page.locator("#wx-transcribe").click()
    page.wait_for_function("!document.querySelector('.wx-invalid')")
