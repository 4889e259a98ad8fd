"""The quality report's measures, as pure functions of times and words (no models): pyannote.metrics does the DER.

A transcript is scored for who spoke when from its own speaker-labelled words ("units": words, or segments
when a system gives no word times), not only from the diarization's turns: a word stretched over a pause is
false alarm, a lost word is missed speech, a word given the wrong speaker is confusion. Collars follow NIST
(±0.25 s around each reference boundary = pyannote.metrics' `collar=0.5`, the collar's full width).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

COMPONENTS = ("missed detection", "false alarm", "confusion", "total")


@dataclass(frozen=True)
class Unit:
    """One timed piece of a transcript: a word (or a segment when a system times no words) and its speaker."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def annotation(turns: Iterable[tuple[float, float, str | None]], uri: str = "clip") -> Annotation:
    """Speaker turns (start, end, speaker) as a pyannote Annotation. Empty spans are dropped, and so are spans
    without a speaker: a word that does not say who spoke it counts as missed speech (were it given a label of
    its own, the DER's optimal mapping could pair it with an unmatched reference speaker for free)."""
    result = Annotation(uri=uri)
    for index, (start, end, speaker) in enumerate(turns):
        if end > start and speaker:
            result[Segment(start, end), index] = speaker
    return result


def units_annotation(units: Iterable[Unit], uri: str = "clip") -> Annotation:
    """Who spoke when as a transcript shows it: each timed unit is a turn of its speaker."""
    return annotation(((u.start, u.end, u.speaker) for u in units), uri)


def scorer(collar_s: float, *, skip_overlap: bool) -> DiarizationErrorRate:
    """A DER accumulator: `collar_s` is the NIST half-width (0.25 → pyannote's 0.5); `skip_overlap` leaves out
    the reference's overlapped speech (which a one-speaker-per-word transcript cannot cover)."""
    return DiarizationErrorRate(collar=2 * collar_s, skip_overlap=skip_overlap)


def score(metric: DiarizationErrorRate, reference: Annotation, hypothesis: Annotation,
          duration_s: float) -> dict[str, float]:
    """One file's DER and its parts in seconds (`missed detection`, `false alarm`, `confusion`, `total`),
    over the whole clip (speech outside the reference is false alarm); the metric also adds it to its pool."""
    uem = Timeline([Segment(0.0, duration_s)], uri=reference.uri)
    details = metric(reference, hypothesis, uem=uem, detailed=True)
    return {name: float(details[name]) for name in COMPONENTS} | {"der": float(details[metric.metric_name()])}


def pooled(metric: DiarizationErrorRate) -> dict[str, float]:
    """The pool of every file the metric scored: parts summed, DER = their sum over the total reference time."""
    parts = {name: float(metric.accumulated_.get(name, 0.0)) for name in COMPONENTS}
    return parts | {"der": float(abs(metric)) if parts["total"] else float("nan")}


def speech_coverage(reference: Annotation, units: Iterable[Unit]) -> float:
    """Share of the reference's speech time (any speaker) that some timed unit covers."""
    speech = reference.get_timeline().support()
    covered = Timeline([Segment(u.start, u.end) for u in units if u.end > u.start]).support()
    total = speech.duration()
    return speech.crop(covered, mode="intersection").duration() / total if total else float("nan")


def speakers_found(units: Iterable[Unit]) -> int:
    """How many distinct speakers the transcript names (unlabelled units are not a speaker)."""
    return len({u.speaker for u in units if u.speaker})


def tokens(text: str) -> list[str]:
    """Lower-case words without punctuation, for loop counting ("Yeah," and "yeah." are one word)."""
    return re.findall(r"[\w']+", text.lower())


def longest_loop(words: Sequence[str], max_n: int = 4) -> tuple[int, str]:
    """The longest run of one n-gram (n ≤ max_n) repeated back to back: (times in a row, the n-gram).
    "yeah yeah yeah" → (3, "yeah"); "I mean I mean I mean" → (3, "i mean"); no repeat → (1, first word)."""
    best = (1 if words else 0, words[0] if words else "")
    for n in range(1, max_n + 1):
        for start in range(len(words) - n + 1):
            gram = tuple(words[start:start + n])
            runs, position = 1, start + n
            while tuple(words[position:position + n]) == gram:
                runs, position = runs + 1, position + n
            if runs > best[0]:
                best = (runs, " ".join(gram))
    return best


# ---- words: WER, alignment, turns missing ---------------------------------------------------------------------------
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}
_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
# Hesitations a transcriber writes and Whisper mostly leaves out: not words for WER (Whisper's own English
# normaliser drops the same ones). "Mm-hmm" normalises to "mm hmm": both go.
_FILLERS = frozenset({"hmm", "hm", "mm", "mhm", "mmm", "uh", "um"})


def _cardinal(number: int) -> list[str]:
    """English words of 0 ≤ number < 1,000,000 (no "and": "six hundred seventy")."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        return [_TENS[number // 10]] + ([_ONES[number % 10]] if number % 10 else [])
    if number < 1000:
        return [_ONES[number // 100], "hundred"] + (_cardinal(number % 100) if number % 100 else [])
    return _cardinal(number // 1000) + ["thousand"] + (_cardinal(number % 1000) if number % 1000 else [])


def _ordinal(number: int) -> list[str]:
    words = _cardinal(number)
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return words


def wer_words(text: str) -> list[str]:
    """Words for WER and alignment: the bench's usual normalisation (lower case, no punctuation; see
    tests/speech.py), hesitations ("uh", "mm-hmm") left out, and the spellings a transcriber and a recogniser
    legitimately differ in: "Mr." = "mister", "10" = "ten", "15th" = "fifteenth" (numbers below a million). Years and
    other number readings are not guessed."""
    from tests.speech import normalize

    words: list[str] = []
    for word in normalize(text):
        ordinal = re.fullmatch(r"(\d{1,6})(st|nd|rd|th)", word)
        if word in _FILLERS:
            continue
        if word.isdigit() and len(word) <= 6:
            words += _cardinal(int(word))
        elif ordinal:
            words += _ordinal(int(ordinal.group(1)))
        else:
            words.append(_TITLES.get(word, word))
    return words


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """A minimum-edit (Levenshtein) alignment of two word sequences, with the most exact matches among those:
    (reference index, hypothesis index) pairs in order; None on one side is a deletion or an insertion."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    edit = rows + cols  # an edit outweighs any number of matches: fewest edits first, then most matches
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i * edit
    for j in range(cols):
        cost[0][j] = j * edit
    for i in range(1, rows):
        above, row, ref_word = cost[i - 1], cost[i], reference[i - 1]
        for j in range(1, cols):
            row[j] = min(above[j - 1] + (-1 if ref_word == hypothesis[j - 1] else edit), above[j] + edit,
                         row[j - 1] + edit)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = rows - 1, cols - 1
    while i or j:
        step = -1 if i and j and reference[i - 1] == hypothesis[j - 1] else edit
        if i and j and cost[i][j] == cost[i - 1][j - 1] + step:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + edit:
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    return pairs[::-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference words) of `hypothesis` against `reference`, both through `wer_words`."""
    ref = wer_words(reference)
    return _edits(ref, wer_words(hypothesis)), len(ref)


def cp_word_errors(reference: dict[str, str], units: Sequence[Unit]) -> tuple[int, int]:
    """Concatenated minimum-permutation word errors (cpWER, as CHiME-6 scores meetings): each reference speaker's
    words against the words of the transcript's speaker paired with them, the pairing that makes the fewest
    edits; a speaker left unpaired on either side counts all its words (words without a speaker are one more
    transcript "speaker"). Returns (edits, reference words). Needs no word order across speakers, which
    overlapped speech does not have."""
    from scipy.optimize import linear_sum_assignment

    theirs = [wer_words(text) for text in reference.values()]
    streams: dict[str | None, list[str]] = {}
    for unit in units:
        streams.setdefault(unit.speaker, []).extend(wer_words(unit.text))
    ours = list(streams.values())
    size = max(len(theirs), len(ours))
    theirs += [[]] * (size - len(theirs))
    ours += [[]] * (size - len(ours))
    cost = [[_edits(ref, hyp) for hyp in ours] for ref in theirs]
    rows, cols = linear_sum_assignment(cost)
    return int(sum(cost[r][c] for r, c in zip(rows, cols, strict=True))), sum(len(words) for words in theirs)


def _edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    return sum(1 for r, h in align(reference, hypothesis) if r is None or h is None or reference[r] != hypothesis[h])


def hits(reference: Sequence[str], hypothesis: Sequence[str]) -> list[int | None]:
    """For each reference word, the hypothesis word it is matched to exactly in the alignment (None: missed)."""
    matched: list[int | None] = [None] * len(reference)
    for r, h in align(reference, hypothesis):
        if r is not None and h is not None and reference[r] == hypothesis[h]:
            matched[r] = h
    return matched


def missing_turns(turn_texts: Sequence[str], hypothesis: str) -> list[int]:
    """Indices of the reference turns the transcript lost: fewer than half of a turn's words are hits when the
    whole transcript is aligned to all the turns' words in order. A turn swallowed into a neighbour's sentence
    but transcribed still counts as present (its words are there); a turn dropped or garbled is missing."""
    words = [wer_words(text) for text in turn_texts]
    matched = hits([word for turn in words for word in turn], wer_words(hypothesis))
    missing, offset = [], 0
    for index, turn in enumerate(words):
        found = sum(1 for position in range(offset, offset + len(turn)) if matched[position] is not None)
        if turn and found * 2 < len(turn):
            missing.append(index)
        offset += len(turn)
    return missing


# ---- speaker verification -------------------------------------------------------------------------------------------
def equal_error_rate(same: Sequence[float], different: Sequence[float]) -> tuple[float, float]:
    """(EER, threshold) of similarity scores: the threshold where the share of same-speaker pairs scored below it
    (misses) equals the share of different-speaker pairs scored at or above it (false accepts); between two
    candidate thresholds the two rates are interpolated, as is usual. NaN without both kinds of pairs."""
    if not same or not different:
        return math.nan, math.nan
    candidates = sorted(set(same) | set(different))
    same_sorted, different_sorted = sorted(same), sorted(different)

    def rates(threshold: float) -> tuple[float, float]:
        miss = bisect.bisect_left(same_sorted, threshold) / len(same_sorted)
        accept = (len(different_sorted) - bisect.bisect_left(different_sorted, threshold)) / len(different_sorted)
        return miss, accept

    previous = None
    for threshold in [*candidates, math.inf]:
        miss, accept = rates(threshold)
        if miss >= accept:
            if previous is None:
                return (miss + accept) / 2, threshold
            last_threshold, last_miss, last_accept = previous
            # The crossing lies between the last two thresholds: interpolate the two (piecewise constant) rates.
            gap_before, gap_after = last_accept - last_miss, miss - accept
            weight = gap_before / (gap_before + gap_after) if gap_before + gap_after else 0.5
            eer = last_miss + weight * (miss - last_miss)
            return eer, threshold if math.isfinite(threshold) else last_threshold
        previous = (threshold, miss, accept)
    return math.nan, math.nan


def score_summary(scores: Sequence[float]) -> dict[str, float]:
    if not scores:
        return {"count": 0, "mean": math.nan, "min": math.nan, "max": math.nan}
    return {"count": len(scores), "mean": sum(scores) / len(scores), "min": min(scores), "max": max(scores)}
