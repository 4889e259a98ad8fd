"""Overlapped speech on the transcript: which words were said while someone else was also speaking.

A segment and its words carry one speaker (the one-at-a-time turns label them: `assign_word_speakers`), so the
diarization's overlapping turns are the only place that knows two people spoke at once. Here a word gets
`overlap_with`, the other speakers, when the turns say that speaker talked during a real share of the word while
at least one other voice was heard too: at least half the word, or at least MIN_SHARED_S of it, and never less
than MIN_TOUCH_S.

Why these numbers: a turn that begins as another ends often overlaps it by a frame or two (pyannote's frames are
~17 ms), and word edges are off by tens of milliseconds (Whisper's and wav2vec2's 20 ms steps, plus timing
error), so a few frames at a word's edge is not a second voice (MIN_TOUCH_S, three frames). Half a word is
the word being said over someone, whatever its length; MIN_SHARED_S (a syllable's length) counts a long word
that is only partly covered. Turns that merely touch (one ends where the next begins) never make overlap: only
time where two speakers' turns both run counts.

A segment carries the union of its words' `overlap_with`; a segment without timed words is judged by its own span
with the same rule. Pure logic on `Segment`s and `SpeakerTurn`s, no models: the engine applies it to a new
result, and every correction that changes words or turns (`core.transcript.edit`) applies it again.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence

from core.transcript.result import Segment, SpeakerTurn, Word

MIN_SHARE = 0.5  # of the word's duration
MIN_SHARED_S = 0.2  # seconds of the word, whatever its length
MIN_TOUCH_S = 0.05  # less than this is turn-edge or word-edge jitter, never a second voice
_EPSILON_S = 1e-6  # times are rounded to milliseconds


@dataclasses.dataclass(frozen=True)
class _Stretches:
    """Sorted, disjoint (start, end) stretches, with their starts for bisecting."""

    spans: tuple[tuple[float, float], ...]
    starts: tuple[float, ...]

    def shared_s(self, start: float, end: float) -> float:
        """Seconds of [start, end] inside these stretches."""
        total = 0.0
        index = max(bisect.bisect_right(self.starts, start) - 1, 0)
        for low, high in self.spans[index:]:
            if low >= end:
                break
            total += max(0.0, min(high, end) - max(low, start))
        return total


def overlapped_speech(turns: Iterable[SpeakerTurn]) -> dict[str, _Stretches]:
    """Per speaker, where they speak while at least one other speaker does too (one sweep over turn edges)."""
    edges: list[tuple[float, int, str]] = []
    for turn in turns:
        if turn.end > turn.start:
            edges += [(turn.start, 1, turn.speaker), (turn.end, -1, turn.speaker)]
    edges.sort(key=lambda edge: (edge[0], edge[1]))  # ends before starts at one time: touching is not overlap
    active: dict[str, int] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for position, (time, step, speaker) in enumerate(edges):
        active[speaker] = active.get(speaker, 0) + step
        if not active[speaker]:
            del active[speaker]
        following = edges[position + 1][0] if position + 1 < len(edges) else time
        if len(active) < 2 or following <= time:
            continue
        for name in active:
            own = spans.setdefault(name, [])
            if own and own[-1][1] >= time - _EPSILON_S:
                own[-1] = (own[-1][0], following)
            else:
                own.append((time, following))
    return {name: _Stretches(tuple(own), tuple(low for low, _ in own)) for name, own in spans.items()}


def other_speakers(start: float | None, end: float | None, speaker: str | None,
                   overlapped: dict[str, _Stretches]) -> tuple[str, ...]:
    """The speakers other than `speaker` heard over a real share of [start, end] (the module's rule), sorted."""
    if start is None or end is None or end <= start or not overlapped:
        return ()
    needed = max(min(MIN_SHARE * (end - start), MIN_SHARED_S), MIN_TOUCH_S) - _EPSILON_S
    return tuple(sorted(name for name, stretches in overlapped.items()
                        if name != speaker and stretches.shared_s(start, end) >= needed))


def with_overlaps(segments: Sequence[Segment], turns: Iterable[SpeakerTurn]) -> tuple[Segment, ...]:
    """`segments` with `overlap_with` set from `turns` on every word and segment (emptied where nobody else spoke)."""
    overlapped = overlapped_speech(turns)
    return tuple(_segment_with_overlaps(segment, overlapped) for segment in segments)


def _segment_with_overlaps(segment: Segment, overlapped: dict[str, _Stretches]) -> Segment:
    words = tuple(_word_with_overlaps(word, segment.speaker, overlapped) for word in segment.words)
    if any(word.start is not None and word.end is not None for word in words):
        others = tuple(sorted({name for word in words for name in word.overlap_with}))
    else:
        others = other_speakers(segment.start, segment.end, segment.speaker, overlapped)
    return dataclasses.replace(segment, words=words, overlap_with=others)


def _word_with_overlaps(word: Word, speaker: str | None, overlapped: dict[str, _Stretches]) -> Word:
    others = other_speakers(word.start, word.end, word.speaker or speaker, overlapped)
    return word if others == word.overlap_with else dataclasses.replace(word, overlap_with=others)
