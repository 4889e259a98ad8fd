"""The page's corrections as plain functions (`ui.editor`, on a file's item: `ui.items`): undo/redo, merge
offers, labels behind shown names, refusals of a result that is not one; and the cards' counts. No server, no
model."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from tests.test_transcript_edit import _result
from ui import editor, items
from ui.cards import render_cards


def _item() -> dict:
    return {"name": "talk.wav", "status": "done", "message": "", "result": _result().to_dict(), "options": {},
            "names": {"SPEAKER_01": "Alice"}, "audio_url": "gradio_api/file=/tmp/a%23b/talk.wav", "files": []}


def test_undo_and_redo_step_through_changes_and_a_new_change_clears_redo():
    item = _item()
    first = items.changed(item, names={"SPEAKER_01": "Alice", "SPEAKER_00": "Bob"})
    second = items.changed(first, names={})
    undone = items.step(second, backwards=True)
    assert undone["names"] == first["names"] and len(undone["future"]) == 1
    again = items.step(items.step(undone, backwards=True), backwards=False)
    assert again["names"] == first["names"]
    assert items.changed(undone, names={"SPEAKER_00": "Carol"})["future"] == []
    with pytest.raises(InvalidInput, match="Nothing to redo"):
        items.step(second, backwards=False)
    with pytest.raises(InvalidInput, match="Nothing to undo"):
        items.step(item, backwards=True)


def test_history_is_bounded():
    item = _item()
    for k in range(items.HISTORY_LIMIT + 10):
        item = items.changed(item, names={"SPEAKER_00": f"n{k}"})
    assert len(item["history"]) == items.HISTORY_LIMIT


def test_a_taken_name_offers_a_merge_and_shown_names_map_back_to_labels():
    item = _item()
    assert items.merge_offer(item, "SPEAKER_00", " alice ") == ("SPEAKER_00", "SPEAKER_01")
    assert items.merge_offer(item, "SPEAKER_00", "Zed") is None
    assert items.label_of(item, "Alice") == "SPEAKER_01" and items.label_of(item, "Guest") == "Guest"
    assert items.audio_path(item) == "/tmp/a#b/talk.wav"


def test_merge_and_speaker_commands_apply_without_a_model():
    item = _item()
    merged = editor.apply(None, item, {"op": "merge", "source": "Alice", "target": "SPEAKER_00"})
    assert "SPEAKER_01" not in merged["result"]["speakers"] and merged["names"] == {}
    split = editor.apply(None, item, {"op": "speaker", "first": 0, "last": 0, "word": 3, "speaker": "Alice"})
    assert [s["speaker"] for s in split["result"]["segments"]][:2] == ["SPEAKER_00", "SPEAKER_01"]
    with pytest.raises(InvalidInput) as refused:
        editor.apply(None, item, {"op": "delete"})
    assert refused.value.field == "op" and "accepted: text, speaker" in refused.value.message
    with pytest.raises(InvalidInput, match="already a speaker called “alice”"):
        editor.apply(None, item, {"op": "add", "name": "alice"})


@pytest.mark.parametrize(("value", "message"), [
    ("{not json", "result: not JSON"), ({"segments": "x"}, "result: expected the result object"),
    ([1, 2], "result: expected the result object"), ({"segments": [{"text": "no times"}]}, "result: not a result"),
])
def test_something_that_is_not_a_result_is_refused(value, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        editor.parse_result(value)
    assert refused.value.field == "result"


def test_cards_count_one_speaker_and_one_word_in_the_singular():
    result = _result().to_dict()
    result["speakers"] = ["SPEAKER_00"]
    result["segments"] = [{**result["segments"][0], "text": "Hello"}]
    html = render_cards([{"name": "a.wav", "status": "done", "message": "", "result": result}])
    assert "1 speaker ·" in html and "1 word" in html and "1 speakers" not in html


def test_a_refused_correction_leaves_the_panel_as_it_is():
    """`Editor` answers a refusal with the handlers' unchanged panel (a toast says why; nothing is redrawn)."""
    import gradio as gr

    from ui.editor import Editor
    from ui.handlers import PANEL_SIZE, Handlers

    answer = Editor(Handlers(service=None, downloads=None)).edit(None, {"op": "undo"}, "session")
    assert answer == tuple(gr.skip() for _ in range(PANEL_SIZE))


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_new_speaker_without_a_name_is_refused_naming_the_name_field(name):
    """The page's field for a new speaker is labelled *Name*: the refusal says so (not "speaker: empty")."""
    with pytest.raises(InvalidInput) as refused:
        editor.apply(None, _item(), {"op": "speaker", "first": 0, "last": 0, "word": 0, "speaker": name})
    assert refused.value.field == "name" and refused.value.message.startswith("Name: ")
