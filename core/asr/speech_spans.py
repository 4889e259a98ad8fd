"""Words kept where speech is: every word's span inside the speech the VAD found, and never empty.

Whisper's cross-attention timing is good on clean speech but unconstrained on real recordings: on AMI meeting
excerpts "Okay," ran 8.35–15.89 s over a pause, "guys" 20.39–24.97 s, and some words came back with start = end
(a nameless 0-second turn, an SRT cue ending where it starts). The VAD's speech regions (`core.asr.chunks`) say
where the pauses are, so each word is clipped to the region it overlaps most (one that falls wholly outside them
keeps its place, at most MAX_UNHEARD_WORD_S long: the VAD misses quiet voices), then given at least MIN_WORD_S
without crossing its neighbours; a short gap between two words inside one stretch of speech goes to the first.

Pure logic on whisperx segment dicts; no models.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

SPEECH_MARGIN_S = 0.1  # the VAD's onset lags a word's first sound (5 s windows, 17 ms frames): allow this much
MIN_WORD_S = 0.1  # a spoken word is never shorter
MAX_UNHEARD_WORD_S = 1.0  # a word outside the VAD's speech is never longer
MAX_JOINED_GAP_S = 1.0  # a shorter gap between two words, all of it speech to the VAD, belongs to the first word

Region = tuple[float, float]


def fit_words_to_speech(segments: list[dict], speech: Sequence[Region], *, margin_s: float = SPEECH_MARGIN_S,
                        min_word_s: float = MIN_WORD_S) -> list[dict]:
    """Segments whose words (or, without words, whose own spans) lie inside `speech` (seconds, sorted), each
    word at least `min_word_s` long where its neighbours leave room; segment spans follow their words, and
    segments come in the order of their fitted starts."""
    regions = _widened(speech, margin_s)
    if not regions:
        return segments
    fitted = [{**segment, "words": [dict(word) for word in segment.get("words") or []]} for segment in segments]
    for word in (word for segment in fitted for word in segment["words"] if _timed(word)):
        word["start"], word["end"] = _inside(regions, word["start"], word["end"])
    order = sorted(range(len(fitted)), key=lambda index: _first_start(fitted[index]))  # as fitted, in time
    fitted, segments = [fitted[index] for index in order], [segments[index] for index in order]
    timed = [word for segment in fitted for word in segment["words"] if _timed(word)]
    _give_spans(timed, regions, min_word_s)
    _close_gaps(timed, regions)
    for segment, original in zip(fitted, segments, strict=True):
        own = [word for word in segment["words"] if _timed(word)]
        if own:
            segment["start"], segment["end"] = own[0]["start"], own[-1]["end"]
        else:
            segment["start"], segment["end"] = _clipped_span(regions, segment["start"], segment["end"])
        if "words" not in original:
            del segment["words"]
    return fitted


def _first_start(segment: dict) -> float:
    return next((word["start"] for word in segment["words"] if _timed(word)), segment["start"])


def _timed(word: dict) -> bool:
    return word.get("start") is not None and word.get("end") is not None


def _widened(speech: Sequence[Region], margin_s: float) -> list[Region]:
    merged: list[list[float]] = []
    for start, end in sorted(speech):
        start, end = max(0.0, start - margin_s), end + margin_s
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _overlap(region: Region, start: float, end: float) -> float:
    return min(region[1], end) - max(region[0], start)


def _inside(regions: list[Region], start: float, end: float) -> tuple[float, float]:
    """The span clipped to the region it overlaps most. A word wholly in what the VAD calls a pause keeps its
    place (a quiet voice the VAD missed is still speech: moving it would lose it) but not a stretched length."""
    best = max(regions, key=lambda region: _overlap(region, start, end))
    if _overlap(best, start, end) > 0 or best[0] <= start <= best[1]:
        return round(max(start, best[0]), 3), round(min(end, best[1]), 3)
    return start, round(min(end, start + MAX_UNHEARD_WORD_S), 3)


def _give_spans(words: list[dict], regions: list[Region], min_word_s: float) -> None:
    """Starts in order, and each word at least `min_word_s` long: grown into the room its region and neighbours
    leave (after, then before), then, where Whisper packed words edge to edge, borrowing from a longer
    neighbour (which keeps at least `min_word_s` itself)."""
    for index in range(1, len(words)):
        previous = words[index - 1]
        if words[index]["start"] < previous["start"]:
            words[index]["start"] = previous["start"]
        words[index]["end"] = max(words[index]["end"], words[index]["start"])
    for index, word in enumerate(words):
        if word["end"] - word["start"] >= min_word_s:
            continue
        region = max(regions, key=lambda item: _overlap(item, word["start"], word["end"]))
        following = words[index + 1] if index + 1 < len(words) else None
        previous = words[index - 1] if index else None
        later = following["start"] if following else region[1]
        earlier = previous["end"] if previous else region[0]
        word["end"] = round(max(word["end"], min(word["start"] + min_word_s, max(later, word["end"]), region[1])), 3)
        if word["end"] - word["start"] < min_word_s:
            word["start"] = round(min(word["start"], max(word["end"] - min_word_s, min(earlier, word["start"]),
                                                         region[0])), 3)
        if word["end"] - word["start"] < min_word_s and following is not None:
            word["end"] = round(max(word["end"], min(word["start"] + min_word_s, following["end"] - min_word_s)), 3)
            following["start"] = max(following["start"], word["end"])
        if word["end"] - word["start"] < min_word_s and previous is not None:
            word["start"] = round(min(word["start"], max(word["end"] - min_word_s,
                                                         previous["start"] + min_word_s)), 3)
            previous["end"] = min(previous["end"], word["start"])


def _close_gaps(words: list[dict], regions: list[Region], max_gap_s: float = MAX_JOINED_GAP_S) -> None:
    """Where the VAD hears speech all through the gap between two words, the first word lasts until the next
    begins: Whisper's word ends fall short in running speech (on AMI excerpts, speech between words was the
    transcript's missed speech), and that sound is one of the two words. Starts, which seeking uses, never move."""
    for word, following in itertools.pairwise(words):
        gap = following["start"] - word["end"]
        if 0 < gap <= max_gap_s and any(start <= word["end"] and following["start"] <= end
                                        for start, end in regions):
            word["end"] = following["start"]


def _clipped_span(regions: list[Region], start: float, end: float) -> tuple[float, float]:
    """A segment without words: from its first speech to its last, inside its own span."""
    inside = [region for region in regions if _overlap(region, start, end) > 0]
    if not inside:
        return start, end
    return round(max(start, inside[0][0]), 3), round(min(end, inside[-1][1]), 3)
