"""The voice check (core/speakers/voice_check.py): a short piece of speech that does not sound like the speaker it
was given goes to the voice it sounds like, or to a new speaker; the same voice's pieces stay. Pure logic on
vectors first, then real voices (pyannote's two-woman sample) through the real CAM++ encoder."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

from core.speakers import voice_check
from core.speakers.voice_check import Move, Piece
from core.transcript.result import SpeakerTurn


def word(text: str, start: float, end: float, speaker: str | None = "A") -> dict:
    return {"word": text, "start": start, "end": end, "speaker": speaker}


def axis(index: int, dimension: int = 8, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    vector = np.zeros(dimension)
    vector[index] = 1.0
    return vector + noise * np.random.default_rng(seed).standard_normal(dimension)


def piece(start: float, end: float, speaker: str) -> Piece:
    return Piece(start, end, speaker, ())


def test_pieces_are_cut_at_pauses_sentence_ends_and_speaker_changes():
    segments = [{"words": [word("one", 0.0, 0.4), word("two", 0.45, 0.9), word("three.", 0.9, 1.3),
                           word("four", 1.3, 1.7), word("five", 2.1, 2.5), {"word": "6"},
                           word("seven", 2.6, 3.0, "B")]},
                {"words": [word("eight", 3.0, 3.4, "B")]}]
    found = voice_check.pieces(segments)
    assert [(p.start, p.end, p.speaker, p.words) for p in found] == [
        (0.0, 1.3, "A", ((0, 0), (0, 1), (0, 2))),  # cut after "three." (a sentence end)
        (1.3, 1.7, "A", ((0, 3),)),  # cut at the 0.4 s pause
        (2.1, 2.5, "A", ((0, 4),)),  # the untimed "6" is skipped; cut at the speaker change
        (2.6, 3.4, "B", ((0, 6), (1, 0))),  # across segments
    ]


def test_candidates_are_short_and_not_overlapped():
    found = [piece(0.0, 0.5, "A"), piece(1.0, 2.0, "A"), piece(3.0, 10.0, "A"), piece(9.0, 10.0, "A"),
             piece(11.0, 12.0, "A")]
    turns = [SpeakerTurn(start=9.0, end=9.5, speaker="B"), SpeakerTurn(start=11.0, end=11.1, speaker="B"),
             SpeakerTurn(start=1.0, end=2.0, speaker="A")]
    chosen = voice_check.candidates(found, turns)
    assert [(p.start, p.end) for p in chosen] == [(1.0, 2.0), (11.0, 12.0)]  # too short, too long, half overlapped


def test_an_interjection_goes_to_the_voice_it_sounds_like():
    voices = {"A": (axis(0), 30.0), "B": (axis(1), 10.0)}
    checked = [(piece(5.0, 6.0, "A"), axis(0, noise=0.3)), (piece(10.0, 11.0, "A"), axis(1, noise=0.1)),
               (piece(20.0, 21.5, "B"), axis(1, noise=0.3, seed=1))]
    assert voice_check.recheck(checked, voices) == ["A", "B", "B"]


def test_a_voice_no_speaker_has_becomes_a_new_speaker_shared_by_its_pieces():
    voices = {"SPEAKER_00": (axis(0), 30.0), "SPEAKER_01": (axis(1), 10.0)}
    checked = [(piece(5.0, 6.0, "SPEAKER_00"), axis(2, noise=0.1)), (piece(8.0, 9.0, "SPEAKER_00"), axis(0)),
               (piece(12.0, 13.0, "SPEAKER_01"), axis(2, noise=0.1, seed=2)),
               (piece(15.0, 16.0, "SPEAKER_00"), axis(3))]
    assert voice_check.recheck(checked, voices) == ["SPEAKER_02", "SPEAKER_00", "SPEAKER_02", "SPEAKER_03"]
    # never beyond the count allowed: at most 3 speakers, so the second new voice stays where it was
    assert voice_check.recheck(checked, voices, most=3) == ["SPEAKER_02", "SPEAKER_00", "SPEAKER_02", "SPEAKER_00"]
    assert voice_check.recheck(checked, voices, most=2) == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]


def test_a_speaker_made_of_two_voices_keeps_the_longer_one():
    """Two interjecting voices clustered as one speaker: its centroid is their mix; the shorter piece leaves."""
    mix = axis(1) * 1.6 + axis(2) * 1.0
    voices = {"A": (axis(0), 40.0), "B": (mix, 2.6)}
    checked = [(piece(10.0, 11.6, "B"), axis(1)), (piece(30.0, 31.0, "B"), axis(2))]
    assert voice_check.recheck(checked, voices) == ["B", "SPEAKER_00"]


def test_the_same_voice_stays_however_noisy_its_pieces():
    rng = np.random.default_rng(7)
    voices = {"A": (axis(0, 64), 60.0), "B": (axis(1, 64), 40.0)}
    checked = [(piece(float(k), k + 1.0, "A"), axis(0, 64) + 0.15 * rng.standard_normal(64)) for k in range(10)]
    assert voice_check.recheck(checked, voices) == ["A"] * 10


def test_a_speaker_keeps_its_last_piece():
    voices = {"A": (axis(0), 30.0), "B": (axis(1), 1.0)}
    checked = [(piece(3.0, 4.0, "B"), axis(2))]
    assert voice_check.recheck(checked, voices) == ["B"]  # B has no other speech to compare it with


def test_moved_turns_carve_the_span_out_of_the_old_speaker():
    turns = [SpeakerTurn(start=0.0, end=10.0, speaker="A"), SpeakerTurn(start=10.5, end=12.0, speaker="B")]
    moved = voice_check.moved_turns(turns, [Move(4.0, 5.0, "A", "C"), Move(10.5, 12.0, "B", "A")])
    assert [(t.start, t.end, t.speaker) for t in moved] == [(0.0, 4.0, "A"), (4.0, 5.0, "C"), (5.0, 10.0, "A"),
                                                           (10.5, 12.0, "A")]


@pytest.fixture(scope="module")
def campplus(engine):
    from core.speakers.verification import embed_all, embedding_model

    model = embedding_model(engine.registry.diarization())
    return lambda clips: embed_all(model, clips)


def test_a_real_interjection_labelled_as_the_other_woman_is_given_back(campplus, pyannote_sample):
    """pyannote's sample: two women. Every turn is labelled as the first speaker, as when the segmentation folds an
    interjection into the voice around it; the check gives the second woman's short turns a speaker of their own
    (and, when her voice is known, her label), and leaves the first woman's own short turns alone."""
    from core.media.decode import decode_audio

    path, turns = pyannote_sample
    audio = decode_audio(str(path)).samples
    first, second = sorted({label for _, _, label in turns})
    words = [word(f"w{k}.", start, end, "SPEAKER_00") for k, (start, end, label) in enumerate(turns)]
    truth = {(start, end): label for start, end, label in turns}
    seconds = {label: sum(e - s for s, e, lab in turns if lab == label) for label in (first, second)}

    def voice(label: str) -> np.ndarray:
        return np.mean(campplus([audio[int(s * 16000):int(e * 16000)] for s, e, lab in turns
                                 if lab == label and e - s > 2.0]), axis=0)

    checked_turns = [SpeakerTurn(start=s, end=e, speaker="SPEAKER_00") for s, e, _ in turns]
    mine = [p for p in voice_check.candidates(voice_check.pieces([{"words": words}]), checked_turns)]
    assert {truth[(p.start, p.end)] for p in mine} == {first, second}  # both women have short turns to check

    # only the first woman's voice is known (the second's folded into it): her short turns become a new speaker
    segments, moves = voice_check.check_voices(campplus, audio, [{"words": words}], checked_turns,
                                               {"SPEAKER_00": (voice(first), seconds[first] + seconds[second])})
    labels = {(w["start"], w["end"]): w["speaker"] for w in segments[0]["words"]}
    moved = {(m.start, m.end) for m in moves}
    assert all(truth[span] == second for span in moved) and moved  # only the second woman's turns moved...
    # ...to new speakers (her 0.8 s and 1.1 s turns score 0.30 with each other: they may stay two)
    assert {labels[span] for span in moved} <= {"SPEAKER_01", "SPEAKER_02"}
    assert all(labels[(p.start, p.end)] == "SPEAKER_00" for p in mine if truth[(p.start, p.end)] == first)


def test_the_engine_gives_a_folded_voice_back(engine, pyannote_sample, monkeypatch):
    """End to end through the engine (real ASR, real CAM++): the real diarization of the two-woman sample is
    turned into what the segmentation's failure looks like — every turn under the first woman's label, the
    second's voice gone — and the check gives the second woman's short turns a speaker of their own, in the words
    and in the diarization's turns alike. Without the check, the transcript has one speaker."""
    import core.engine
    from core.options import TranscribeOptions
    from core.speakers.diarization import Diarization, diarize

    def folded(pipeline, audio, **kwargs):
        real = diarize(pipeline, audio, **kwargs)
        first = max(real.voices, key=lambda label: real.voices[label][1])
        one = tuple(dataclasses.replace(turn, speaker=first) for turn in real.turns)
        return Diarization(turns=one, exclusive=tuple(dataclasses.replace(t, speaker=first) for t in real.exclusive),
                           voices={first: (real.voices[first][0], sum(t.end - t.start for t in one))})

    monkeypatch.setattr(core.engine, "diarize", folded)
    path, turns = pyannote_sample
    options = TranscribeOptions(diarization=True, align_output=True)
    monkeypatch.setattr(engine, "check_voices", False)
    assert len({w.speaker for s in engine.transcribe(path, options).segments for w in s.words}) == 1
    monkeypatch.setattr(engine, "check_voices", True)
    result = engine.transcribe(path, options)
    words = [w for s in result.segments for w in s.words]
    counts = collections.Counter(w.speaker for w in words)
    assert len(counts) == 2
    new = min(counts, key=counts.__getitem__)  # the first woman keeps her label and most of the words
    moved = [w for w in words if w.speaker == new]
    second = sorted({label for _, _, label in turns})[1]
    heard = [(start, end) for start, end, label in turns if label == second]
    assert moved and all(any(start - 0.3 <= w.start and w.end <= end + 0.3 for start, end in heard) for w in moved)
    assert new in {turn.speaker for turn in result.diarization}
