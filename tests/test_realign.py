"""Re-timing corrected text (`Engine.realign`): real weights, festival speech with festival's own word boundaries
as the reference. The open profile has no wav2vec2 model, so Whisper's cross-attention aligns the given words."""

from __future__ import annotations

import os
import time

import pytest

from core import TranscribeOptions
from core.errors import InvalidInput
from tests import speech

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transcribed(engine, timed_dialogue):
    """The dialogue as the open profile's default model (`base`) hears it."""
    return engine.transcribe(timed_dialogue.path, TranscribeOptions(model="base"))


def test_a_20_second_turn_rewritten_with_the_true_words_is_timed_on_festivals_boundaries(engine, transcribed,
                                                                                        timed_dialogue):
    """Every segment joined into one ~20 s turn holding the script: ≥ 95 % of words start within 0.2 s of the
    synthesiser's boundaries, mean error ≤ 0.12 s (the issue's goal). The time taken is printed, not asserted."""
    last = len(transcribed.segments) - 1
    span = transcribed.segments[-1].end - transcribed.segments[0].start
    assert span >= 18, span
    started, cpu = time.perf_counter(), time.process_time()
    edited = engine.realign(timed_dialogue.path, transcribed, 0, timed_dialogue.script, through=last)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\nre-timed a {span:.1f} s turn ({len(edited.segments[0].words)} words) in {took:.2f} s wall, "
          f"{cpu:.2f} s CPU (all threads; load average {os.getloadavg()[0]:.1f})")
    (segment,) = edited.segments
    assert segment.text == timed_dialogue.script and segment.edited
    coverage, errors = speech.word_timing_errors(timed_dialogue.words, [(w.word, w.start) for w in segment.words])
    within = sum(error <= 0.2 for error in errors) / len(timed_dialogue.words)
    mean = sum(errors) / len(errors)
    print(f"words matched {coverage:.1%}, within 0.2 s {within:.1%}, mean start error {mean:.3f} s")
    assert within >= 0.95, sorted(errors)[-5:]
    assert mean <= 0.12, mean


LONG_OFFSET_S, LONG_TAIL_S = 1200.0, 120.0  # the dialogue starts 20 minutes into the long recording


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory, timed_dialogue):
    """The dialogue 20 minutes into a 22-minute AAC recording (a phone's format: ffmpeg decodes it)."""
    return speech.placed_in_silence(timed_dialogue.path, tmp_path_factory.mktemp("long") / "meeting.m4a",
                                    LONG_OFFSET_S, LONG_TAIL_S)


def test_re_timing_a_turn_of_a_long_recording_decodes_only_that_turn(engine, transcribed, timed_dialogue,
                                                                     long_recording):
    """The 20 s turn 20 minutes into a 22-minute recording: timed as well as in the short file (words on the
    recording's clock), the time printed (the issue's goal: <= 2 s here)."""
    last = len(transcribed.segments) - 1
    result = speech.later(transcribed, LONG_OFFSET_S)
    engine.realign(long_recording, result, 0, timed_dialogue.script, through=last)  # models loaded: not timed
    started, cpu = time.perf_counter(), time.process_time()
    edited = engine.realign(long_recording, result, 0, timed_dialogue.script, through=last)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    (segment,) = edited.segments
    print(f"\nre-timed a {segment.end - segment.start:.1f} s turn {LONG_OFFSET_S / 60:.0f} minutes into a "
          f"{(result.duration + LONG_TAIL_S) / 60:.0f}-minute m4a in {took:.2f} s wall, {cpu:.2f} s CPU in this "
          f"process (ffmpeg's own not counted; load average {os.getloadavg()[0]:.1f})")
    reference = tuple((w, start + LONG_OFFSET_S, end + LONG_OFFSET_S, who)
                      for w, start, end, who in timed_dialogue.words)
    _, errors = speech.word_timing_errors(reference, [(w.word, w.start) for w in segment.words])
    assert sum(error <= 0.2 for error in errors) / len(reference) >= 0.95, sorted(errors)[-5:]
    assert segment.start >= LONG_OFFSET_S


def test_one_corrected_segment_keeps_its_speaker_and_neighbours(engine, timed_dialogue):
    result = engine.transcribe(timed_dialogue.path, TranscribeOptions(diarization=True))
    index = 1
    truth = speech.DIALOGUE[index][1]
    edited = engine.realign(timed_dialogue.path, result, index, truth)
    segment = edited.segments[index]
    assert segment.text == truth and segment.edited and segment.speaker == result.segments[index].speaker
    assert {w.speaker for w in segment.words} == {segment.speaker}
    assert edited.segments[:index] == result.segments[:index]
    assert edited.segments[index + 1:] == result.segments[index + 1:]
    starts = [w.start for w in segment.words]
    assert starts == sorted(starts) and None not in starts
    reference = [w for w in timed_dialogue.words if w[1] >= segment.start - 0.5 and w[2] <= segment.end + 0.5]
    _, errors = speech.word_timing_errors(tuple(reference), [(w.word, w.start) for w in segment.words])
    assert sum(errors) / len(errors) <= 0.2


def test_bad_requests_name_their_field(engine, transcribed, timed_dialogue, monologue):
    with pytest.raises(InvalidInput) as refused:
        engine.realign(timed_dialogue.path, transcribed, len(transcribed.segments), "hello")
    assert refused.value.field == "segment" and "accepted: 0 to" in refused.value.message
    with pytest.raises(InvalidInput) as refused:
        engine.realign(timed_dialogue.path, transcribed, 0, "   ")
    assert refused.value.field == "text"
    with pytest.raises(InvalidInput) as refused:  # a shorter recording than the one the result was made from
        engine.realign(monologue.path, transcribed, len(transcribed.segments) - 1, "Thank you")
    assert refused.value.field == "audio" and "pass the recording" in refused.value.message
