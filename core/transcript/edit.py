"""Corrections to a finished `Result`, as pure functions: new text for a segment, another speaker for a segment or
a run of its words (a split), two speakers merged into one, a new speaker.

Every function returns a new `Result` and leaves its argument alone, so a front end keeps undo/redo as a list of
results. Segments a correction touched are marked `edited`; the who-spoke-when turns (`diarization`, which RTTM
is written from) follow every speaker change, so each download reflects it, and overlapped speech
(`overlap_with`) is worked out again from the turns after every change of words or turns, so it always agrees
with them (a turn given to one speaker has nobody else in it any more). Re-timing new words against the
audio is `core.asr.forced_alignment`'s job (the engine joins the two: `Engine.realign`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.errors import InvalidInput
from core.transcript.overlap import with_overlaps
from core.transcript.result import Result, Segment, SpeakerTurn, Word

_STATISTICS_CLEARED = {"avg_logprob": None, "no_speech_prob": None, "compression_ratio": None,
                       "temperature": None, "tokens": None}  # the decoder's figures describe text that is gone


def segment_at(result: Result, index: int, field: str = "segment") -> Segment:
    """The segment at `index`, or a refusal naming `field` and the accepted range."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(result.segments):
        count = len(result.segments)
        accepted = f"0 to {count - 1}" if count else "none: the result has no segments"
        raise InvalidInput(f"{field}: {index!r} is not a segment index; accepted: {accepted}", field=field)
    return result.segments[index]


def set_text(result: Result, index: int, text: str, words: Sequence[Word] = (), *, through: int | None = None,
             joiner: str = " ") -> Result:
    """Segments `index`..`through` (inclusive; default `index` alone) become one segment with `text` and `words`
    (timed by the caller; they take the first segment's speaker). The segment spans its timed words, or the old
    segments' span when no word is timed."""
    first = segment_at(result, index)
    last = segment_at(result, index if through is None else through, "through")
    end_index = index if through is None else through
    if end_index < index:
        raise InvalidInput(f"through: {end_index} comes before segment {index}", field="through")
    cleaned = " ".join((text or "").split()) if joiner else (text or "").strip()
    if not cleaned:
        raise InvalidInput("text: empty; give the segment's words", field="text")
    timed = [word for word in words if word.start is not None and word.end is not None]
    start = min(word.start for word in timed) if timed else first.start
    end = max(word.end for word in timed) if timed else last.end
    new = dataclasses.replace(
        first, start=start, end=max(end, start), text=cleaned, edited=True, **_STATISTICS_CLEARED,
        words=tuple(dataclasses.replace(word, speaker=first.speaker) for word in words),
    )
    segments = (*result.segments[:index], new, *result.segments[end_index + 1:])
    return _with_overlaps(dataclasses.replace(result, segments=segments))


def set_speaker(result: Result, index: int, speaker: str, *, first_word: int | None = None,
                last_word: int | None = None, joiner: str = " ") -> Result:
    """Give segment `index` (or its words `first_word`..`last_word`, inclusive) to `speaker`; a word range splits
    the segment into up to three. The who-spoke-when turns follow. `speaker` may be new (it is added)."""
    segment = segment_at(result, index)
    speaker = _speaker_name(speaker)
    pieces = _pieces(segment, first_word, last_word, joiner)
    changed = [dataclasses.replace(piece, speaker=speaker, edited=True,
                                   words=tuple(dataclasses.replace(w, speaker=speaker) for w in piece.words))
               if chosen else piece for piece, chosen in pieces]
    segments = (*result.segments[:index], *changed, *result.segments[index + 1:])
    turns = list(result.diarization or ())
    for piece, chosen in pieces:
        if chosen:
            turns = _turns_with(turns, piece.start, piece.end, speaker)
    speakers = _with_speaker(result.speakers, speaker)
    return _with_overlaps(dataclasses.replace(result, segments=segments, diarization=tuple(turns),
                                              speakers=speakers))


def split(result: Result, index: int, word: int, speaker: str, *, joiner: str = " ") -> Result:
    """Split segment `index` before its word `word`; that word and the rest go to `speaker`."""
    segment = segment_at(result, index)
    if not 0 < word < len(segment.words):
        raise InvalidInput(f"word: {word!r} cannot start the second part; accepted: 1 to {len(segment.words) - 1}",
                           field="word")
    return set_speaker(result, index, speaker, first_word=word, last_word=len(segment.words) - 1, joiner=joiner)


def set_speaker_from(result: Result, index: int, word: int, through: int, speaker: str, *,
                     joiner: str = " ") -> Result:
    """A turn (segments `index`..`through`) split at word `word` of segment `index`: from that word to the turn's
    end, the speech is `speaker`'s. Word 0 gives the whole of segment `index` onwards."""
    segment_at(result, through, "through")
    if through < index:
        raise InvalidInput(f"through: {through} comes before segment {index}", field="through")
    if word:
        result = split(result, index, word, speaker, joiner=joiner)
        index, through = index + 1, through + 1
    for position in range(index, through + 1):
        result = set_speaker(result, position, speaker, joiner=joiner)
    return result


def merge_speakers(result: Result, source: str, target: str) -> Result:
    """Everything `source` said is `target`'s (one person split in two by diarization); `source` is gone."""
    known = list(result.speakers or ())
    for field, name in (("source", source), ("target", target)):
        if name not in known:
            raise InvalidInput(f"{field}: no speaker {name!r}; speakers: {', '.join(known) or 'none'}", field=field)
    if source == target:
        raise InvalidInput("target: a speaker cannot be merged into itself", field="target")
    merged = result.with_speaker_names({source: target})
    return _with_overlaps(dataclasses.replace(merged, diarization=tuple(_joined_turns(merged.diarization or ()))))


def add_speaker(result: Result, name: str) -> Result:
    """A new speaker with no speech yet (turns are then given to it)."""
    name = _speaker_name(name)
    if name.casefold() in {known.casefold() for known in result.speakers or ()}:
        raise InvalidInput(f"name: there is already a speaker called {name!r}", field="name")
    return dataclasses.replace(result, speakers=_with_speaker(result.speakers, name),
                               diarization=result.diarization if result.diarized else ())


def edited_segments(result: Result) -> list[int]:
    """Indices of the segments a correction touched."""
    return [index for index, segment in enumerate(result.segments) if segment.edited]


def _with_overlaps(result: Result) -> Result:
    """Overlapped speech worked out again from the result's turns (none without diarization)."""
    if not result.diarized:
        return result
    return dataclasses.replace(result, segments=with_overlaps(result.segments, result.diarization or ()))


def _speaker_name(name: str) -> str:
    cleaned = " ".join(str(name or "").split())
    if not cleaned:
        raise InvalidInput("speaker: empty; give a speaker's name", field="speaker")
    return cleaned


def _with_speaker(speakers: tuple[str, ...] | None, speaker: str) -> tuple[str, ...]:
    known = tuple(speakers or ())
    return known if speaker in known else (*known, speaker)


def _pieces(segment: Segment, first: int | None, last: int | None, joiner: str) -> list[tuple[Segment, bool]]:
    """The segment cut around its words `first`..`last`, each piece flagged when it is the chosen range."""
    if first is None and last is None:
        return [(segment, True)]
    count = len(segment.words)
    first = 0 if first is None else first
    last = count - 1 if last is None else last
    if not count or not 0 <= first <= last < count:
        accepted = f"0 to {count - 1}" if count else "none: this segment has no words"
        raise InvalidInput(f"word: {first!r}–{last!r} is not a range of this segment's words; accepted: {accepted}",
                           field="word")
    if first == 0 and last == count - 1:
        return [(segment, True)]
    ranges = [(0, first, False), (first, last + 1, True), (last + 1, count, False)]
    return [(_piece(segment, segment.words[a:b], joiner), chosen) for a, b, chosen in ranges if b > a]


def _piece(segment: Segment, words: Sequence[Word], joiner: str) -> Segment:
    """Part of a segment: its words, their text, their span (the parent's bounds where a word is untimed)."""
    starts = [word.start for word in words if word.start is not None]
    ends = [word.end for word in words if word.end is not None]
    start = min(starts) if starts else segment.start
    return dataclasses.replace(segment, words=tuple(words), text=joiner.join(word.word.strip() for word in words),
                               start=start, end=max(max(ends) if ends else segment.end, start), **_STATISTICS_CLEARED)


def _turns_with(turns: list[SpeakerTurn], start: float, end: float, speaker: str) -> list[SpeakerTurn]:
    """The turns with [start, end] given to `speaker`: other turns are cut around it, then same-speaker turns
    that touch are joined."""
    kept: list[SpeakerTurn] = []
    for turn in turns:
        if turn.end <= start or turn.start >= end:
            kept.append(turn)
            continue
        if turn.start < start:
            kept.append(dataclasses.replace(turn, end=start))
        if turn.end > end:
            kept.append(dataclasses.replace(turn, start=end))
    kept.append(SpeakerTurn(start=start, end=end, speaker=speaker))
    return _joined_turns(kept)


def _joined_turns(turns: Sequence[SpeakerTurn]) -> list[SpeakerTurn]:
    """Sorted by start; a speaker's turns that overlap or touch become one."""
    joined: list[SpeakerTurn] = []
    last_of: dict[str, int] = {}
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        previous = last_of.get(turn.speaker)
        if previous is not None and joined[previous].end >= turn.start - 1e-6 and previous == len(joined) - 1:
            joined[previous] = dataclasses.replace(joined[previous], end=max(joined[previous].end, turn.end))
            continue
        last_of[turn.speaker] = len(joined)
        joined.append(turn)
    return joined
