"""Speaker counts asked for are honoured in the transcript's words, or a warning says why not (no models)."""

from __future__ import annotations

from core.speakers.counts import honour_count, speakers_in_words
from core.transcript.result import SpeakerTurn


def T(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def words(*spans: tuple[float, float, str]) -> dict:
    timed = [{"word": f"w{i}", "start": start, "end": end, "speaker": speaker}
             for i, (start, end, speaker) in enumerate(spans)]
    return {"start": timed[0]["start"], "end": timed[-1]["end"], "text": " ".join(w["word"] for w in timed),
            "speaker": timed[0]["speaker"], "words": timed}


def test_a_voice_heard_only_over_another_takes_the_words_its_turns_hold():
    """B speaks 2.0–3.0 s over A; the one-speaker-at-a-time labels gave every word to A."""
    segments = [words((0.0, 0.5, "A"), (0.5, 1.0, "A"), (2.0, 2.4, "A"), (2.4, 2.9, "A"), (3.5, 4.0, "A"))]
    turns = (T(0.0, 4.0, "A"), T(1.9, 3.0, "B"))
    fixed, warning = honour_count(segments, turns, 2)
    assert warning is None
    assert speakers_in_words(fixed) == {"A", "B"}
    assert [segment["speaker"] for segment in fixed] == ["A", "B", "A"]
    assert [w["word"] for w in fixed[1]["words"]] == ["w2", "w3"]


def test_nothing_changes_when_the_count_is_met_or_not_asked():
    segments = [words((0.0, 0.5, "A"), (1.0, 1.5, "B"))]
    turns = (T(0.0, 0.6, "A"), T(0.9, 1.6, "B"), T(0.0, 1.6, "C"))
    assert honour_count(segments, turns, 2) == (segments, None)
    assert honour_count(segments, turns, None) == (segments, None)


def test_too_few_voices_is_said_with_the_count_asked_and_found():
    segments = [words((0.0, 0.5, "A"), (1.0, 1.5, "B"))]
    turns = (T(0.0, 0.6, "A"), T(0.9, 1.6, "B"))
    fixed, warning = honour_count(segments, turns, 3)
    assert speakers_in_words(fixed) == {"A", "B"}
    assert warning is not None and "3 speakers were asked for" in warning and "carry 2" in warning
    assert "told 2 voices apart" in warning


def test_a_voice_without_words_is_said_and_nobody_loses_their_last_word():
    """C's turn holds A's only word: taking it would trade one lost voice for another."""
    segments = [words((0.0, 0.5, "A"), (1.0, 1.5, "B"), (1.6, 2.0, "B"))]
    turns = (T(0.0, 0.6, "A"), T(0.9, 2.1, "B"), T(0.0, 0.5, "C"))
    fixed, warning = honour_count(segments, turns, 3)
    assert speakers_in_words(fixed) == {"A", "B"}
    assert warning is not None and "1 of the 3 voices diarization found spoke no transcribed word" in warning
