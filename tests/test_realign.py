"""Re-timing corrected text (`Engine.realign`): real weights, festival speech with festival's own word boundaries
as the reference. The open profile has no wav2vec2 model, so Whisper's cross-attention aligns the given words."""

from __future__ import annotations

import dataclasses
import os
import re
import time

import pytest

from core import TranscribeOptions
from core.errors import InvalidInput
from core.transcript import edit
from core.transcript.result import Segment
from tests import speech

pytestmark = pytest.mark.slow
SENTENCES = re.compile(r"[^.?!\s][^.?!]*[.?!]")


def reference_word(recording: speech.Recording, text: str, after_s: float = 0.0) -> speech.Word:
    """The reference timing of the first `text` said from `after_s` on."""
    return next(w for w in recording.words if w[0].lower() == text.lower() and w[1] >= after_s)


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
    print(f"\nre-timed a {span:.1f} s turn ({sum(len(s.words) for s in edited.segments)} words) in {took:.2f} s wall, "
          f"{cpu:.2f} s CPU (all threads; load average {os.getloadavg()[0]:.1f})")
    # cut back into segments as a transcription cuts them: one per sentence of the script (its subtitle cues)
    assert [s.text for s in edited.segments] == SENTENCES.findall(timed_dialogue.script)
    assert all(s.edited for s in edited.segments)
    words = [w for s in edited.segments for w in s.words]
    coverage, errors = speech.word_timing_errors(timed_dialogue.words, [(w.word, w.start) for w in words])
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
    words = [w for s in edited.segments for w in s.words]
    print(f"\nre-timed a {words[-1].end - words[0].start:.1f} s turn {LONG_OFFSET_S / 60:.0f} minutes into a "
          f"{(result.duration + LONG_TAIL_S) / 60:.0f}-minute m4a in {took:.2f} s wall, {cpu:.2f} s CPU in this "
          f"process (ffmpeg's own not counted; load average {os.getloadavg()[0]:.1f})")
    reference = tuple((w, start + LONG_OFFSET_S, end + LONG_OFFSET_S, who)
                      for w, start, end, who in timed_dialogue.words)
    _, errors = speech.word_timing_errors(reference, [(w.word, w.start) for w in words])
    assert sum(error <= 0.2 for error in errors) / len(reference) >= 0.95, sorted(errors)[-5:]
    assert edited.segments[0].start >= LONG_OFFSET_S


def test_one_corrected_segment_keeps_its_speaker_and_neighbours(engine, timed_dialogue):
    result = engine.transcribe(timed_dialogue.path, TranscribeOptions(diarization=True))
    truth = speech.DIALOGUE[1][1]  # "Certainly. We have a quiet table…": the segment that says it, corrected
    index = next(i for i, s in enumerate(result.segments) if s.text.lower().startswith("certainly"))
    edited = engine.realign(timed_dialogue.path, result, index, truth)
    parts = SENTENCES.findall(truth)  # "Certainly." and the sentence after it: two segments, as transcribed
    new = edited.segments[index:index + len(parts)]
    assert [s.text for s in new] == parts and all(s.edited for s in new)
    assert {s.speaker for s in new} == {result.segments[index].speaker}
    assert {w.speaker for s in new for w in s.words} == {result.segments[index].speaker}
    assert edited.segments[:index] == result.segments[:index]
    assert edited.segments[index + len(parts):] == result.segments[index + 1:]
    words = [w for s in new for w in s.words]
    starts = [w.start for w in words]
    assert starts == sorted(starts) and None not in starts
    reference = [w for w in timed_dialogue.words if w[1] >= new[0].start - 0.5 and w[2] <= new[-1].end + 0.5]
    _, errors = speech.word_timing_errors(tuple(reference), [(w.word, w.start) for w in words])
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


def test_words_the_decoder_dropped_are_placed_in_their_own_speech(engine, transcribed, timed_dialogue):
    """A segment that ends at "a" while "bottle of red wine" is still being said: corrected with its whole text,
    the words that were missing get the speech that follows (the old end plus a margin squeezed them into 0.1 s
    or less, and the segment ended while the voice went on)."""
    index = next(i for i, s in enumerate(transcribed.segments) if "wine" in s.text)
    segment = transcribed.segments[index]
    cut = next(k for k, w in enumerate(segment.words) if w.word == "order") + 2  # "Could we also order a"
    dropped = dataclasses.replace(segment, end=segment.words[cut - 1].end, words=segment.words[:cut],
                                  text=" ".join(w.word for w in segment.words[:cut]))
    result = dataclasses.replace(transcribed, segments=(*transcribed.segments[:index], dropped,
                                                       *transcribed.segments[index + 1:]))
    edited = engine.realign(timed_dialogue.path, result, index, segment.text).segments[index]
    wine = reference_word(timed_dialogue, "wine")
    bottle = reference_word(timed_dialogue, "bottle")
    timed = {w.word.strip("?").lower(): w for w in edited.words}
    print(f"\nbottle {timed['bottle'].start}-{timed['bottle'].end} (said {bottle[1]:.3f}-{bottle[2]:.3f}), "
          f"wine {timed['wine'].start}-{timed['wine'].end} (said {wine[1]:.3f}-{wine[2]:.3f})")
    assert all(w.end - w.start >= 0.05 for w in edited.words), [(w.word, w.start, w.end) for w in edited.words]
    assert abs(timed["bottle"].start - bottle[1]) <= 0.15 and abs(timed["wine"].start - wine[1]) <= 0.15
    assert abs(edited.end - wine[2]) <= 0.1, (edited.end, wine[2])


def test_a_turn_re_timed_whole_and_its_segments_one_by_one_agree_on_the_speech(engine, transcribed,
                                                                               timed_dialogue):
    """The page re-times a whole turn, `/realign` one segment: the turn comes back cut into the same segments
    (its subtitle cues), and each segment starts and ends at the same places either way, where the voice does."""
    pair = transcribed.segments[:2]  # "Good morning." "I would like to book a table for two people tonight."
    whole = engine.realign(timed_dialogue.path, transcribed, 0, " ".join(s.text for s in pair), through=1)
    alone = [engine.realign(timed_dialogue.path, transcribed, i, pair[i].text).segments[i] for i in range(2)]
    assert [s.text for s in whole.segments[:2]] == [s.text for s in pair]
    assert whole.segments[2:] == transcribed.segments[2:]
    for together, single, (first, last) in zip(whole.segments[:2], alone, (("good", "morning"), ("i", "tonight")),
                                               strict=True):
        said = (reference_word(timed_dialogue, first)[1], reference_word(timed_dialogue, last)[2])
        print(f"\n{together.text!r}: whole turn {together.start}-{together.end}, alone {single.start}-"
              f"{single.end}, said {said[0]:.3f}-{said[1]:.3f}")
        assert abs(together.start - single.start) <= 0.05 and abs(together.end - single.end) <= 0.05
        assert abs(together.start - said[0]) <= 0.1 and abs(together.end - said[1]) <= 0.1


def test_a_split_falls_in_the_pause_between_its_words(engine, transcribed, timed_dialogue):
    """ "Thank you very much." and "We will see you this evening." as one turn whose "much." an aligner ran
    1.3 s into the pause before "We": split before "We", the first part ends where the voice stops and the second
    starts where it resumes (not where the stretched word said)."""
    index = next(i for i, s in enumerate(transcribed.segments) if s.text.startswith("Thank you"))
    first, second = transcribed.segments[index], transcribed.segments[index + 1]
    stretched = dataclasses.replace(first.words[-1], end=second.words[0].start - 0.05)
    turn = Segment(start=first.start, end=second.end, text=f"{first.text} {second.text}",
                   words=(*first.words[:-1], stretched, *second.words))
    result = dataclasses.replace(transcribed, segments=(*transcribed.segments[:index], turn,
                                                       *transcribed.segments[index + 2:]))
    at = len(first.words)
    split = edit.set_speaker_from(engine.snap_split(timed_dialogue.path, result, index, at), index, at, index,
                                  "Guest")
    ended, resumed = reference_word(timed_dialogue, "much")[2], reference_word(timed_dialogue, "we", 19.0)[1]
    before, after = split.segments[index], split.segments[index + 1]
    print(f"\nsplit: first part ends {before.end} (voice stops {ended:.3f}), second starts {after.start} "
          f"(voice resumes {resumed:.3f})")
    assert (before.text, after.text, after.speaker) == (first.text, second.text, "Guest")
    assert abs(before.end - ended) <= 0.1 and abs(after.start - resumed) <= 0.1
