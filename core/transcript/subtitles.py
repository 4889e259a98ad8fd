"""Subtitle cues laid out from a `Result`: the one place that decides what each SRT/WebVTT cue holds.

whisperX's subtitle writer merges segments into cues across speaker changes (the cue then carries the first
speaker's label), leaves the `[SPEAKER]: ` prefix out of the line width, joins words that already carry their
leading space (so lines end in spaces) and writes a cue of a zero-length word with start = end. Here a cue
never crosses a speaker change; every line, the prefixed first one included, is at most `max_line_width`
characters; a cue has at most `max_line_count` lines; lines have no trailing spaces; every cue ends at least
MIN_CUE_S after it starts. whisperX's writers still format the files (timestamps, numbering).

Without both `max_line_width` and `max_line_count` a cue is one segment (whisperX's rule), wrapped to the width
when one is given; with both, a cue fills up to the line count and breaks at speaker changes and pauses over
PAUSE_S.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

from core.transcript.result import Result, Segment

MIN_CUE_S = 0.2  # a cue (or a highlighted word) shorter than this is lengthened, up to where the next begins
PAUSE_S = 3.0  # whisperX's subtitle rule: a longer pause between words starts a new cue


@dataclasses.dataclass(frozen=True)
class Piece:
    """A word (or, without word times, a segment's text: `is_word` false) with the times and speaker it is shown
    with."""

    text: str
    start: float | None
    end: float | None
    speaker: str | None
    is_word: bool = True


@dataclasses.dataclass(frozen=True)
class Cue:
    """One subtitle: its lines (the speaker prefix not included), times and speaker, and its pieces."""

    start: float
    end: float
    speaker: str | None
    lines: tuple[str, ...]
    pieces: tuple[Piece, ...] = ()
    owners: tuple[tuple[int, ...], ...] = ()  # per line, per word: its piece's index in `pieces`
    words: tuple[tuple[str, ...], ...] = ()  # per line, its words (joined by `joiner` into `lines`)
    spans: tuple[tuple[float, float] | None, ...] = ()  # per piece, the part of its time this cue shows
    joiner: str = " "

    def text(self) -> str:
        """The cue as shown: the speaker label opens the first line (alone on it when the first word did not
        fit beside it)."""
        label = prefix(self.speaker)
        first = f"{label}{self.lines[0]}" if self.lines[0] else label.rstrip()
        return "\n".join((first, *self.lines[1:]))

    def highlighted(self) -> list[Cue]:
        """whisperX's `highlight_words`: one cue per timed word with that word underlined, plus the plain
        cue over any gap before a word; text without word times (a segment's) is not highlighted, as whisperX
        does not. Real spans are made once over all cues (`with_real_spans`), so a word never outlasts the next
        cue's start."""
        steps: list[Cue] = []
        last = self.start
        for position, (piece, span) in enumerate(zip(self.pieces, self.spans, strict=True)):
            if not piece.is_word or span is None:
                continue
            if span[0] > last:
                steps.append(dataclasses.replace(self, start=last, end=span[0]))
            lines = tuple(self.joiner.join(f"<u>{word}</u>" if owner == position else word
                                           for word, owner in zip(words, owners, strict=True))
                          for words, owners in zip(self.words, self.owners, strict=True))
            steps.append(dataclasses.replace(self, start=span[0], end=span[1], lines=lines))
            last = max(last, span[1])
        return steps or [self]


def prefix(speaker: str | None) -> str:
    """The label that opens a cue (whisperX's form), counted in the first line's width."""
    return f"[{speaker}]: " if speaker else ""


def cues(result: Result, max_line_width: int | None = None, max_line_count: int | None = None,
         joiner: str = " ") -> list[Cue]:
    """The cues of `result`, in time order, with real spans (see the module docstring for the rules). `joiner`
    goes between words: "" for text written without spaces (`core.asr.languages.word_joiner`)."""
    merge_segments = max_line_width is not None and max_line_count is not None
    laid: list[Cue] = []
    for run in _runs(result, merge_segments):
        laid.extend(_layout(run, max_line_width, max_line_count, joiner))
    return with_real_spans(laid)


def _pieces(segment: Segment, with_words: bool) -> list[Piece]:
    if not with_words or not any(word.word.strip() for word in segment.words):
        return [Piece(segment.text.strip(), segment.start, segment.end, segment.speaker, is_word=False)]
    return [Piece(word.word.strip(), word.start, word.end, word.speaker or segment.speaker)
            for word in segment.words if word.word.strip()]


def _runs(result: Result, merge_segments: bool) -> Iterator[list[Piece]]:
    """Pieces grouped into stretches that a cue may not cross: a speaker change always; a segment boundary
    unless segments are merged; a pause over PAUSE_S when they are."""
    run: list[Piece] = []
    last_end: float | None = None
    for segment in result.segments:
        if run and not merge_segments:
            yield run
            run = []
        for piece in _pieces(segment, bool(segment.words)):  # a segment without word times shows its text
            paused = piece.start is not None and last_end is not None and piece.start - last_end > PAUSE_S
            if run and (piece.speaker != run[-1].speaker or (merge_segments and paused)):
                yield run
                run = []
            run.append(piece)
            last_end = piece.end if piece.end is not None else last_end
    if run:
        yield run


def _layout(run: list[Piece], width: int | None, count: int | None, joiner: str = " ") -> Iterator[Cue]:
    """Fill lines greedily (the first line of each cue leaves room for the speaker prefix), then cut a cue every
    `count` lines. A word longer than a whole line is cut at the width. A piece split over several cues (a
    segment without word times) gives each cue its share of the piece's time, by characters."""
    speaker = run[0].speaker
    lines: list[list[str]] = []
    placed: list[list[tuple[int, int]]] = []  # per line: (index of the piece in `run`, characters of it)
    for index, piece in enumerate(run):
        for word in piece.text.split():
            remaining = word
            while remaining:
                if lines and _fits(lines[-1], remaining, _budget(width, speaker, len(lines) - 1, count), joiner):
                    lines[-1].append(remaining)
                    placed[-1].append((index, len(remaining)))
                    break
                budget = _budget(width, speaker, len(lines), count)
                if _label_alone(remaining, budget, width, count, len(lines)):
                    lines.append([])  # the word fits a line but not beside the label: the label stands alone
                    placed.append([])
                    continue
                chunk = remaining if budget is None else remaining[:budget]
                lines.append([chunk])
                placed.append([(index, len(chunk))])
                remaining = remaining[len(chunk):]
    totals = [0] * len(run)
    for line in placed:
        for index, chars in line:
            totals[index] += chars
    done = [0] * len(run)
    step = count or len(lines) or 1
    for first in range(0, len(lines), step):
        shares: dict[int, int] = {}
        for line in placed[first:first + step]:
            for index, chars in line:
                shares[index] = shares.get(index, 0) + chars
        spans: list[tuple[float, float] | None] = []  # per piece of this cue: its share of the piece's time
        for index, chars in shares.items():
            piece = run[index]
            if piece.start is not None and piece.end is not None:
                length = piece.end - piece.start
                spans.append((piece.start + length * done[index] / totals[index],
                              piece.start + length * (done[index] + chars) / totals[index]))
            else:
                spans.append(None)
            done[index] += chars
        timed = [span for span in spans if span is not None]
        start = min(a for a, _ in timed) if timed else math.nan  # untimed: placed after the cue before
        order = list(shares)
        cue_lines = lines[first:first + step]
        yield Cue(start, max(b for _, b in timed) if timed else math.nan, speaker,
                  tuple(joiner.join(words) for words in cue_lines),
                  tuple(run[index] for index in order),
                  tuple(tuple(order.index(index) for index, _ in line) for line in placed[first:first + step]),
                  tuple(tuple(words) for words in cue_lines), tuple(spans), joiner)


def _label_alone(word: str, budget: int | None, width: int | None, count: int | None, line_index: int) -> bool:
    """A cue's first line cannot hold `word` beside the speaker label, but a whole line could, and the cue has
    room for a second line."""
    first_of_cue = line_index == 0 if count is None else line_index % count == 0
    return (budget is not None and width is not None and first_of_cue and budget < width
            and budget < len(word) <= width and (count is None or count >= 2))


def _budget(width: int | None, speaker: str | None, line_index: int, count: int | None) -> int | None:
    """Characters allowed on line `line_index` of a run: the first line of each cue also holds the prefix."""
    if width is None:
        return None
    first_of_cue = line_index == 0 if count is None else line_index % count == 0
    return max(1, width - len(prefix(speaker))) if first_of_cue else width


def _fits(words: list[str], word: str, budget: int | None, joiner: str = " ") -> bool:
    return budget is None or sum(map(len, words)) + len(joiner) * len(words) + len(word) <= budget


def with_real_spans(laid: list[Cue]) -> list[Cue]:
    """Every cue ends after it starts: one shorter than MIN_CUE_S is lengthened up to the next cue's start
    (never backwards past it), and always by at least two milliseconds (so it survives rounding to ms)."""
    fixed: list[Cue] = []
    for index, cue in enumerate(laid):
        if math.isnan(cue.start):
            previous = fixed[-1].end if fixed else 0.0
            cue = dataclasses.replace(cue, start=previous, end=previous)
        end = max(cue.end, cue.start + MIN_CUE_S)
        following = laid[index + 1].start if index + 1 < len(laid) else None
        if following is not None and following > cue.start:
            end = min(end, following) if cue.end < following else cue.end
        fixed.append(dataclasses.replace(cue, end=max(end, cue.start + 0.002)))
    return fixed
