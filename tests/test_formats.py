"""Writers are pure functions of a Result: every format parses, speakers show, renames propagate."""

import json
import re

from core.transcript.formats import OUTPUT_FORMATS, WRITERS, Layout, render, response
from core.transcript.result import Result, Segment, SpeakerTurn, Word

SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)$", re.S)
VTT_TIME = re.compile(r"^(\d\d:)?\d\d:\d\d\.\d\d\d --> (\d\d:)?\d\d:\d\d\.\d\d\d$")


def make_result(aligned: bool = True, diarized: bool = True) -> Result:
    def words(*items):
        return tuple(Word(word=w, start=s, end=e, score=0.9, speaker=sp if diarized else None)
                     for w, s, e, sp in items) if aligned else ()

    segments = (
        Segment(start=0.5, end=2.0, text="Hello there.", speaker="SPEAKER_00" if diarized else None,
                words=words(("Hello", 0.5, 0.9, "SPEAKER_00"), ("there.", 1.0, 2.0, "SPEAKER_00"))),
        Segment(start=2.5, end=4.0, text="Hi, how are you?", speaker="SPEAKER_01" if diarized else None,
                words=words(("Hi,", 2.5, 2.8, "SPEAKER_01"), ("how", 2.9, 3.1, "SPEAKER_01"),
                            ("are", 3.2, 3.4, "SPEAKER_01"), ("you?", 3.5, 4.0, "SPEAKER_01"))),
    )
    turns = (SpeakerTurn(start=0.4, end=2.1, speaker="SPEAKER_00"),
             SpeakerTurn(start=2.4, end=4.1, speaker="SPEAKER_01")) if diarized else None
    return Result(segments=segments, language="en", language_probability=0.99,
                  speakers=("SPEAKER_00", "SPEAKER_01") if diarized else None, diarization=turns,
                  duration=4.5, model="tiny.en", device="cpu", compute_type="int8")


def parse_srt(text: str) -> list[tuple[str, str, str]]:
    cues = []
    for index, block in enumerate(text.strip().split("\n\n"), start=1):
        match = SRT_CUE.match(block)
        assert match, f"not an SRT cue: {block!r}"
        assert int(match.group(1)) == index
        assert match.group(2) <= match.group(3)
        cues.append((match.group(2), match.group(3), match.group(4)))
    return cues


def test_srt_is_valid_and_shows_speakers():
    cues = parse_srt(render(make_result(), "srt"))
    assert len(cues) == 2
    assert cues[0][0] == "00:00:00,500" and cues[0][2] == "[SPEAKER_00]: Hello there."
    assert cues[1][2].startswith("[SPEAKER_01]: Hi,")


def test_srt_without_alignment_uses_segment_times():
    cues = parse_srt(render(make_result(aligned=False, diarized=False), "srt"))
    assert [c[2] for c in cues] == ["Hello there.", "Hi, how are you?"]


def test_vtt_has_header_and_valid_cues():
    text = render(make_result(), "vtt")
    assert text.startswith("WEBVTT\n\n")
    blocks = text.strip().split("\n\n")[1:]
    assert len(blocks) == 2
    for block in blocks:
        timing, payload = block.split("\n", 1)
        assert VTT_TIME.match(timing), timing
        assert payload.startswith("[SPEAKER_0")


def test_subtitle_layout_options_split_lines():
    text = render(make_result(), "srt", Layout(max_line_width=8, max_line_count=1))
    assert len(parse_srt(text)) > 2


def test_tsv_and_txt():
    tsv = render(make_result(), "tsv").splitlines()
    assert tsv[0] == "start\tend\tspeaker\ttext"
    assert tsv[1].split("\t") == ["500", "2000", "SPEAKER_00", "Hello there."]
    plain = render(make_result(diarized=False), "tsv").splitlines()
    assert plain[0] == "start\tend\ttext"
    assert render(make_result(), "txt").splitlines() == ["[SPEAKER_00]: Hello there.",
                                                         "[SPEAKER_01]: Hi, how are you?"]


def test_rttm_fields():
    lines = render(make_result(), "rttm", Layout(uri="my talk")).strip().splitlines()
    assert len(lines) == 2
    fields = lines[0].split()
    assert fields[0] == "SPEAKER" and fields[1] == "my_talk" and fields[7] == "SPEAKER_00"
    assert float(fields[3]) == 0.4 and abs(float(fields[4]) - 1.7) < 1e-6


def test_json_round_trip_and_plain_types():
    result = make_result()
    data = json.loads(render(result, "json"))
    assert data == result.to_dict()
    assert Result.from_dict(data) == result
    assert data["detected_language"] == "en" and data["text"] == "Hello there. Hi, how are you?"


def test_speaker_fields_only_when_diarized():
    data = make_result(diarized=False).to_dict()
    assert "speakers" not in data and "diarization" not in data and "speaker" not in data["segments"][0]


def test_renaming_reaches_every_output():
    renamed = make_result().with_speaker_names({"SPEAKER_00": "Ada Lovelace", "SPEAKER_01": " "})
    assert renamed.speakers == ("Ada Lovelace", "SPEAKER_01")
    assert "[Ada Lovelace]: Hello there." in render(renamed, "srt")
    assert "Ada_Lovelace" in render(renamed, "rttm")
    assert renamed.segments[0].words[0].speaker == "Ada Lovelace"
    assert renamed.diarization[0].speaker == "Ada Lovelace"


def test_every_format_the_options_accept_has_a_writer_that_renders():
    """`OUTPUT_FORMATS` is derived from the writers, and each writer renders a real result (no model needed)."""
    from core.options import TranscribeOptions, option_fields

    accepted = next(f for f in option_fields() if f.name == "output_formats").metadata["choices"]
    assert tuple(accepted) == OUTPUT_FORMATS == tuple(WRITERS)
    for fmt in OUTPUT_FORMATS:
        text = render(make_result(), fmt, Layout(uri="talk"))
        assert isinstance(text, str) and text.strip(), fmt
        assert TranscribeOptions.from_mapping({"output_formats": [fmt]}).output_formats == (fmt,)


def test_response_adds_rendered_outputs_and_the_transcription_alias():
    from core.options import TranscribeOptions

    result = make_result()
    options = TranscribeOptions.from_mapping({"output_formats": ["json", "srt", "rttm"], "transcription": "vtt",
                                              "max_line_width": 8})
    data = response(result, options, uri="my talk")
    assert set(data["outputs"]) == {"srt", "rttm"}  # JSON is the response itself
    assert data["outputs"]["srt"] == render(result, "srt", Layout(max_line_width=8, uri="my talk"))
    assert data["transcription"].startswith("WEBVTT") and "my_talk" in data["outputs"]["rttm"]
    assert {k: v for k, v in data.items() if k not in ("outputs", "transcription")} == result.to_dict()
    plain = response(result, TranscribeOptions.from_mapping({"transcription": "plain_text"}))
    assert plain["transcription"] == result.text and plain["outputs"] == {}
    assert "transcription" not in response(result, TranscribeOptions())
