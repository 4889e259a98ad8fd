"""The quality report's measures, as pure functions of times and words (no models): pyannote.metrics does the DER.

A transcript is scored for who spoke when from its own speaker-labelled words ("units": words, or segments
when a system gives no word times), not only from the diarization's turns: a word stretched over a pause is
false alarm, a lost word is missed speech, a word given the wrong speaker is confusion. Collars follow NIST
(±0.25 s around each reference boundary = pyannote.metrics' `collar=0.5`, the collar's full width).
"""

from __future__ import annotations

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
