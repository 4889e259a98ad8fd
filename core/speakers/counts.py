"""Speaker counts asked for (`num_speakers`, `min_speakers`) honoured in the transcript's words, or said not to be.

Diarization can honour a count in its turns while the words lose a speaker: each word goes to the speaker who
holds most of it in the one-speaker-at-a-time turns, so a voice heard only over someone else, or in turns the
words' times miss, ends up with no word, and the transcript shows fewer people than the user said were there
(a two-speaker meeting excerpt came out as one speaker with *Number of speakers* = 2, and no word of warning).
Here such a voice takes the words its own turns cover most of; when that still leaves fewer speakers than asked
for, the job says so, naming the count asked for and what was found.

Pure logic on whisperx segment dicts after speakers are assigned; no models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.speakers.strays import speech_by_speaker
from core.speakers.word_labels import split_at_speaker_changes
from core.transcript.result import SpeakerTurn

MIN_COVER = 0.5  # a turn must hold this share of a word to give it to its speaker


def speakers_in_words(segments: Iterable[dict]) -> set[str]:
    return {word["speaker"] for segment in segments for word in segment.get("words") or ()
            if word.get("speaker")} or {segment["speaker"] for segment in segments if segment.get("speaker")}


def honour_count(segments: list[dict], turns: Sequence[SpeakerTurn], wanted: int | None, *,
                 joiner: str = " ") -> tuple[list[dict], str | None]:
    """`segments` (labelled and split at speaker changes) where every speaker of `turns`, up to `wanted`, has
    words (split again where words changed hands), and a warning when fewer than `wanted` speakers could be given
    any (None when the count is met or none was asked for)."""
    found = speakers_in_words(segments)
    if wanted is None or len(found) >= wanted:
        return segments, None
    words = [word for segment in segments for word in segment.get("words") or () if _timed(word)]
    durations = speech_by_speaker(turns)
    silent = sorted((speaker for speaker in durations if speaker not in found), key=lambda s: -durations[s])
    for speaker in silent:
        if len(found) >= wanted:
            break
        own = [turn for turn in turns if turn.speaker == speaker]
        held = {}  # words each speaker holds now: none may lose its last one
        for word in words:
            held[word.get("speaker")] = held.get(word.get("speaker"), 0) + 1
        for word in words:
            owner = word.get("speaker")
            if _share(word, own) >= MIN_COVER and (owner is None or held[owner] > 1):
                held[owner] -= 1
                word["speaker"] = speaker
                found.add(speaker)
    segments = split_at_speaker_changes(segments, joiner=joiner, settle=False)
    if len(found) >= wanted:
        return segments, None
    voices = len(durations)
    why = (f"diarization told {voices} voice{'s' * (voices != 1)} apart" if voices < wanted else
           f"{voices - len(found)} of the {voices} voices diarization found spoke no transcribed word")
    return segments, (f"{wanted} speakers were asked for, but the transcript's words carry {len(found)}: {why}. "
                      "The recording may hold fewer voices, or too little speech of some of them.")


def _timed(word: dict) -> bool:
    return word.get("start") is not None and word.get("end") is not None


def _share(word: dict, turns: Sequence[SpeakerTurn]) -> float:
    length = max(word["end"] - word["start"], 1e-3)
    held = sum(max(0.0, min(turn.end, word["end"]) - max(turn.start, word["start"])) for turn in turns)
    return held / length
