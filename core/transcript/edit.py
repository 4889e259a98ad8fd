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

from core.asr.sentences import PAUSE_SPLIT_S, ends_sentence, next_spoken
from core.errors import InvalidInput
from core.transcript.overlap import with_overlaps
from core.transcript.result import Result, Segment, SpeakerTurn, Word

_TOUCH_S = 0.05  # a turn ending this close to a moved stretch touches it (the gap is no one's speech)
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
    """Segments `index`..`through` (inclusive; default `index` alone) hold `text` and `words` (timed by the caller;
    they take the first segment's speaker), cut into segments by the rule a transcription cuts them by
    (`core.asr.sentences`: at sentence ends and pauses of PAUSE_SPLIT_S), so an edited turn keeps its subtitle
    cues. Each segment spans its timed words; without timed words, the text is one segment over the old span."""
    first = segment_at(result, index)
    last = segment_at(result, index if through is None else through, "through")
    end_index = index if through is None else through
    if end_index < index:
        raise InvalidInput(f"through: {end_index} comes before segment {index}", field="through")
    cleaned = " ".join((text or "").split()) if joiner else (text or "").strip()
    if not cleaned:
        raise InvalidInput("text: empty; give the segment's words", field="text")
    words = tuple(dataclasses.replace(word, speaker=first.speaker) for word in words)
    template = dataclasses.replace(first, edited=True, **_STATISTICS_CLEARED)
    new = [dataclasses.replace(template, start=start, end=end, text=part, words=group)
           for group, part, (start, end) in _sentences(words, cleaned, joiner, (first.start, last.end))]
    segments = (*result.segments[:index], *new, *result.segments[end_index + 1:])
    return _with_overlaps(dataclasses.replace(result, segments=segments))


def _sentences(words: tuple[Word, ...], text: str, joiner: str, span: tuple[float, float],
               ) -> list[tuple[tuple[Word, ...], str, tuple[float, float]]]:
    """(words, their part of `text`, (start, end)) per segment: `words` cut after a sentence's last word and before
    a word that follows a pause of PAUSE_SPLIT_S; one piece when nothing is timed or the text cannot be dealt out
    to the words (an aligner that changed the characters)."""
    timed = [word for word in words if word.start is not None and word.end is not None]
    if not timed:
        return [(words, text, span)]
    groups: list[list[Word]] = [[]]
    last_end: float | None = None
    following = next_spoken([word.word for word in words])
    for word, after in zip(words, following, strict=True):
        if groups[-1] and word.start is not None and last_end is not None and word.start - last_end >= PAUSE_SPLIT_S:
            groups.append([])
        groups[-1].append(word)
        last_end = word.end if word.end is not None else last_end
        if ends_sentence(word.word, after):
            groups.append([])
    groups = [group for group in groups if group]
    texts = _dealt(text, [[word.word for word in group] for group in groups], joiner)
    if texts is None:
        groups, texts = [list(words)], [text]
    pieces = []
    for group, part in zip(groups, texts, strict=True):
        starts = [word.start for word in group if word.start is not None]
        ends = [word.end for word in group if word.end is not None]
        start = min(starts) if starts else (pieces[-1][2][1] if pieces else span[0])
        end = max(ends) if ends else start
        pieces.append((tuple(group), part, (start, max(end, start))))
    return pieces


def _dealt(text: str, groups: list[list[str]], joiner: str) -> list[str] | None:
    """`text` cut where each group of words ends (matching their characters, spaces aside), or None when the words'
    characters are not the text's."""
    if len(groups) == 1:
        return [text]
    parts, position = [], 0
    for group in groups:
        wanted = "".join("".join(word.split()) for word in group)
        begin = position
        for char in wanted:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text) or text[position] != char:
                return None
            position += 1
        parts.append(text[begin:position].strip())
    if text[position:].strip():
        return None
    return parts


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
    words = _spoken(segments)
    for piece, chosen in pieces:
        if chosen:
            turns = _turns_with(turns, piece.start, piece.end, speaker, words)
    speakers = _with_speaker(result.speakers, speaker)
    moved = {segment.speaker} | {word.speaker for word in segment.words}
    edited = dataclasses.replace(result, segments=segments, diarization=tuple(turns), speakers=speakers)
    return _with_overlaps(_without_silent(edited, moved - {speaker, None}))


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


def _turns_with(turns: list[SpeakerTurn], start: float, end: float, speaker: str,
                words: Sequence[tuple[float, float, str]]) -> list[SpeakerTurn]:
    """The turns with [start, end] given to `speaker`: another speaker's turn that overlaps or touches it keeps,
    on either side, only the stretch that still holds words of theirs, up to those words (`words`: (start, end,
    speaker) of every timed word after the change), so no bar, RTTM line or speaker count is left of speech that
    went to `speaker`, and a split turn ends with its last word; then same-speaker turns that touch are joined."""
    kept: list[SpeakerTurn] = []
    for turn in turns:
        if turn.speaker == speaker or turn.end < start - _TOUCH_S or turn.start > end + _TOUCH_S:
            kept.append(turn)
            continue
        before = _theirs(words, turn.speaker, turn.start, min(turn.end, start))
        if before:  # up to their last word before the stretch
            kept.append(dataclasses.replace(turn, end=min(turn.end, start, max(b for _, b in before))))
        after = _theirs(words, turn.speaker, max(turn.start, end), turn.end)
        if after:  # from their first word after it
            kept.append(dataclasses.replace(turn, start=max(turn.start, end, min(a for a, _ in after))))
    kept.append(SpeakerTurn(start=start, end=end, speaker=speaker))
    return _joined_turns(kept)


def _theirs(words: Sequence[tuple[float, float, str]], speaker: str, start: float, end: float,
            ) -> list[tuple[float, float]]:
    """(start, end) of `speaker`'s words whose middle lies in [start, end)."""
    return [(a, b) for a, b, who in words if who == speaker and start <= (a + b) / 2 < end]


def _spoken(segments: Sequence[Segment]) -> list[tuple[float, float, str]]:
    """(start, end, speaker) of every timed word, or of the segment when it has no timed words."""
    spoken = []
    for segment in segments:
        timed = [(w.start, w.end, w.speaker or segment.speaker) for w in segment.words
                 if w.start is not None and w.end is not None]
        spoken += timed or [(segment.start, segment.end, segment.speaker)]
    return [(a, b, who) for a, b, who in spoken if who is not None]


def _without_silent(result: Result, candidates: set[str | None]) -> Result:
    """`result` without those of `candidates` that no longer say anything: no segment, word or turn of theirs (a
    speaker whose every turn went to someone else is no longer one of the speakers)."""
    heard = {who for *_, who in _spoken(result.segments)} | {turn.speaker for turn in result.diarization or ()}
    gone = {name for name in candidates if name is not None and name not in heard}
    if not gone or result.speakers is None:
        return result
    return dataclasses.replace(result, speakers=tuple(name for name in result.speakers if name not in gone))


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
