"""Cutting whisperx's VAD chunks at speaker changes (pure logic; the engine test covers it on real audio)."""

from __future__ import annotations

from core.result import SpeakerTurn
from core.speaker_spans import change_points, speaker_spans, split_chunks


def turn(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def test_same_speaker_turns_join_and_blips_drop():
    spans = speaker_spans([turn(0, 2, "A"), turn(2.5, 4, "A"), turn(4.2, 4.3, "B"), turn(4.5, 8, "A"),
                           turn(8.5, 12, "B")])
    assert spans == [turn(0, 8, "A"), turn(8.5, 12, "B")]


def test_change_points_fall_between_speakers():
    spans = [turn(0, 4, "A"), turn(5, 8, "B"), turn(7.5, 10, "A")]
    assert change_points(spans) == [4.5, 7.75]


def test_a_chunk_spanning_two_speakers_is_cut_between_them():
    chunks = [{"start": 0.5, "end": 9.5, "segments": [(0.5, 3.9), (5.1, 9.5)]}]
    result = split_chunks(chunks, [turn(0, 4, "A"), turn(5, 10, "B")])
    assert [(c["start"], c["end"], c["speaker"]) for c in result] == [(0.5, 3.9, "A"), (5.1, 9.5, "B")]


def test_one_speaker_keeps_its_speech_in_one_chunk_and_short_pieces_join():
    chunks = [{"start": 0.0, "end": 9.0, "segments": [(0.0, 3.0), (3.5, 6.0), (6.0, 9.0)]}]
    spans = [turn(0, 6.1, "A"), turn(6.15, 9, "B")]
    result = split_chunks(chunks, spans)
    # the cut at 6.125 leaves a 0.125 s sliver of the last region: too short for a word, it stays with A
    assert [(c["start"], c["end"], c["speaker"]) for c in result] == [(0.0, 6.125, "A"), (6.125, 9.0, "B")]


def test_no_spans_leaves_chunks_alone():
    chunks = [{"start": 0.0, "end": 1.0, "segments": [(0.0, 1.0)]}]
    assert split_chunks(chunks, []) == chunks
