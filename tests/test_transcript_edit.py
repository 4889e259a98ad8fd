"""Corrections to a result (`core.transcript.edit`), as pure functions: no model, no Gradio."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.transcript import edit
from core.transcript.formats import Layout, render
from core.transcript.result import Result, Segment, SpeakerTurn, Word


def _words(text: str, start: float, speaker: str) -> tuple[Word, ...]:
    return tuple(Word(word=w, start=round(start + i * 0.5, 3), end=round(start + i * 0.5 + 0.4, 3), score=0.9,
                      speaker=speaker) for i, w in enumerate(text.split()))


def _result() -> Result:
    first = _words("Good morning I would like a table", 0.0, "SPEAKER_00")
    second = _words("Certainly we have one by the window", 4.0, "SPEAKER_01")
    third = _words("Thank you very much", 8.0, "SPEAKER_02")
    segments = tuple(Segment(start=w[0].start, end=w[-1].end, text=" ".join(x.word for x in w), speaker=w[0].speaker,
                             words=w, avg_logprob=-0.2, tokens=(1, 2, 3)) for w in (first, second, third))
    turns = tuple(SpeakerTurn(start=start, end=end, speaker=speaker) for start, end, speaker in (
        (0.0, 3.4, "SPEAKER_00"), (4.0, 7.4, "SPEAKER_01"), (8.0, 9.9, "SPEAKER_02")))
    return Result(segments=segments, language="en", speakers=("SPEAKER_00", "SPEAKER_01", "SPEAKER_02"),
                  diarization=turns, word_timing="whisper", duration=10.0)


def test_set_text_replaces_words_marks_the_segment_and_survives_json():
    result = _result()
    new_words = _words("Good morning I would like a quiet table", 0.1, "ignored")
    edited = edit.set_text(result, 0, "Good morning, I would like a quiet table.", new_words)
    segment = edited.segments[0]
    assert segment.text == "Good morning, I would like a quiet table." and segment.edited
    assert [w.word for w in segment.words][-2:] == ["quiet", "table"]
    assert {w.speaker for w in segment.words} == {"SPEAKER_00"}  # the speaker is kept
    assert (segment.start, segment.end) == (0.1, new_words[-1].end)
    assert segment.tokens is None and segment.avg_logprob is None  # the decoder's figures were for the old text
    assert edit.edited_segments(edited) == [0] and result.segments[0].edited is False  # the input is untouched
    data = edited.to_dict()
    assert data["segments"][0]["edited"] is True and "edited" not in data["segments"][1]
    assert Result.from_dict(data) == edited
    assert "quiet table" in render(edited, "srt", Layout()) and "quiet table" in render(edited, "txt", Layout())


def test_set_text_can_join_segments_into_one():
    result = _result()
    edited = edit.set_text(result, 0, "one two", _words("one two", 1.0, "x"), through=1)
    assert len(edited.segments) == 2 and edited.segments[0].text == "one two"
    assert edited.segments[1] == result.segments[2]


@pytest.mark.parametrize(("kwargs", "field"), [({"index": 3}, "segment"), ({"index": -1}, "segment"),
                                                ({"index": 1, "through": 0}, "through"),
                                                ({"index": 0, "text": "  "}, "text")])
def test_set_text_refuses_bad_input_naming_the_field(kwargs, field):
    args = {"text": "new words", **kwargs}
    with pytest.raises(InvalidInput) as refused:
        edit.set_text(_result(), args.pop("index"), args.pop("text"), **args)
    assert refused.value.field == field
    assert field in refused.value.message


def test_changing_a_segments_speaker_moves_its_turn_in_every_download():
    edited = edit.set_speaker(_result(), 1, "SPEAKER_00")
    assert edited.segments[1].speaker == "SPEAKER_00" and edited.segments[1].edited
    assert {w.speaker for w in edited.segments[1].words} == {"SPEAKER_00"}
    assert [(t.start, t.end, t.speaker) for t in edited.diarization] == [
        (0.0, 3.4, "SPEAKER_00"), (4.0, 7.4, "SPEAKER_00"), (8.0, 9.9, "SPEAKER_02")]
    rttm = render(edited, "rttm", Layout(uri="talk"))
    assert "SPEAKER_01" not in rttm and rttm.count("SPEAKER_00") == 2
    assert "[SPEAKER_00]: Certainly" in render(edited, "srt", Layout())


def test_split_gives_the_rest_of_a_segment_to_another_speaker():
    edited = edit.split(_result(), 0, 3, "Guest")  # "would like a table" goes to a new speaker
    first, second = edited.segments[0], edited.segments[1]
    assert (first.text, first.speaker, first.edited) == ("Good morning I", "SPEAKER_00", False)
    assert (second.text, second.speaker, second.edited) == ("would like a table", "Guest", True)
    assert second.words[0].start == 1.5 and second.start == 1.5 and first.end == 1.4
    assert edited.speakers[-1] == "Guest"
    assert [(t.start, t.end) for t in edited.diarization if t.speaker == "Guest"] == [(1.5, 3.4)]
    # the first part's turn ends with its last word ("I", 1.0-1.4), not where the second part starts
    assert [(t.start, t.end) for t in edited.diarization if t.speaker == "SPEAKER_00"] == [(0.0, 1.4)]
    assert "Guest" in render(edited, "rttm", Layout(uri="talk")) and "[Guest]: would like a table" in render(
        edited, "vtt", Layout())


def test_a_word_range_in_the_middle_makes_three_segments():
    edited = edit.set_speaker(_result(), 1, "SPEAKER_02", first_word=2, last_word=3)
    assert [s.speaker for s in edited.segments[1:4]] == ["SPEAKER_01", "SPEAKER_02", "SPEAKER_01"]
    assert [s.text for s in edited.segments[1:4]] == ["Certainly we", "have one", "by the window"]
    assert [s.edited for s in edited.segments[1:4]] == [False, True, False]


@pytest.mark.parametrize(("word", "field"), [(0, "word"), (7, "word"), (99, "word")])
def test_split_refuses_a_word_that_cannot_start_the_second_part(word, field):
    with pytest.raises(InvalidInput) as refused:
        edit.split(_result(), 0, word, "Guest")
    assert refused.value.field == field and "accepted: 1 to 6" in refused.value.message


def test_merging_two_speakers_relabels_everything_and_joins_their_turns():
    edited = edit.merge_speakers(edit.set_speaker(_result(), 1, "SPEAKER_02"), "SPEAKER_02", "SPEAKER_00")
    assert edited.speakers == ("SPEAKER_00",)  # SPEAKER_01's only turn went to SPEAKER_02, then to SPEAKER_00
    assert [s.speaker for s in edited.segments] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_00"]
    assert {w.speaker for s in edited.segments for w in s.words} == {"SPEAKER_00"}
    assert [(t.start, t.end, t.speaker) for t in edited.diarization] == [
        (0.0, 3.4, "SPEAKER_00"), (4.0, 7.4, "SPEAKER_00"), (8.0, 9.9, "SPEAKER_00")]
    for field, args in (("source", ("Nobody", "SPEAKER_00")), ("target", ("SPEAKER_00", "SPEAKER_00"))):
        with pytest.raises(InvalidInput) as refused:
            edit.merge_speakers(_result(), *args)
        assert refused.value.field == field


def test_adding_a_speaker_then_giving_it_a_turn():
    added = edit.add_speaker(_result(), "  Ada  Lovelace ")
    assert added.speakers[-1] == "Ada Lovelace"
    with pytest.raises(InvalidInput) as refused:
        edit.add_speaker(added, "ada lovelace")
    assert refused.value.field == "name"
    given = edit.set_speaker(added, 2, "Ada Lovelace")
    assert given.segments[2].speaker == "Ada Lovelace"
    assert Result.from_dict(given.to_dict()) == given


def test_the_rest_of_a_turn_from_a_word_goes_to_another_speaker():
    turn = edit.set_speaker(_result(), 1, "SPEAKER_00")  # segments 0 and 1 are now one turn of SPEAKER_00
    edited = edit.set_speaker_from(turn, 0, 5, 1, "SPEAKER_01")  # from "a" of "...like a table" on
    assert [(s.text, s.speaker) for s in edited.segments] == [
        ("Good morning I would like", "SPEAKER_00"), ("a table", "SPEAKER_01"),
        ("Certainly we have one by the window", "SPEAKER_01"), ("Thank you very much", "SPEAKER_02")]
    whole = edit.set_speaker_from(turn, 1, 0, 1, "SPEAKER_02")
    assert [s.speaker for s in whole.segments] == ["SPEAKER_00", "SPEAKER_02", "SPEAKER_02"]


def _spoken_turns() -> Result:
    """Bob's one turn between two of Alice's, as diarization gives it: the turns run a little past the words."""
    alice = _words("Hello there Bob", 0.0, "Alice")
    bob = _words("Hi Alice how are you", 2.0, "Bob")
    again = _words("Fine thanks", 5.0, "Alice")
    segments = tuple(Segment(start=w[0].start, end=w[-1].end, text=" ".join(x.word for x in w), speaker=w[0].speaker,
                             words=w) for w in (alice, bob, again))
    turns = tuple(SpeakerTurn(start=a, end=b, speaker=who) for a, b, who in (
        (0.0, 1.5, "Alice"), (1.9, 4.94, "Bob"), (5.0, 5.9, "Alice")))
    return Result(segments=segments, language="en", speakers=("Alice", "Bob"), diarization=turns, duration=6.0)


def test_a_speaker_whose_whole_turn_is_reassigned_is_gone_everywhere():
    """Bob's turn runs 0.54 s past his last word; given to Alice, nothing of Bob is left: no speaker, no timeline
    bar or RTTM line for the leftover, no count of two speakers."""
    edited = edit.set_speaker_from(_spoken_turns(), 1, 0, 1, "Alice")
    assert edited.speakers == ("Alice",)
    assert [(t.start, t.end, t.speaker) for t in edited.diarization] == [
        (0.0, 1.5, "Alice"), (2.0, 4.4, "Alice"), (5.0, 5.9, "Alice")]
    assert {line.split()[7] for line in render(edited, "rttm", Layout(uri="talk")).splitlines()} == {"Alice"}
    assert {w.speaker for s in edited.segments for w in s.words} == {"Alice"}


def test_a_split_leaves_no_sliver_of_the_first_speaker_and_ends_their_turn_with_their_last_word():
    """The turn is split before "how": Bob keeps "Hi Alice" (2.0-2.9), the rest is Carol's up to the turn's end
    (no 0.5 s sliver of Bob after her last word), and Bob's turn ends with "Alice" (2.9), not where Carol starts."""
    edited = edit.set_speaker_from(_spoken_turns(), 1, 2, 1, "Carol")
    assert [(t.start, t.end, t.speaker) for t in edited.diarization] == [
        (0.0, 1.5, "Alice"), (1.9, 2.9, "Bob"), (3.0, 4.4, "Carol"), (5.0, 5.9, "Alice")]
    assert edited.speakers == ("Alice", "Bob", "Carol")


def test_an_edited_turn_keeps_its_subtitle_cues():
    """Three segments joined for a correction come back as three, cut as a transcription cuts them (sentence ends,
    a pause of 1.5 s): the SRT keeps three cues, none spanning the pause."""
    result = _result()
    words = (*_words("Good morning.", 0.0, "x"), *_words("I would like a table", 1.0, "x"),
             *_words("for two", 5.0, "x"))  # a 2.1 s pause before "for"
    edited = edit.set_text(result, 0, "Good morning.  I would like a table for two", words, through=1)
    assert [(s.text, s.start, s.end) for s in edited.segments[:3]] == [
        ("Good morning.", 0.0, 0.9), ("I would like a table", 1.0, 3.4), ("for two", 5.0, 5.9)]
    assert all(s.edited and s.speaker == "SPEAKER_00" for s in edited.segments[:3])
    assert edited.segments[3] == result.segments[2]
    cues = [line for line in render(edited, "srt", Layout()).splitlines() if " --> " in line]
    assert cues[:3] == ["00:00:00,000 --> 00:00:00,900", "00:00:01,000 --> 00:00:03,400",
                        "00:00:05,000 --> 00:00:05,900"]


def test_a_corrected_no_ends_its_sentence_and_no_5_does_not():
    result = _result()
    words = _words("No. I would like room No. 5 please", 0.0, "x")
    edited = edit.set_text(result, 0, "No. I would like room No. 5 please", words)
    assert [segment.text for segment in edited.segments[:2]] == ["No.", "I would like room No. 5 please"]
