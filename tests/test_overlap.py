"""Overlapped speech on the transcript (`core.transcript.overlap`) and everywhere speaker labels are mapped: the
result's JSON, renames, voice names, merges and corrections, the RunPod response, the page's HTML and the OpenAI
API's `diarized_json`. Pure logic: no model, no server (the engine and the real servers are in
test_engine_extras.py, test_openai_api.py and test_ui_browser_reading.py)."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

from core.errors import InvalidInput
from core.transcript import edit
from core.transcript.formats import Layout, render
from core.transcript.overlap import MIN_SHARED_S, MIN_TOUCH_S, overlapped_speech, with_overlaps
from core.transcript.result import Result, Segment, SpeakerTurn, VoiceMatch, Word


def turns(*spans: tuple[float, float, str]) -> tuple[SpeakerTurn, ...]:
    return tuple(SpeakerTurn(start=start, end=end, speaker=speaker) for start, end, speaker in spans)


def word(start: float, end: float, speaker: str, text: str = "word") -> Word:
    return Word(word=text, start=start, end=end, score=0.9, speaker=speaker)


def others(start: float, end: float, speaker: str, diarization: tuple[SpeakerTurn, ...]) -> tuple[str, ...]:
    """`overlap_with` of one word said at [start, end] by `speaker`."""
    segment = Segment(start=start, end=end, text="word", speaker=speaker, words=(word(start, end, speaker),))
    marked = with_overlaps((segment,), diarization)[0]
    assert marked.overlap_with == marked.words[0].overlap_with  # one word: the segment is its union
    return marked.words[0].overlap_with


# ---- the rule ---------------------------------------------------------------------------------------------------
def test_turns_that_touch_or_overlap_by_a_frame_make_no_overlap():
    touching = turns((0.0, 2.0, "A"), (2.0, 4.0, "B"))
    assert overlapped_speech(touching) == {}
    assert others(1.7, 2.0, "A", touching) == () and others(2.0, 2.3, "B", touching) == ()
    # 10 ms of both: a word at the edge keeps its one speaker, however short it is
    grazing = turns((0.0, 2.01, "A"), (2.0, 4.0, "B"))
    assert others(1.9, 2.01, "A", grazing) == () and others(2.0, 2.05, "B", grazing) == ()
    assert others(2.0, 2.3, "B", grazing) == ()


def test_a_word_said_over_someone_else_carries_them():
    diarization = turns((0.0, 3.0, "A"), (2.0, 4.0, "B"))  # both speak 2.0–3.0
    assert others(2.2, 2.6, "A", diarization) == ("B",)  # wholly inside
    assert others(2.5, 3.2, "B", diarization) == ("A",)  # 0.5 s of 0.7 s
    assert others(1.0, 1.9, "A", diarization) == () and others(3.1, 3.8, "B", diarization) == ()


def test_a_real_share_of_the_word_counts_a_sliver_does_not():
    diarization = turns((0.0, 3.0, "A"), (2.0, 4.0, "B"))
    long_start = 2.0 - 1.0 + MIN_SHARED_S  # a 1 s word whose last MIN_SHARED_S is overlapped
    assert others(long_start, long_start + 1.0, "A", diarization) == ("B",)
    assert others(1.15, 2.15, "A", diarization) == ()  # 0.15 s of a 1 s word: under both half and MIN_SHARED_S
    assert others(1.8, 2.1, "A", diarization) == ()  # 0.1 s of 0.3 s: a third
    assert others(1.9, 2.1, "A", diarization) == ("B",)  # 0.1 s of 0.2 s: half
    assert others(2.9, 2.9 + MIN_TOUCH_S * 1.6, "A", diarization) == ("B",)  # a short word, more than the floor
    assert others(2.97, 3.05, "A", diarization) == ()  # 30 ms of an 80 ms word: under the floor


def test_three_speakers():
    diarization = turns((0.0, 5.0, "A"), (1.0, 3.0, "B"), (2.0, 4.0, "C"))
    assert others(2.2, 2.8, "A", diarization) == ("B", "C")
    assert others(2.2, 2.8, "B", diarization) == ("A", "C")
    assert others(1.2, 1.8, "B", diarization) == ("A",)
    assert others(3.2, 3.8, "C", diarization) == ("A",)
    assert others(4.2, 4.8, "A", diarization) == ()


def test_a_word_labelled_into_anothers_turn_is_not_overlap():
    """A label moved to a pause (core/speakers/word_labels.py) can put a word in another speaker's turn: only one
    voice was heard there, so nothing is overlapped."""
    diarization = turns((0.0, 2.0, "A"), (2.0, 4.0, "B"))
    assert others(2.1, 2.6, "A", diarization) == ()


def test_segments_carry_the_union_of_their_words_or_their_own_span():
    diarization = turns((0.0, 6.0, "A"), (1.0, 2.0, "B"), (4.0, 5.0, "C"))
    words = (word(0.2, 0.8, "A", "one"), word(1.1, 1.6, "A", "two"), word(2.5, 3.0, "A", "three"),
             word(4.2, 4.8, "A", "four"), Word(word="five"))
    timed = Segment(start=0.2, end=4.8, text="one two three four five", speaker="A", words=words)
    untimed = Segment(start=0.5, end=3.0, text="six seven", speaker="A")
    brief = Segment(start=2.5, end=4.1, text="eight", speaker="A")  # 0.1 s of C in 1.6 s: not a share
    marked = with_overlaps((timed, untimed, brief), diarization)
    assert [w.overlap_with for w in marked[0].words] == [(), ("B",), (), ("C",), ()]
    assert marked[0].overlap_with == ("B", "C")
    assert marked[1].overlap_with == ("B",) and marked[2].overlap_with == ()
    # marking again from other turns replaces what was there
    assert with_overlaps(marked, turns((0.0, 6.0, "A"))) == (timed, untimed, brief)


# ---- the result's wire format -----------------------------------------------------------------------------------
def overlapped_result() -> Result:
    """A says "we could start now" while B says "yes" over "start"; C alone afterwards."""
    a_words = (word(0.0, 0.3, "SPEAKER_00", "we"), word(0.3, 0.6, "SPEAKER_00", "could"),
               word(0.6, 1.0, "SPEAKER_00", "start"), word(1.0, 1.4, "SPEAKER_00", "now"))
    b_words = (word(0.7, 1.0, "SPEAKER_01", "yes"),)
    c_words = (word(2.0, 2.5, "SPEAKER_02", "fine"),)
    segments = tuple(Segment(start=w[0].start, end=w[-1].end, text=" ".join(x.word for x in w), speaker=w[0].speaker,
                             words=w) for w in (a_words, b_words, c_words))
    diarization = turns((0.0, 1.4, "SPEAKER_00"), (0.65, 1.05, "SPEAKER_01"), (2.0, 2.5, "SPEAKER_02"))
    return Result(segments=with_overlaps(segments, diarization), language="en",
                  speakers=("SPEAKER_00", "SPEAKER_01", "SPEAKER_02"), diarization=diarization, duration=3.0)


def test_json_carries_overlap_only_where_there_is_some_and_round_trips():
    result = overlapped_result()
    data = result.to_dict()
    first, second, third = data["segments"]
    assert first["overlap_with"] == ["SPEAKER_01"] and second["overlap_with"] == ["SPEAKER_00"]
    assert [w.get("overlap_with") for w in first["words"]] == [None, None, ["SPEAKER_01"], None]
    assert "overlap_with" not in third and all("overlap_with" not in w for w in third["words"])
    assert list(first)[:5] == ["start", "end", "text", "speaker", "overlap_with"]
    assert Result.from_dict(json.loads(json.dumps(data))) == result
    assert json.loads(render(result, "json", Layout())) == data
    plain = dataclasses.replace(result, segments=with_overlaps(result.segments, ()))
    assert "overlap_with" not in json.dumps(plain.to_dict())  # no overlap: the JSON of before


@pytest.mark.parametrize("bad", ["SPEAKER_01", [1], {"a": 1}])
def test_a_saved_result_with_a_bad_overlap_is_refused_naming_it(bad):
    from ui.editor import parse_result

    data = overlapped_result().to_dict()
    data["segments"][0]["words"][2]["overlap_with"] = bad
    with pytest.raises(InvalidInput) as refused:
        parse_result(data)
    assert refused.value.field == "result" and "overlap_with" in refused.value.message


# ---- every place that maps speaker labels -----------------------------------------------------------------------
def test_renaming_and_ordering_map_overlap_too():
    result = overlapped_result()
    renamed = result.with_speaker_names({"SPEAKER_01": "Bea", "SPEAKER_00": "Ada"})
    assert renamed.segments[0].overlap_with == ("Bea",) and renamed.segments[0].words[2].overlap_with == ("Bea",)
    assert renamed.segments[1].overlap_with == ("Ada",)
    shuffled = result.with_speaker_names({"SPEAKER_00": "S9", "SPEAKER_01": "S4"})
    ordered = shuffled.with_speakers_in_order()
    assert ordered.segments[0].speaker == "SPEAKER_00" and ordered.segments[0].overlap_with == ("SPEAKER_01",)
    assert ordered.segments[1].overlap_with == ("SPEAKER_00",)
    named = result.with_recognized_voices([VoiceMatch(label="SPEAKER_01", name="Bea", score=0.9)])
    assert named.segments[0].words[2].overlap_with == ("Bea",)


def test_merging_the_two_who_overlapped_leaves_no_overlap():
    result = overlapped_result()
    merged = edit.merge_speakers(result, "SPEAKER_01", "SPEAKER_00")
    assert all(not s.overlap_with and not any(w.overlap_with for w in s.words) for s in merged.segments)
    into_third = edit.merge_speakers(result, "SPEAKER_01", "SPEAKER_02")
    assert into_third.segments[0].overlap_with == ("SPEAKER_02",)


def test_corrections_work_overlap_out_again_from_the_turns():
    result = overlapped_result()
    # "yes" given to C: its span is C's alone in the turns now (edit cuts the others there), so nobody overlaps
    moved = edit.set_speaker(result, 1, "SPEAKER_02")
    assert all(stretches.shared_s(0.7, 1.0) == 0 for stretches in overlapped_speech(moved.diarization).values())
    assert all(not s.overlap_with and not any(w.overlap_with for w in s.words) for s in moved.segments)
    # only the word "start" given to C: the overlap by B that was under "yes" outside it stays
    split = edit.set_speaker(result, 0, "SPEAKER_02", first_word=2, last_word=2)
    assert [s.speaker for s in split.segments] == ["SPEAKER_00", "SPEAKER_02", "SPEAKER_00", "SPEAKER_01",
                                                   "SPEAKER_02"]
    assert split.segments[1].overlap_with == () and split.segments[3].overlap_with == ()
    # new text re-timed: the new words are judged against the turns as they are
    retimed = edit.set_text(result, 0, "we can start", (word(0.0, 0.3, "x", "we"), word(0.3, 0.6, "x", "can"),
                                                         word(0.6, 1.1, "x", "start")))
    assert [w.overlap_with for w in retimed.segments[0].words] == [(), (), ("SPEAKER_01",)]
    untimed = edit.set_text(result, 0, "we can start")
    assert untimed.segments[0].words == () and untimed.segments[0].overlap_with == ("SPEAKER_01",)


def test_the_runpod_response_names_the_overlapping_speaker():
    from rp_worker.outputs import runpod_output

    options = types.SimpleNamespace(max_line_width=None, max_line_count=None, highlight_words=False,
                                    output_formats=("json",), transcription=None, translation="plain_text",
                                    align_output=True)
    data = runpod_output(overlapped_result(), options, names={"SPEAKER_01": "Bea"})
    assert data["segments"][0]["overlap_with"] == ["Bea"] and data["segments"][1]["overlap_with"] == ["SPEAKER_00"]
    assert data["segments"][0]["words"][2]["overlap_with"] == ["Bea"]


def test_diarized_json_names_the_overlapping_speaker_as_it_names_speakers():
    from openai_api.responses import body

    request = types.SimpleNamespace(response_format="diarized_json", options=None)
    data = json.loads(body(overlapped_result(), request, {"SPEAKER_01": "Bea"}).body)
    first, second, third = data["segments"]
    assert (first["speaker"], first["overlap_with"]) == ("A", ["Bea"])
    assert (second["speaker"], second["overlap_with"]) == ("Bea", ["A"])
    assert "overlap_with" not in third and set(third) == {"type", "id", "start", "end", "text", "speaker"}


def test_subtitles_are_unchanged_by_overlap():
    """SRT/VTT do not mark overlap (docs/result.md): a cue shows one speaker's words under their label."""
    result = overlapped_result()
    plain = dataclasses.replace(result, segments=with_overlaps(result.segments, ()))
    for fmt in ("srt", "vtt", "txt", "tsv", "rttm"):
        assert render(result, fmt, Layout()) == render(plain, fmt, Layout())


# ---- the page ---------------------------------------------------------------------------------------------------
def test_the_page_marks_overlapped_words_in_words_not_colour():
    from ui.render import render_transcript

    page = render_transcript(overlapped_result().with_speaker_names({"SPEAKER_01": "Bea <b>"}))
    assert page.count('class="wx-overlap"') == 2 and page.count('class="wx-overlaps"') == 2
    assert ('<span class="wx-overlap" title="Also speaking: Bea &lt;b&gt;"><span class="wx-sr">(also speaking: '
            'Bea &lt;b&gt;) </span><button type="button" class="wx-word"') in page
    assert "overlaps with Bea &lt;b&gt;</span>" in page and "overlaps with SPEAKER_00</span>" in page
    # the marked run holds exactly the overlapped word; the others stay outside it
    marked = page.split('class="wx-overlap"')[1].split("</button></span>")[0]
    assert marked.endswith(">start") and "could" not in marked and "</button></span> <button" in page
    assert "overlap" not in render_transcript(dataclasses.replace(
        overlapped_result(), segments=with_overlaps(overlapped_result().segments, ())))
