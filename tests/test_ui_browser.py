"""The page in headless Chromium against the real server: transcribe, read, rename, copy, seek by keyboard,
download; a batch of files and a link with one zip; Stop; errors. Screenshots go to test-artifacts/."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import soundfile

from tests.browser import (
    ARTIFACTS,
    JOB_TIMEOUT_MS,
    cards,
    choose,
    clear_files,
    download,
    pick_speaker,
    start,
    tiled,
    transcribe,
    upload,
    wait_until_finished,
)
from tests.servers import folder_server
from tests.subtitles import parse_srt
from ui.progress import STAGE_LABELS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Every text the results panel shows while a job runs (progress included), recorded in the page itself so no
# short-lived state is missed between two polls.
RECORD_VIEW_JS = """() => {
  window.wxSeen = [];
  const view = document.querySelector('#wx-view');
  new MutationObserver(() => window.wxSeen.push(view.innerText))
    .observe(view, {subtree: true, childList: true, characterData: true});
}"""
AUDIO_TIME = "document.querySelector('#wx-view audio').currentTime"


def test_transcribe_rename_copy_seek_and_download(page, dialogue):
    upload(page, dialogue.path)
    boxes = [page.get_by_label(label, exact=True) for label in ("Number of speakers", "Min speakers", "Max speakers")]
    assert all(box.is_disabled() for box in boxes), "speaker counts are off while diarization is off"
    page.get_by_label("Speaker diarization").check()
    page.wait_for_function("!document.querySelector('#wx-opt-num_speakers textarea, #wx-opt-num_speakers input')"
                           ".disabled")
    page.get_by_label("srt", exact=True).check()
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    chunk = page.get_by_label("number input for Longest piece (s)")
    chunk.fill("5")  # one segment per line of the dialogue, so the turns alternate
    chunk.press("Enter")
    page.evaluate(RECORD_VIEW_JS)
    transcribe(page)
    assert cards(page) == [("dialogue.wav", "Done")]

    view = page.locator("#wx-view")
    turns = view.locator(".wx-turn")
    names = view.locator(".wx-turn .wx-speaker").all_inner_texts()
    assert turns.count() >= 4 and set(names) == {"SPEAKER_00", "SPEAKER_01"}, names
    assert all(a != b for a, b in itertools.pairwise(names)), "one block per speaker turn"
    assert re.fullmatch(r"0:00\.\d – 0:0\d\.\d", turns.first.locator(".wx-time").inner_text())
    assert "table for two people" in turns.first.inner_text()
    assert view.locator(".wx-lane-name").all_inner_texts() == ["SPEAKER_00", "SPEAKER_01"]
    assert "Whisper" in view.locator(".wx-warnings").inner_text(), "result warnings are shown"
    seen = " ".join(page.evaluate("window.wxSeen"))
    assert any(label in seen for label in STAGE_LABELS.values()), "the progress bar names the stage"

    second = turns.nth(1)
    second.click()
    start = float(second.get_attribute("data-start"))
    assert page.evaluate(AUDIO_TIME) == pytest.approx(start, abs=0.05)

    # keyboard: turn headers are tab stops, Enter and Space seek, the arrow keys reach the words and the bars
    heads = view.locator(".wx-turn-head")
    assert page.evaluate("[...document.querySelectorAll('#wx-view .wx-turn-head')].every(b => b.tabIndex === 0)")
    heads.nth(2).focus()
    page.keyboard.press("Enter")
    assert page.evaluate(AUDIO_TIME) == pytest.approx(float(heads.nth(2).get_attribute("data-start")), abs=0.05)
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("[document.activeElement.className, document.activeElement.dataset.start]")
    assert focused[0] == "wx-word" and focused[1]
    page.keyboard.press(" ")
    assert page.evaluate(AUDIO_TIME) == pytest.approx(float(focused[1]), abs=0.05)
    bar = view.locator(".wx-bar").nth(1)
    bar.focus()
    page.keyboard.press("Enter")
    assert page.evaluate(AUDIO_TIME) == pytest.approx(float(bar.get_attribute("data-start")), abs=0.05)

    # copy: plain text, one line per turn with times and speakers
    view.get_by_role("button", name="Copy transcript").click()
    view.get_by_text("Transcript copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()").splitlines()
    assert len(copied) == turns.count()
    assert re.fullmatch(r"\[0:00\.\d – 0:0\d\.\d\] SPEAKER_00: .*table for two people.*", copied[0])

    pick_speaker(page, "SPEAKER_01")
    page.get_by_label("New name").fill("Alice")
    page.locator("#wx-rename").click()
    view.locator(".wx-speaker", has_text="Alice").first.wait_for()
    # the whole answer is in (it also resets the speaker picked and clears the name box) before the next pick
    page.wait_for_function("document.querySelector('#wx-speaker-name textarea, #wx-speaker-name input').value === ''")
    renamed = view.locator(".wx-turn .wx-speaker").all_inner_texts()
    assert renamed == ["Alice" if name == "SPEAKER_01" else name for name in names]
    assert view.locator(".wx-lane-name").all_inner_texts() == ["SPEAKER_00", "Alice"]

    # a second speaker taking the same name is offered a merge instead (nothing changes until it is pressed)
    pick_speaker(page, "SPEAKER_00")
    page.get_by_label("New name").fill("alice")
    page.locator("#wx-rename").click()
    page.locator("#wx-merge", has_text="Merge “SPEAKER_00” into “Alice”").wait_for()
    assert view.locator(".wx-turn .wx-speaker").all_inner_texts() == renamed

    page.get_by_text("Result JSON").click()
    page.locator("#wx-json").get_by_text("Alice").first.wait_for()

    assert page.locator("#wx-downloads a[download$='.json']").count() == 1
    srt = download(page, "#wx-downloads a[download$='.srt']")[1].read_text(encoding="utf-8")
    cues = parse_srt(srt)
    assert any(body.startswith("[Alice]: ") for *_, body in cues) and "SPEAKER_01" not in srt
    segments = json.loads(download(page, "#wx-downloads a[download$='.json']")[1].read_text("utf-8"))["segments"]
    assert len(cues) == len(segments) >= turns.count(), "a cue per segment (sentence), turns hold one or more"
    with zipfile.ZipFile(download(page, "#wx-zip")[1]) as archive:
        assert sorted(archive.namelist()) == ["dialogue/dialogue.json", "dialogue/dialogue.srt"]
        assert "[Alice]: " in archive.read("dialogue/dialogue.srt").decode()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)


def test_a_bad_file_clears_the_last_transcript_and_the_next_one_works(page, dialogue, tmp_path):
    upload(page, dialogue.path)
    transcribe(page)
    assert page.locator("#wx-view .wx-turn").count() > 0

    text_file = tmp_path / "minutes.txt"
    text_file.write_text("meeting minutes, not a recording\n" * 20)
    page.locator("#wx-upload input[type=file]").set_input_files(str(text_file))
    page.get_by_text("Invalid file type").first.wait_for()

    fake_wav, notes = tmp_path / "fake.wav", tmp_path / "bad_notes.wav"
    fake_wav.write_text("a text file that calls itself audio\n" * 20)
    notes.write_text("notes, not a recording\n" * 20)
    clear_files(page)
    upload(page, fake_wav, notes)
    transcribe(page, count=2)
    assert cards(page) == [("fake.wav", "Failed"), ("bad_notes.wav", "Failed")]
    assert "fake.wav: it is a text file, not a media file" in page.locator("#wx-cards").inner_text()
    toasts = page.locator("[data-testid='toast-text']", has_text=".wav:")  # one per failed file, naming it once
    toasts.nth(1).wait_for()
    assert sorted(toasts.all_inner_texts()) == [f"{name}: it is a text file, not a media file (audio or video)"
                                                for name in ("bad_notes.wav", "fake.wav")]
    assert page.get_by_text("Traceback").count() == 0
    assert page.locator("#wx-view .wx-turn").count() == 0, "the previous transcript is gone"
    assert page.locator("#wx-downloads a").count() == 0 and not page.locator("#wx-zip").is_visible()

    clear_files(page)
    odd_name = tmp_path / "call #2 (ü).wav"  # `#` would end the player's URL if it were not encoded
    shutil.copy(dialogue.path, odd_name)
    upload(page, odd_name)
    transcribe(page)
    assert "table for two people" in page.locator("#wx-view .wx-transcript").inner_text()
    page.wait_for_function("document.querySelector('#wx-view audio').readyState >= 1")
    duration = page.evaluate("document.querySelector('#wx-view audio').duration")
    assert duration == pytest.approx(soundfile.info(str(dialogue.path)).duration, abs=0.1)


@pytest.fixture
def media_server(dialogue, tmp_path):
    """A real HTTP server on loopback serving the dialogue (the shared UI server allows loopback links only
    because the tests start it with ALLOW_PRIVATE_URLS=1)."""
    shutil.copy(dialogue.path, tmp_path / "interview.wav")
    with folder_server(tmp_path) as url:
        yield url


def test_two_files_and_a_link_in_one_batch_with_one_zip(page, dialogue, monologue, media_server, tmp_path):
    shutil.copy(monologue.path, tmp_path / "monologue.wav")
    upload(page, dialogue.path, tmp_path / "monologue.wav")
    page.get_by_label("Links").fill(f"{media_server}/interview.wav\n")
    page.get_by_label("srt", exact=True).check()
    transcribe(page, count=3)
    assert cards(page) == [("dialogue.wav", "Done"), ("monologue.wav", "Done"), ("interview.wav", "Done")]

    pick = page.locator("#wx-pick")
    assert pick.get_by_label("interview.wav").count() == 1
    choose(pick.get_by_label("interview.wav"))
    page.locator("#wx-downloads a[download='interview.srt']").wait_for()
    assert "table for two people" in page.locator("#wx-view .wx-transcript").inner_text()
    page.wait_for_function("document.querySelector('#wx-view audio').readyState >= 1")
    assert page.evaluate("document.querySelector('#wx-view audio').duration") == pytest.approx(
        soundfile.info(str(dialogue.path)).duration, abs=0.1), "the fetched link plays"
    choose(pick.get_by_label("monologue.wav"))
    page.locator("#wx-view").get_by_text("quick brown fox").first.wait_for()

    assert page.locator("#wx-downloads a[download]").count() == 2
    assert not page.locator("#wx-downloads").get_by_role("button", name="Remove this file").first.is_visible()
    with zipfile.ZipFile(download(page, "#wx-zip")[1]) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{stem}/{stem}.{fmt}" for stem in ("dialogue", "interview", "monologue")
                         for fmt in ("json", "srt")]
        assert "quick brown fox" in archive.read("monologue/monologue.srt").decode().lower()
    page.screenshot(path=str(ARTIFACTS / "ui-batch.png"), full_page=True)


def test_a_refused_link_is_a_card_naming_the_links_box(page, dialogue):
    upload(page, dialogue.path)
    page.get_by_label("Links").fill("http://169.254.169.254/latest/meta-data/")
    transcribe(page, count=2)
    assert cards(page) == [("dialogue.wav", "Done"), ("meta-data", "Failed")]
    assert "Links: refused http://169.254.169.254/latest/meta-data/" in page.locator("#wx-cards").inner_text()
    assert page.locator("#wx-view .wx-turn").count() > 0, "the other file's transcript is shown"


@pytest.fixture(scope="module")
def long_recording(dialogue, tmp_path_factory) -> Path:
    """A minute and more of speech: the dialogue three times."""
    return tiled(dialogue.path, 3, tmp_path_factory.mktemp("long") / "long-meeting.wav")


def test_stop_keeps_the_finished_part_frees_the_queue_and_leaves_no_temp_files(page, ui_server, long_recording,
                                                                               dialogue):
    """Stop once finished segments are on screen: the stopped file keeps them as its transcript, marked partial
    (the summary and the notes say up to where), with its downloads; the file after it is not started."""
    upload(page, long_recording, dialogue.path)
    page.get_by_label("srt", exact=True).check()
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    # small pieces, one at a time: the finished text arrives piece by piece
    for box, value in ((page.get_by_label("number input for Longest piece (s)"), "5"),
                       (page.locator("#wx-opt-batch_size").locator("input, textarea").first, "1")):
        box.fill(value)
        box.press("Enter")
    start(page)
    page.wait_for_function("document.querySelector('#wx-view').innerText.includes('Transcribing')",
                           timeout=JOB_TIMEOUT_MS)  # the first progress event of the transcription
    assert "long-meeting.wav (1 of 2): " in page.locator("#wx-view").inner_text(), "the progress names the file"
    page.locator("#wx-view .wx-live-seg").first.wait_for(timeout=JOB_TIMEOUT_MS)  # finished text on screen
    page.locator("#wx-stop").click()
    wait_until_finished(page, 2)
    assert cards(page) == [("long-meeting.wav", "Stopped"), ("dialogue.wav", "Stopped")], "every card is final"
    assert "the finished part is shown (partial)" in page.locator("#wx-cards").inner_text()
    page.wait_for_function("!document.querySelector('#wx-stop-note').innerText.trim()")  # "Stopping…" is gone
    view = page.locator("#wx-view")
    assert view.locator(".wx-turn").count() > 0
    assert "table for two people" in view.locator(".wx-transcript").inner_text()
    assert "Partial: up to" in view.locator(".wx-summary").inner_text()
    assert "partial: the job was stopped at" in view.locator(".wx-warnings").inner_text()
    saved = json.loads(download(page, "#wx-downloads a[download='long-meeting.json']")[1].read_text("utf-8"))
    assert saved["partial"] is True and saved["segments"][-1]["end"] < saved["duration"] - 20
    assert "table for two people" in download(page, "#wx-downloads a[download='long-meeting.srt']")[1].read_text(
        "utf-8")
    assert not list(ui_server.tmp_dir.glob("wxw-job-*")), "no job directory is left"

    clear_files(page)
    upload(page, dialogue.path)
    transcribe(page)
    assert cards(page) == [("dialogue.wav", "Done")], "the next job runs"
    assert "Stopped" not in page.locator("#wx-cards").inner_text() and "Partial" not in view.inner_text()


def test_transcribe_is_above_the_fold_and_options_speak_plainly(browser, ui_server):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(ui_server.url)
    button = page.locator("#wx-transcribe")
    button.wait_for()
    box = button.bounding_box()
    assert box["y"] + box["height"] <= 900, box
    assert page.locator("#wx-stop").is_visible()
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    text = page.locator("body").inner_text()
    for jargon in ("WHISPER_MODEL", "BATCH_SIZE", "wav2vec2", "VAD", "default:"):
        assert jargon not in text, jargon
    context.close()


def test_the_language_list_follows_the_model(page):
    """The default model is English-only: the page offers English alone (no Auto-detect: it would detect nothing);
    the multilingual `base` offers all."""
    def offered() -> list[str]:
        page.locator("#wx-opt-language input").click()
        options = page.locator("ul[role='listbox'] li").all_inner_texts()
        page.keyboard.press("Escape")
        return [option.split("\n")[-1].strip() for option in options]  # the selected one has a ✓ line

    assert offered() == ["English (en)"]
    page.locator("#wx-opt-model input").click()
    page.locator("ul[role='listbox'] li", has_text="base").first.click()
    page.wait_for_function("() => true")
    page.wait_for_timeout(500)
    languages = offered()
    assert "German (de)" in languages and "Spanish (es)" in languages and len(languages) >= 100


# Each change of the progress overlay while a job runs: the percentage shown, and the boxes of the overlay's text
# and bar and of the view's own content (the "Working…" note, the live transcript), recorded in the page.
RECORD_PROGRESS_JS = """() => {
  window.wxProgress = [];
  const view = document.querySelector('#wx-view');
  const box = el => { const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const record = () => {
    const label = view.querySelector('.wrap:not(.hide) .progress-level-inner');
    const bar = view.querySelector('.wrap:not(.hide) .progress-bar-wrap');
    const match = label && /([0-9.]+)%/.exec(label.innerText);
    if (!match) return;
    const content = [...view.querySelectorAll('.html-container > *')].filter(el => el.innerText.trim());
    window.wxProgress.push({percent: parseFloat(match[1]), text: label.innerText, label: box(label),
                            bar: bar ? box(bar) : null, content: content.map(box)});
  };
  new MutationObserver(record).observe(view, {subtree: true, childList: true, characterData: true});
}"""


# Every 100 ms and at each change while a job runs: a progress strip drawn with nothing in it, and the contrast of
# the view's own text (the "Working…" note, the live transcript) as drawn, its ancestors' opacity included.
RECORD_STRIP_JS = """() => {
  window.wxStrip = {empty: [], contrast: []};
  const view = document.querySelector('#wx-view');
  const rgb = text => text.match(/[0-9.]+/g).map(Number);
  const luminance = colour => colour.slice(0, 3).map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = el => {
    let alpha = 1, background = null;
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      alpha *= parseFloat(style.opacity);
      const fill = rgb(style.backgroundColor);
      if (!background && (fill.length < 4 || fill[3] > 0.5)) background = fill.slice(0, 3);
    }
    background = background || [255, 255, 255];
    const text = rgb(getComputedStyle(el).color).slice(0, 3).map((v, i) => alpha * v + (1 - alpha) * background[i]);
    const [light, dark] = [luminance(text), luminance(background)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
  };
  const sample = () => {
    const strip = view.querySelector(':scope > .wrap');
    if (strip && !strip.classList.contains('hide') && getComputedStyle(strip).display !== 'none'
        && strip.getBoundingClientRect().height > 0 && !strip.innerText.trim()) {
      window.wxStrip.empty.push(strip.className);
    }
    for (const el of view.querySelectorAll('.wx-empty, .wx-live-note, .wx-live-seg')) {
      if (el.innerText.trim()) window.wxStrip.contrast.push([contrast(el), el.innerText.slice(0, 40)]);
    }
  };
  new MutationObserver(sample).observe(view, {subtree: true, childList: true, characterData: true, attributes: true});
  setInterval(sample, 100);
}"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_progress_moves_through_every_stage_and_nothing_is_drawn_over_the_bar(page, dialogue):
    """The bar never goes back and never leaps (whisperx reports ASR once per batch: one report for a short file,
    so the stage is paced between reports), and the view's own text starts below the progress strip. While the
    job runs the strip is never an empty box, the view's text keeps its 4.5:1 contrast (Gradio greyed it to
    about 1.5:1), and a time left is only the running step's, as measured."""
    upload(page, dialogue.path)
    page.get_by_label("Speaker diarization").check()
    page.evaluate(RECORD_PROGRESS_JS)
    page.evaluate(RECORD_STRIP_JS)
    page.locator("#wx-transcribe").click()
    page.wait_for_function("window.wxProgress.length > 3")
    page.locator("#wx-view").screenshot(path=str(ARTIFACTS / "ui-progress-mid-job.png"))
    wait_until_finished(page, 1)
    seen = page.evaluate("window.wxProgress")
    percents = [0.0] + [entry["percent"] for entry in seen]
    steps = [after - before for before, after in itertools.pairwise(percents)]
    assert min(steps) >= 0, percents
    assert max(steps) <= 40, percents
    assert percents[-1] >= 60, percents  # it got through transcription, not only the start
    stages = {entry["text"].split(": ", 1)[-1].split(" ·")[0].split(" - ")[0] for entry in seen}
    assert {STAGE_LABELS["transcribe"], STAGE_LABELS["diarize"]} <= stages, stages
    drawn_over = [(entry["text"], box) for entry in seen for box in entry["content"]
                  if _overlap(box, entry["label"]) or (entry["bar"] and _overlap(box, entry["bar"]))]
    assert not drawn_over, drawn_over[:3]
    assert any(entry["content"] for entry in seen), "the view's own text was shown during the job"
    strip = page.evaluate("window.wxStrip")
    assert strip["empty"] == [], f"an empty progress strip was drawn {len(strip['empty'])} times"
    faint = [sample for sample in strip["contrast"] if sample[0] < 4.5]
    assert len(strip["contrast"]) > 10 and not faint, faint[:3]
    promises = [entry["text"] for entry in seen if " left" in entry["text"]]
    assert all(" left in this step" in text for text in promises), promises[:3]


def test_the_drop_zone_icon_is_clear_of_its_label(browser, ui_server):
    """Gradio centres the drop zone's icon in a box its label chip floats over: at desktop and phone widths the
    icon must not sit under the chip."""
    for width, height in ((1366, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(ui_server.url)
        page.locator("#wx-transcribe").wait_for()
        label = page.locator("#wx-upload > .wrap ~ label, #wx-upload label").first.bounding_box()
        icon = page.locator("#wx-upload .icon-wrap").first.bounding_box()
        page.locator("#wx-upload").screenshot(path=str(ARTIFACTS / f"ui-upload-{width}.png"))
        context.close()
        assert icon["width"] > 0 and icon["height"] > 0
        assert icon["y"] >= label["y"] + label["height"], (width, label, icon)


ADVANCED_FIELDS_JS = """() => [...document.querySelectorAll('#wx-advanced [id^=wx-opt-]')]
  .filter(block => block.offsetParent)
  .map(block => { const box = block.querySelector('input[type=number], textarea, input[type=text]');
    return box && {id: block.id, value: box.value, placeholder: box.getAttribute('placeholder') || ''}; })
  .filter(Boolean)"""


def test_advanced_fields_show_their_defaults(page):
    """Every advanced text or number field holds its default or names it in its placeholder (an empty optional
    field means whisperx's default: the page says which), never just a range."""
    page.get_by_text("Advanced: subtitles, decoding, speech detection").click()
    page.locator("#wx-opt-beam_size").wait_for()
    fields = page.evaluate(ADVANCED_FIELDS_JS)
    assert len(fields) >= 15, fields
    by_id = {field["id"]: field for field in fields}
    unnamed = [field for field in fields if not field["value"].strip()
               and not re.match(r"default: \S|optional$", field["placeholder"])]
    assert not unnamed, unnamed
    assert by_id["wx-opt-beam_size"]["placeholder"] == "default: 5"
    assert by_id["wx-opt-no_speech_threshold"]["placeholder"] == "default: 0.6"
    assert by_id["wx-opt-vad_onset"]["value"] == "0.5"  # a slider holds its default
    assert by_id["wx-opt-batch_size"]["placeholder"] == "default: 4"  # the server's batch size on a CPU
    assert "(1 to 20)" in page.locator("#wx-opt-beam_size").inner_text()  # the range moved to the help line
