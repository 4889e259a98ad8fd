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
    index = 1
    truth = speech.DIALOGUE[index][1]
    result = client.predict(transcribed, handle_file(str(timed_dialogue.path)), index, truth, api_name="/realign")
    segment = result["segments"][index]
    assert segment["text"] == truth and segment["edited"] is True
    assert segment["speaker"] == transcribed["segments"][index]["speaker"]
    assert {word["speaker"] for word in segment["words"]} == {segment["speaker"]}
    assert [s["text"] for s in result["segments"][:index]] == [s["text"] for s in transcribed["segments"][:index]]
    assert "edited" not in result["segments"][0]
    reference = tuple(w for w in timed_dialogue.words if segment["start"] - 0.5 <= w[1] <= segment["end"] + 0.5)
    coverage, errors = speech.word_timing_errors(reference, [(w["word"], w["start"]) for w in segment["words"]])
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
