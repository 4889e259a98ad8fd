"""Sentence pieces of a chunk decoded without timestamp tokens: its timed words, cut at sentence ends and pauses.

The transcript is decoded as whisperX decodes it, without timestamp tokens: asked to place timestamps, Whisper
more often skips a sentence in a window that holds several speakers (a whole 5 s turn dropped from the end of a
two-speaker chunk of a real conversation, kept when decoded without them; docs/quality.md).
Segments then come from the words' own times (cross-attention), cut where a sentence ends — not after an
abbreviation or an initial — or where the speaker pauses for PAUSE_SPLIT_S.

Pure logic; no models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

SENTENCE_END_MARKS = ".。!！?？"
CLOSING_MARKS = "\"'”’»)]}"
PAUSE_SPLIT_S = 1.5  # a silence this long between two words ends a segment even mid-sentence
# A final "." after these is an abbreviation, not a sentence end (English; NLTK punkt's list for it is the same).
ENGLISH_ABBREVIATIONS = (
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "corp", "dept", "univ", "gen", "gov", "sen", "rep", "sgt", "capt", "col", "lt", "cmdr", "adm",
    "rev", "hon", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "no", "vol", "pp", "fig", "approx", "est", "u.s",
    "u.k", "a.m", "p.m", "ph.d", "b.a", "m.a", "d.c", "n.y", "l.a", "al", "cf", "ca",
)
_ABBREVIATIONS = frozenset(ENGLISH_ABBREVIATIONS)
# ...but these are also words that end sentences ("No.", "The cat sat.", Spanish or Italian "No."): abbreviations
# only before a number ("No. 5", "Fig. 3", "Mar. 12").
_ROMAN = re.compile(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")
BEFORE_A_NUMBER = frozenset({"no", "fig", "vol", "est", "ca", "sat", "sun", "wed", "mar", "pp"})


class TimedWord(Protocol):
    """What a piece needs of a word (`core.asr.timestamps.WordTiming`): its text as decoded (leading space
    included), chunk-relative times and how many text tokens it spans."""

    word: str
    start: float
    end: float
    tokens: int


def ends_sentence(text: str, following: str | None = None) -> bool:
    """Whether a word, as Whisper wrote it, closes a sentence: a final . ! ? (closing quotes allowed), except
    after an abbreviation ("Mr.") or a single letter ("J."); `following`: the next word, if any ("No." ends a
    sentence, "No. 5" does not)."""
    word = text.strip().rstrip(CLOSING_MARKS)
    if not word or word[-1] not in SENTENCE_END_MARKS:
        return False
    if word[-1] != ".":
        return True
    stem = word.rstrip(".").lstrip("\"'“‘«([{").lower()
    if stem in BEFORE_A_NUMBER:
        return not _is_number(following or "")
    return not (stem in _ABBREVIATIONS or (len(stem) == 1 and stem.isalpha()))


def _is_number(word: str) -> bool:
    """A number as written after "No.", "Vol." or "Fig.": digits ("5", "(3)", "12a") or a Roman numeral in capitals
    ("II", "IV"; not "I", which is far more often the pronoun: "No. I don't"; not "mix" or "did")."""
    core = word.strip().lstrip("\"'“‘«([{#").rstrip(".,;:!?)]}\"'”’»")
    return core[:1].isdigit() or (len(core) > 1 and core.isupper() and bool(_ROMAN.fullmatch(core.lower())))


def next_spoken(words: Sequence[str]) -> list[str | None]:
    """For each word, the next word with text (None after the last): what `ends_sentence` looks ahead at."""
    following: list[str | None] = [None] * len(words)
    upcoming: str | None = None
    for index in range(len(words) - 1, -1, -1):
        following[index] = upcoming
        if words[index].strip():
            upcoming = words[index]
    return following


def sentence_groups(words: Sequence[TimedWord], pause_s: float = PAUSE_SPLIT_S) -> list[list[TimedWord]]:
    """The words in order, grouped into sentences; a pause of `pause_s` or more also starts a new group. Words
    with no text (punctuation merged into a neighbour) stay with the group they fall in, so token counts add up."""
    groups: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    last_spoken: TimedWord | None = None
    following = next_spoken([word.word for word in words])
    for word, after in zip(words, following, strict=True):
        spoken = bool(word.word.strip())
        if spoken and last_spoken is not None and current and word.start - last_spoken.end >= pause_s:
            groups.append(current)
            current = []
        current.append(word)
        if spoken:
            last_spoken = word
            if ends_sentence(word.word, after):
                groups.append(current)
                current = []
    if current:
        if groups and not any(word.word.strip() for word in current):
            groups[-1].extend(current)  # trailing merged punctuation
        else:
            groups.append(current)
    return groups
