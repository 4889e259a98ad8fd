"""Stray speakers folded into the voices they were split from.

Agglomerative clustering on a long recording can leave a cluster that wins almost no frame in the end: a second
or less of one person's speech (a laugh, a voice over someone else, a segmentation slip) under a label of its
own. The 11-minute three-voice bench meeting came out with five speakers, two of them holding 0.1 s and 1.2 s.
A speaker with less than `STRAY_SHARE` of the recording's speech and under `STRAY_MAX_S` in all is such a stray:
each of its turns goes to the speaker nearest to it in time (the one it overlaps most, else the closest turn).
The share keeps short real voices of a short recording (an interjection of 0.8 s in a 45 s conversation is 2 %
of it); a count the user asked for (`num_speakers`, `min_speakers`) is never folded away.

Pure logic on `SpeakerTurn`s; no models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.transcript.result import SpeakerTurn

STRAY_SHARE = 0.005  # of all the speech in the recording...
STRAY_MAX_S = 2.0  # ...and never more than this many seconds


def speech_by_speaker(turns: Sequence[SpeakerTurn]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for turn in turns:
        totals[turn.speaker] = totals.get(turn.speaker, 0.0) + max(0.0, turn.end - turn.start)
    return totals


def strays(turns: Sequence[SpeakerTurn], asked: int | None = None) -> list[str]:
    """The speakers of `turns` that are strays, smallest first, leaving at least `asked` speakers (and one)."""
    totals = speech_by_speaker(turns)
    limit = min(STRAY_MAX_S, STRAY_SHARE * sum(totals.values()))
    small = sorted((speaker for speaker, seconds in totals.items() if seconds < limit), key=lambda s: totals[s])
    keep = max(asked or 1, 1)
    return small[:max(0, len(totals) - keep)]


def fold(turns: Sequence[SpeakerTurn], folded: Sequence[str]) -> tuple[SpeakerTurn, ...]:
    """`turns` with each turn of a `folded` speaker given to the nearest other speaker's turn (most overlap,
    else least distance), and same-speaker turns that then touch or overlap joined."""
    gone = set(folded)
    others = [turn for turn in turns if turn.speaker not in gone]
    if not gone or not others:
        return tuple(turns)
    moved = [turn if turn.speaker not in gone else dataclasses.replace(turn, speaker=_nearest(turn, others))
             for turn in turns]
    return joined(moved)


def _nearest(turn: SpeakerTurn, others: Sequence[SpeakerTurn]) -> str:
    def closeness(other: SpeakerTurn) -> tuple[float, float]:
        overlap = min(turn.end, other.end) - max(turn.start, other.start)
        return (-overlap, 0.0) if overlap > 0 else (0.0, -overlap)

    return min(others, key=closeness).speaker


def joined(turns: Sequence[SpeakerTurn]) -> tuple[SpeakerTurn, ...]:
    """`turns` sorted, with same-speaker turns that touch or overlap made one."""
    out: list[SpeakerTurn] = []
    last: dict[str, int] = {}  # each speaker's latest turn in `out`
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        index = last.get(turn.speaker)
        if index is not None and turn.start <= out[index].end:
            out[index] = dataclasses.replace(out[index], end=max(out[index].end, turn.end))
            continue
        last[turn.speaker] = len(out)
        out.append(turn)
    return tuple(out)
