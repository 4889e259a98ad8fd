"""Stray speakers (core/speakers/strays.py): a sliver of one voice's speech under a label of its own is folded into
the nearest voice on a long recording; short real voices of a short recording and counts asked for are kept."""

from __future__ import annotations

import pytest

from core.speakers import strays
from core.transcript.result import SpeakerTurn


def meeting() -> list[SpeakerTurn]:
    """Three voices taking 10 s turns for 10 minutes, and two slivers (as the 11-minute bench meeting gave)."""
    turns = [SpeakerTurn(start=10.0 * k, end=10.0 * k + 9.5, speaker=f"SPEAKER_0{k % 3}") for k in range(60)]
    turns += [SpeakerTurn(start=101.0, end=101.1, speaker="SPEAKER_03"),  # inside a turn of SPEAKER_01
              SpeakerTurn(start=229.6, end=230.8, speaker="SPEAKER_04")]  # in the gap, nearer SPEAKER_02's turn
    return sorted(turns, key=lambda turn: turn.start)


def test_slivers_of_a_long_recording_go_to_the_nearest_voice():
    turns = meeting()
    assert strays.strays(turns) == ["SPEAKER_03", "SPEAKER_04"]
    folded = strays.fold(turns, strays.strays(turns))
    assert {turn.speaker for turn in folded} == {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}
    assert not [t for t in folded if t.speaker == "SPEAKER_01" and 100.0 < t.start < 110.0]  # joined into its turn
    around = [t for t in folded if t.start <= 230.0 <= t.end]
    assert [(t.speaker, t.start, t.end) for t in around] == [("SPEAKER_02", 229.6, 239.5)]  # joined
    assert next(t for t in folded if t.start == 220.0).end == 229.5  # SPEAKER_01's turn before is untouched
    assert sum(t.end - t.start for t in folded) == pytest.approx(60 * 9.5 + 0.4)  # 229.6–230.0 added, nothing lost


def test_a_short_interjection_in_a_short_conversation_is_a_voice():
    turns = [SpeakerTurn(start=0.0, end=20.0, speaker="SPEAKER_00"),
             SpeakerTurn(start=20.5, end=21.3, speaker="SPEAKER_01"),
             SpeakerTurn(start=21.8, end=44.0, speaker="SPEAKER_00")]
    assert strays.strays(turns) == []
    assert strays.fold(turns, []) == tuple(turns)


def test_a_count_asked_for_is_never_folded_away():
    turns = meeting()
    assert strays.strays(turns, asked=4) == ["SPEAKER_03"]
    assert strays.strays(turns, asked=5) == []
    one = [SpeakerTurn(start=0.0, end=0.5, speaker="SPEAKER_00")]
    assert strays.strays(one) == []  # the only voice stays, however little it says
