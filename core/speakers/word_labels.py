"""Who said each word: segments split where the speaker changes, so quick turn-taking survives in the
transcript (one label per sentence loses it: a 4-person meeting excerpt went from 26 % DER in the diarization
turns to 43 % in the labelled transcript).

Works on whisperx segment dicts after `assign_word_speakers`; pure logic, no models.
"""

from __future__ import annotations

import itertools
from typing import Any


def split_at_speaker_changes(segments: list[dict], *, joiner: str = " ") -> list[dict]:
    """One segment per run of words with the same speaker. Words the diarization left unlabelled (in a gap
    between turns) take the label of the nearest labelled word in their segment."""
    result: list[dict] = []
    for segment in segments:
        words = segment.get("words") or []
        labels = _fill_labels([word.get("speaker") for word in words])
        if not words or len(set(labels)) <= 1:
            speaker = labels[0] if labels and labels[0] is not None else segment.get("speaker")
            result.append(_with_speaker(segment, words, labels, speaker))
            continue
        position = 0
        for speaker, run in itertools.groupby(labels):
            count = len(list(run))
            run_words, run_labels = words[position:position + count], labels[position:position + count]
            position += count
            result.append(_run_segment(segment, run_words, run_labels, speaker, joiner))
    return result


def _fill_labels(labels: list[str | None]) -> list[str | None]:
    """Forward-fill, then back-fill for a segment that starts unlabelled."""
    filled: list[str | None] = []
    last = None
    for label in labels:
        last = label if label is not None else last
        filled.append(last)
    first = next((label for label in filled if label is not None), None)
    return [label if label is not None else first for label in filled]


def _with_speaker(segment: dict, words: list[dict], labels: list[str | None], speaker: str | None) -> dict:
    out = {**segment, "words": [_labelled(word, label) for word, label in zip(words, labels, strict=True)]}
    if speaker is not None:
        out["speaker"] = speaker
    return out


def _run_segment(segment: dict, words: list[dict], labels: list[str | None], speaker: str | None,
                 joiner: str) -> dict:
    timed = [word for word in words if word.get("start") is not None]
    start = timed[0]["start"] if timed else segment["start"]
    end = timed[-1]["end"] if timed else segment["end"]
    text = joiner.join(str(word.get("word", "")).strip() for word in words)
    out: dict[str, Any] = {**segment, "start": start, "end": end, "text": text, "tokens": None}
    if "compression_ratio" in segment:
        from core.asr.timestamps import compression_ratio

        out["compression_ratio"] = compression_ratio(text)
    return _with_speaker(out, words, labels, speaker)


def _labelled(word: dict, label: str | None) -> dict:
    return {**word, "speaker": label} if label is not None else dict(word)
