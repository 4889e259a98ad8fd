"""`/realign` through `gradio_client` against the real server: a result, its recording, a segment index and new text
→ the result with that segment's words re-timed (Whisper's cross-attention: the open profile has no wav2vec2)."""

from __future__ import annotations

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests import speech

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transcribed(client, timed_dialogue) -> dict:
    return client.predict(handle_file(str(timed_dialogue.path)), diarization=True, api_name="/transcribe")


def test_realign_replaces_the_text_and_retimes_the_words(client, transcribed, timed_dialogue):
    """The segment saying "Certainly we have…" corrected to the script's two sentences: two segments come back
    (cut as a transcription cuts them, so each is a subtitle cue), the segments after them move up one."""
    truth = speech.DIALOGUE[1][1]
    index = next(i for i, s in enumerate(transcribed["segments"]) if s["text"].lower().startswith("certainly"))
    result = client.predict(transcribed, handle_file(str(timed_dialogue.path)), index, truth, api_name="/realign")
    new = result["segments"][index:index + 2]
    assert [s["text"] for s in new] == ["Certainly.", truth.removeprefix("Certainly. ")]
    assert all(s["edited"] is True for s in new)
    assert {s["speaker"] for s in new} == {transcribed["segments"][index]["speaker"]}
    assert {word["speaker"] for s in new for word in s["words"]} == {new[0]["speaker"]}
    assert [s["text"] for s in result["segments"][:index]] == [s["text"] for s in transcribed["segments"][:index]]
    assert [s["text"] for s in result["segments"][index + 2:]] == [s["text"] for s in
                                                                   transcribed["segments"][index + 1:]]
    assert "edited" not in result["segments"][0]
    words = [w for s in new for w in s["words"]]
    said = timed_dialogue.turns[1]  # the line as festival said it
    reference = tuple(w for w in timed_dialogue.words if said[0] - 0.01 <= w[1] < said[1])
    coverage, errors = speech.word_timing_errors(reference, [(w["word"], w["start"]) for w in words])
    assert coverage >= 0.9 and sum(errors) / len(errors) <= 0.15, (coverage, sorted(errors)[-3:])
    assert result["text"] != transcribed["text"] or truth in transcribed["text"]


@pytest.mark.parametrize(("segment", "text", "expected"), [
    (99, "hello", "segment: 99 is not a segment index; accepted: 0 to"),
    (0.5, "hello", "segment: 0.5 is not a segment index"),
    (0, "   ", "text: empty"),
])
def test_bad_requests_are_refused_naming_the_field(client, transcribed, timed_dialogue, segment, text, expected):
    with pytest.raises(AppError, match=expected.replace("(", r"\(")):
        client.predict(transcribed, handle_file(str(timed_dialogue.path)), segment, text, api_name="/realign")


def test_a_result_that_is_not_one_is_refused(client, timed_dialogue):
    with pytest.raises(AppError, match="result: expected the result object of /transcribe"):
        client.predict({"hello": 1}, handle_file(str(timed_dialogue.path)), 0, "hi", api_name="/realign")


def test_view_api_documents_realign(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/realign"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["result", "audio", "segment", "text"]
