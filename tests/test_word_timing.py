"""Word timestamps without wav2vec2 (the open profile): whisper's cross-attention times every word, speakers are
assigned per word, and segments split where the speaker changes. Real weights, festival speech with festival's
own word boundaries as the reference."""

from __future__ import annotations

import re

import pytest

from core import TranscribeOptions
from core.transcript.formats import Layout, render
from tests import speech

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def timed(engine, timed_dialogue):
    return engine.transcribe(timed_dialogue.path, TranscribeOptions(diarization=True))


def test_every_word_is_timed_close_to_festivals_boundaries(timed, timed_dialogue):
    assert timed.word_timing == "whisper"
    words = [word for segment in timed.segments for word in segment.words]
    assert words and all(word.start is not None and word.end is not None for word in words)
    coverage, errors = speech.word_timing_errors(timed_dialogue.words, [(w.word, w.start) for w in words])
    assert coverage >= 0.9, coverage
    assert sum(errors) / len(errors) <= 0.15, sorted(errors)[-5:]


def test_words_are_ordered_inside_their_segments_and_carry_speakers(timed):
    for segment in timed.segments:
        starts = [word.start for word in segment.words]
        assert starts == sorted(starts)
        assert segment.start <= starts[0] and segment.words[-1].end <= segment.end + 1e-6
        assert {word.speaker for word in segment.words} == {segment.speaker}


def test_the_note_is_one_plain_sentence(timed):
    notes = [warning for warning in timed.warnings if "Whisper" in warning]
    assert notes == ["word timings come from Whisper; install the wav2vec2 model for English for tighter timing"]
    assert not any(re.search(r"Errno|urlopen|Traceback|\(<", warning) for warning in timed.warnings)


def test_subtitle_layout_options_work_with_whisper_words(timed):
    srt = render(timed, "srt", Layout(max_line_width=20, max_line_count=1, highlight_words=True))
    text_lines = [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()]
    assert "<u>" in srt
    plain = [re.sub(r"</?u>|\[SPEAKER_\d+\]: ", "", line) for line in text_lines]
    assert max(len(line) for line in plain) <= 20 + 5, plain  # whisperx may overrun by one word


def test_speakers_are_numbered_in_order_of_first_appearance(timed):
    assert timed.speakers == ("SPEAKER_00", "SPEAKER_01")
    assert timed.diarization[0].speaker == "SPEAKER_00" and timed.segments[0].speaker == "SPEAKER_00"


def test_quick_turns_survive_in_the_transcript(engine, quick_turns):
    """The transcript's who-spoke-when stays within 5 points of the diarization's own (segments split at
    speaker changes, not one label per sentence)."""
    result = engine.transcribe(quick_turns.path, TranscribeOptions(diarization=True))
    turns = [(t.start, t.end, t.speaker) for t in result.diarization]
    segments = [(s.start, s.end, s.speaker) for s in result.segments]
    turn_der = speech.diarization_error_rate(quick_turns.turns, turns, collar=0.25)
    transcript_der = speech.diarization_error_rate(quick_turns.turns, segments, collar=0.25)
    assert transcript_der <= turn_der + 0.05, (transcript_der, turn_der)
    assert speech.word_error_rate(quick_turns.script, result.text) <= 0.2


def test_word_timestamps_off_means_no_words(engine, monologue):
    result = engine.transcribe(monologue.path, TranscribeOptions(align_output=False))
    assert result.word_timing is None and all(segment.words == () for segment in result.segments)
    assert not any("Whisper" in warning for warning in result.warnings)
