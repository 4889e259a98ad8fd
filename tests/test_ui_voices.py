"""The voice library in the page, in headless Chromium against a real server with its own DATA_DIR: name a speaker,
remember the voice, see it recognised in another recording (and nobody in a recording without it), export,
forget, and nobody is named again; voices of an earlier speaker model are marked, in words, until remembered
again."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from core.speakers.voices import READY, REENROL, VoiceLibrary, Voiceprint, reenrol_note
from tests.browser import (
    ARTIFACTS,
    cards,
    clear_files,
    download,
    open_page,
    serious_violations,
    transcribe,
    upload,
)
from tests.ui_server import start_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ADA = "Ada Lovelace"
OLD_MODEL = "GE2EEmbedding/256/sha256:0000000000000000"  # an earlier speaker model, as model_identity() names one


@pytest.fixture(scope="module")
def voices_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ui-voices-data")


@pytest.fixture(scope="module")
def voices_server(models_dir, voices_data):
    # a second server beside the shared one: on a busy 2-core box its start (imports, preload) can take minutes
    server = start_server(models_dir, timeout_s=900, DATA_DIR=str(voices_data))
    yield server
    server.stop()


@pytest.fixture
def page(browser, voices_server):
    yield from open_page(browser, voices_server.url)


def speakers_shown(page) -> list[str]:
    return page.locator("#wx-view .wx-turn .wx-speaker").all_inner_texts()


def run(page, path: Path) -> list[str]:
    clear_files(page)
    upload(page, path)
    transcribe(page)
    assert cards(page) == [(path.name, "Done")]
    return speakers_shown(page)


def test_remember_a_voice_then_recognise_it_and_forget_it(page, voice_recordings):
    page.get_by_label("Speaker diarization").check()
    assert page.get_by_label("Recognize voices").is_checked(), "on by default"
    upload(page, voice_recordings["enrol"].path)
    transcribe(page)
    assert set(speakers_shown(page)) == {"SPEAKER_00"}

    page.locator("#wx-remember").click()  # still unnamed: refused, nothing stored
    page.get_by_text("Give SPEAKER_00 a name first").first.wait_for()
    page.get_by_label("New name", exact=True).fill(ADA)
    page.locator("#wx-rename").click()
    page.locator("#wx-view .wx-speaker", has_text=ADA).first.wait_for()
    page.locator("#wx-remember").click()
    page.get_by_text(f"{ADA}'s voice is remembered").first.wait_for()
    page.get_by_text("Voice library", exact=True).click()
    table = page.locator("#wx-voices-table")
    page.wait_for_function(f"document.querySelector('#wx-voices-table').innerText.includes('{ADA}')")
    assert "page: enrol-male.wav (SPEAKER_00)" in table.inner_text()

    shown = run(page, voice_recordings["meeting"].path)
    assert ADA in shown and len(set(shown)) == 3, shown
    first_turn = page.locator("#wx-view .wx-turn").first
    assert first_turn.locator(".wx-speaker").inner_text() == ADA and "spring campaign" in first_turn.inner_text()
    assert {name for name in shown if name != ADA} <= {"SPEAKER_01", "SPEAKER_02"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-voices.png"), full_page=True)

    shown = run(page, voice_recordings["without"].path)
    assert ADA not in shown and all(name.startswith("SPEAKER_") for name in shown)

    page.locator("#wx-voices-export").click()
    exported = json.loads(download(page, "#wx-voices-file a[download]")[1].read_text(encoding="utf-8"))
    assert [voice["name"] for voice in exported["voices"]] == [ADA]
    transcript = page.locator("#wx-downloads a[download$='.json']").first.get_attribute("href")
    assert page.request.get(urllib.parse.urljoin(page.url, transcript)).ok, "the export leaves the transcript's files"

    page.locator("#wx-voice-forget").click()  # asks first; Keep keeps the voice
    question = page.locator("#wx-voice-question")
    question.get_by_text(f"Forget {ADA} for good?").wait_for()
    page.locator("#wx-voice-forget-no").click()
    question.wait_for(state="hidden")
    assert ADA in page.locator("#wx-voices-table").inner_text()
    page.locator("#wx-voice-forget").click()
    page.locator("#wx-voice-forget-yes").click()
    page.get_by_text(f"{ADA} is forgotten").first.wait_for()
    question.wait_for(state="hidden")  # the toast and the panel's hiding come in one update, not in a fixed order
    page.wait_for_function(f"!document.querySelector('#wx-voices-table').innerText.includes('{ADA}')")
    shown = run(page, voice_recordings["meeting"].path)
    assert ADA not in shown and all(name.startswith("SPEAKER_") for name in shown)


@pytest.fixture
def earlier_voices(voices_data):
    """The library as an upgrade leaves it, written before the page opens: two voices whose voiceprints were made
    by another speaker model (rows under another model's identity)."""
    library = VoiceLibrary(voices_data)
    for name in (ADA, "Grace Hopper"):
        library.add(name, [Voiceprint(np.ones(256, dtype=np.float32) / 16, 9.0, "cli: earlier.wav")], OLD_MODEL)
    yield
    for voice in library.voices():
        library.remove(voice.name)


def table_row(page, name: str) -> str:
    """The text of the voice library table's row for `name` (Gradio's visible rows; a hidden table sizes them)."""
    return page.locator("#wx-voices-table tr", has_text=name).first.inner_text()


def test_voices_of_an_earlier_model_are_marked_until_remembered_again(earlier_voices, page, voice_recordings):
    from playwright.sync_api import expect

    page.get_by_text("Voice library (2 to re-enrol)", exact=True).click()  # the panel's title counts them
    page.wait_for_function(f"document.querySelector('#wx-voices-table').innerText.includes('{REENROL}')")
    assert REENROL in table_row(page, ADA) and REENROL in table_row(page, "Grace Hopper")
    # listed when the page loaded, while the panel was closed: no progress timer left over the table or the
    # Voice dropdown, which can be used at once
    assert page.locator("#wx-voices .wrap.default:not(.hide), #wx-voices .wrap.full:not(.hide)").count() == 0
    page.locator("#wx-voice input").click()
    page.get_by_role("option", name="Grace Hopper", exact=True).click()
    page.wait_for_function("document.querySelector('#wx-voice input').value === 'Grace Hopper'")
    found = {"library open": serious_violations(page)}
    page.locator("#wx-voice-forget").click()
    page.locator("#wx-voice-question").get_by_text("Forget Grace Hopper for good?").wait_for()
    found["forget asked"] = serious_violations(page)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe-voices.json").write_text(json.dumps(found, indent=2) + "\n")
    assert found == {"library open": [], "forget asked": []}
    page.locator("#wx-voice-forget-no").click()
    note = page.locator("#wx-voices-reenrol").inner_text()
    assert f"{ADA}, Grace Hopper were enrolled with another speaker model and are not recognised until enrolled " \
           "again; enrol them again: Remember this voice on the page" in note

    page.get_by_label("Speaker diarization").check()
    upload(page, voice_recordings["enrol"].path)
    transcribe(page)
    assert set(speakers_shown(page)) == {"SPEAKER_00"}, "an earlier model's voiceprint is never compared"
    assert reenrol_note([ADA, "Grace Hopper"]) in page.locator(".wx-warnings").inner_text()

    page.get_by_label("New name", exact=True).fill(ADA)  # enrol Ada again, from this transcript
    page.locator("#wx-rename").click()
    page.locator("#wx-view .wx-speaker", has_text=ADA).first.wait_for()
    page.locator("#wx-remember").click()
    page.get_by_text(f"{ADA}'s voice is remembered").first.wait_for()
    page.get_by_text("Voice library (1 to re-enrol)", exact=True).wait_for()
    page.wait_for_function("document.querySelector('#wx-voices-reenrol').innerText.startsWith('Grace Hopper was')")
    expect(page.locator("#wx-voices-table tr", has_text=ADA).first).not_to_contain_text(REENROL)
    ada = table_row(page, ADA)
    assert READY in ada.split() and REENROL not in ada, ada
    assert REENROL in table_row(page, "Grace Hopper")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-voices-reenrol.png"), full_page=True)
