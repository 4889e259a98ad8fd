"""Subtitle layout (core/transcript/subtitles.py through the SRT/WebVTT writers): a cue never crosses a speaker
change; `max_line_width` and `max_line_count` hold exactly with the `[SPEAKER]: ` prefix counted; no trailing
spaces; every cue ends after it starts. Checked on constructed results and on a real diarized, word-timed result
(pyannote's two-speaker AMI sample through the engine)."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from core.transcript.formats import Layout, render
from core.transcript.result import Result, Segment, Word
from core.transcript.subtitles import MIN_CUE_S, cues, prefix

SRT_BLOCK = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)", re.S)
VTT_TIME = re.compile(r"(?:(\d\d):)?(\d\d):(\d\d)\.(\d\d\d) --> (?:(\d\d):)?(\d\d):(\d\d)\.(\d\d\d)")


def seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def srt_cues(text: str) -> list[tuple[float, float, list[str]]]:
    cues_ = []
    for index, block in enumerate(text.strip().split("\n\n"), start=1):
        match = SRT_BLOCK.fullmatch(block)
        assert match and int(match.group(1)) == index, block
        g = match.groups()
        cues_.append((seconds(*g[1:5]), seconds(*g[5:9]), g[9].split("\n")))
    return cues_


def vtt_cues(text: str) -> list[tuple[float, float, list[str]]]:
    assert text.startswith("WEBVTT\n\n")
    cues_ = []
    for block in text.strip().split("\n\n")[1:]:
        timing, payload = block.split("\n", 1)
        match = VTT_TIME.fullmatch(timing)
        assert match, timing
        g = match.groups()
        cues_.append((seconds(*g[0:4]), seconds(*g[4:8]), payload.split("\n")))
    return cues_


def check_layout(result: Result, width: int, count: int) -> list[tuple[float, float, list[str]]]:
    """Render SRT and VTT with this layout and check every rule on both; returns the SRT cues."""
    layout = Layout(max_line_width=width, max_line_count=count)
    srt, vtt = srt_cues(render(result, "srt", layout)), vtt_cues(render(result, "vtt", layout))
    assert [c[2] for c in srt] == [c[2] for c in vtt]
    for start, end, lines in srt + vtt:
        assert end > start, (start, end, lines)
        assert 1 <= len(lines) <= count, lines
        for line in lines:
            assert len(line) <= width, (len(line), line)
            assert line == line.strip() and "  " not in line, repr(line)
    # One speaker per cue: the label shown is the speaker of every word in it.
    laid = cues(result, width, count)
    assert len(laid) == len(srt)
    for cue, (_, _, lines) in zip(laid, srt, strict=True):
        assert all(piece.speaker == cue.speaker for piece in cue.pieces), cue
        if result.diarized:
            assert lines[0].startswith(prefix(cue.speaker).rstrip()), lines
    return srt


def words(speaker: str, *items: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(word=f" {w}", start=s, end=e, score=0.9, speaker=speaker) for w, s, e in items)


def result_of(*segments: Segment, diarized: bool = True) -> Result:
    speakers = tuple(sorted({s.speaker for s in segments if s.speaker})) if diarized else None
    return Result(segments=segments, language="en", speakers=speakers, duration=60.0)


# A segment whose words change speaker in the middle ("…and everyone | says what…"), with a zero-length word.
MIXED = result_of(
    Segment(start=0.0, end=9.0, text="Okay so let us start and everyone says what they have been doing",
            speaker="SPEAKER_00",
            words=words("SPEAKER_00", ("Okay", 0.0, 0.4), ("so", 0.5, 0.7), ("let", 0.8, 1.0), ("us", 1.0, 1.2),
                        ("start", 1.3, 1.8), ("and", 2.0, 2.2), ("everyone", 2.3, 2.9))
            + words("SPEAKER_01", ("says", 3.0, 3.3), ("what", 3.4, 3.6), ("they", 3.7, 3.9),
                    ("have", 4.0, 4.2), ("been", 4.3, 4.5), ("doing", 4.6, 9.0))),
    Segment(start=9.151, end=9.151, text="Okay.", speaker="SPEAKER_00",
            words=words("SPEAKER_00", ("Okay.", 9.151, 9.151))),
    Segment(start=9.4, end=12.0, text="Extraordinarily comprehensive documentation", speaker="SPEAKER_00",
            words=words("SPEAKER_00", ("Extraordinarily", 9.4, 10.2), ("comprehensive", 10.3, 11.0),
                        ("documentation", 11.1, 12.0))),
)


def test_cues_break_at_speaker_changes_inside_a_segment():
    laid = cues(MIXED, 42, 2)
    assert [cue.speaker for cue in laid][:2] == ["SPEAKER_00", "SPEAKER_01"]
    assert " ".join(laid[0].lines).endswith("everyone") and " ".join(laid[1].lines).startswith("says")
    check_layout(MIXED, 42, 2)


@pytest.mark.parametrize(("width", "count"), [(42, 2), (20, 1), (16, 3), (25, 2)])
def test_width_and_count_hold_exactly_with_the_prefix_counted(width, count):
    srt = check_layout(MIXED, width, count)
    # The budget is used: some first line is filled to within one word of the width, prefix included.
    assert max(len(lines[0]) for _, _, lines in srt) > width - 10


def test_a_word_longer_than_a_line_is_cut_at_the_width():
    result = result_of(Segment(start=0.0, end=2.0, text="Extraordinarily long", words=(
        Word(word=" Extraordinarily", start=0.0, end=1.2), Word(word=" long", start=1.3, end=2.0))), diarized=False)
    srt = check_layout(result, 10, 2)
    assert [lines for _, _, lines in srt] == [["Extraordin", "arily long"]]
    # A word that fits a line but not beside the label (20 - len("[SPEAKER_00]: ") = 6) is not cut: the label
    # stands alone on the cue's first line.
    assert check_layout(MIXED, 20, 2)[-1][2] == ["[SPEAKER_00]:", "documentation"]
    # With one line per cue there is no second line: the word is cut.
    assert check_layout(MIXED, 20, 1)[-3][2] == ["[SPEAKER_00]: docume"]


def test_zero_length_word_gets_a_real_span_that_stops_at_the_next_cue():
    laid = cues(MIXED)
    okay = next(cue for cue in laid if cue.lines == ("Okay.",))
    following = laid[laid.index(okay) + 1]
    assert okay.start == pytest.approx(9.151)
    assert okay.start < okay.end <= following.start and okay.end == pytest.approx(min(9.151 + MIN_CUE_S, 9.4))
    for text in (render(MIXED, "srt"), render(MIXED, "vtt")):
        assert re.search(r"00:09[.,]151 --> (00:)?00:09[.,]351\n\[SPEAKER_00\]: Okay\.\n", text), text


def test_without_layout_a_cue_is_a_segment_split_only_at_speaker_changes():
    laid = cues(MIXED)
    assert [" ".join(cue.lines) for cue in laid] == [
        "Okay so let us start and everyone", "says what they have been doing", "Okay.",
        "Extraordinarily comprehensive documentation"]


def test_width_alone_wraps_lines_inside_the_segment_cue():
    laid = cues(MIXED, max_line_width=30)
    assert len(laid) == 4 and len(laid[0].lines) > 1
    assert len(prefix("SPEAKER_00") + laid[0].lines[0]) <= 30 and all(len(line) <= 30 for line in laid[0].lines)


def test_segments_without_word_times_share_their_time_by_characters():
    result = result_of(Segment(start=10.0, end=20.0, text="one two three four five six seven eight nine ten",
                               speaker="SPEAKER_00"))
    laid = cues(result, 20, 1)
    assert len(laid) > 2 and laid[0].start == 10.0 and laid[-1].end == pytest.approx(20.0)
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(laid))
    check_layout(result, 20, 1)


def test_no_speaker_no_prefix_and_untimed_words_follow_the_cue_before():
    result = result_of(Segment(start=1.0, end=3.0, text="a b", words=(
        Word(word=" alpha", start=1.0, end=1.5), Word(word=" 1999"))), diarized=False)
    laid = cues(result, 6, 1)
    assert [cue.lines for cue in laid] == [("alpha",), ("1999",)]
    assert laid[1].start == laid[0].end and laid[1].end > laid[1].start
    assert [lines for _, _, lines in check_layout(result, 6, 1)] == [["alpha"], ["1999"]]


def test_highlighted_words_are_underlined_one_cue_each_with_real_spans():
    text = render(MIXED, "vtt", Layout(max_line_width=42, max_line_count=2, highlight_words=True))
    parsed = vtt_cues(text)
    assert all(end > start for start, end, _ in parsed)
    underlined = [lines for _, _, lines in parsed if "<u>" in " ".join(lines)]
    assert len(underlined) == sum(len(s.words) for s in MIXED.segments)
    assert any("<u>says</u>" in " ".join(lines) and lines[0].startswith("[SPEAKER_01]: ") for lines in underlined)


@pytest.mark.slow
def test_real_diarized_result_keeps_every_rule(engine, pyannote_sample):
    from core import TranscribeOptions

    path, _ = pyannote_sample
    result = engine.transcribe(path, TranscribeOptions(diarization=True, align_output=True, language="en"))
    assert result.diarized and result.aligned and len(result.speakers) >= 2
    for width, count in ((42, 2), (32, 1), (60, 3)):
        srt = check_layout(result, width, count)
        labels = {re.match(r"\[([^\]]+)\]", lines[0]).group(1) for _, _, lines in srt}
        assert labels == set(result.speakers)
    spoken = [w.word.strip() for s in result.segments for w in s.words]
    shown = " ".join(" ".join(lines) for _, _, lines in srt)
    assert re.sub(r"\[[^\]]+\]: ", "", shown).split() == spoken  # nothing lost or reordered


def test_a_segment_without_words_beside_timed_ones_keeps_its_text_and_times():
    result = result_of(
        Segment(start=0.0, end=1.0, text="Hello there.", speaker="SPEAKER_00",
                words=words("SPEAKER_00", ("Hello", 0.0, 0.4), ("there.", 0.5, 1.0))),
        Segment(start=2.0, end=3.0, text="Mm-hmm.", speaker="SPEAKER_01"))
    assert [(c.start, c.end, c.speaker, c.lines) for c in cues(result)] == [
        (0.0, 1.0, "SPEAKER_00", ("Hello there.",)), (2.0, 3.0, "SPEAKER_01", ("Mm-hmm.",))]


def test_text_written_without_spaces_gets_no_spaces_between_its_words():
    """Chinese and Japanese come back a character (or a few) per word: a cue joins them as the language writes."""
    chars = "你好世界今天天气很好"
    result = dataclasses.replace(result_of(Segment(start=0.0, end=2.0, text=chars, speaker="SPEAKER_00", words=words(
        "SPEAKER_00", *((c, 0.2 * i, 0.2 * i + 0.15) for i, c in enumerate(chars))))), language="zh")
    assert "[SPEAKER_00]: 你好世界今天天气很好" in render(result, "srt")
    narrow = render(result, "srt", Layout(max_line_width=20, max_line_count=1))
    assert "你好世界今天" in narrow and "你 好" not in narrow  # the width counts no spaces that are not there
    highlighted = render(result, "vtt", Layout(highlight_words=True))
    assert "你<u>好</u>世界" in highlighted


def test_text_without_word_times_is_not_highlighted_and_each_cue_keeps_its_share_of_time():
    result = result_of(Segment(start=0.0, end=10.0, text="one two three four five six seven eight nine ten eleven"),
                       Segment(start=10.0, end=12.0, text="thirteen fourteen"), diarized=False)
    plain = render(result, "srt", Layout(max_line_width=20, max_line_count=1))
    shown = render(result, "srt", Layout(max_line_width=20, max_line_count=1, highlight_words=True))
    assert shown == plain and "<u>" not in shown  # whisperX highlights timed words only
    times = re.findall(r"(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})", plain)
    assert times == sorted(times) and len(set(times)) == len(times), times  # no cue on top of another


def test_a_highlighted_word_never_runs_into_the_next_speakers_cue():
    result = result_of(
        Segment(start=1.0, end=1.6, text="Hello there.", speaker="A",
                words=words("A", ("Hello", 1.0, 1.45), ("there.", 1.5, 1.6))),
        Segment(start=1.6, end=2.3, text="Hi you.", speaker="B",
                words=words("B", ("Hi", 1.6, 1.7), ("you.", 1.7, 2.3))))
    parsed = vtt_cues(render(result, "vtt", Layout(highlight_words=True)))
    assert all(end <= following for (_, end, _), (following, _, _) in itertools.pairwise(parsed)), parsed


def test_a_translation_from_japanese_keeps_its_spaces():
    """task=translate: the segments are English while `language` says what the audio was (ja); subtitles chose
    their word joiner by that language and wrote "Iwenthome."."""
    segment = Segment(start=0.0, end=1.5, text="I went home.", speaker="SPEAKER_00",
                      words=words("SPEAKER_00", ("I", 0.0, 0.3), ("went", 0.4, 0.8), ("home.", 0.9, 1.5)))
    result = dataclasses.replace(result_of(segment), language="ja", task="translate")
    assert result.text_language == "en"
    assert "I went home." in render(result, "srt") and "I went home." in render(result, "vtt")
    data = result.to_dict()
    assert data["task"] == "translate" and data["language"] == "ja"
    assert Result.from_dict(data).text_language == "en"  # kept through the page's stored copy
    assert "task" not in dataclasses.replace(result, task="transcribe").to_dict()
