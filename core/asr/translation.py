"""`translate=true`: keep the transcript and add an English translation, as the official faster-whisper worker
does (its `translation` field), from a second decoding pass (task=translate) over the same decoded audio with the
same model and options. Where the transcript is English already (English audio, or an English-only model that
cannot translate), the translation is the transcript itself and no second pass runs.
"""

from __future__ import annotations

from typing import Any

from core.transcript.result import Segment, segments_from_whisperx


def translated_segments(engine: Any, asr: Any, job: Any, language: str, task: str,
                        segments: list[dict]) -> tuple[Segment, ...] | None:
    """The translation's segments (text and whisper's timestamps), or None when `translate` is off."""
    if not job.options.translate:
        return None
    if task == "translate" or language == "en" or asr.english_only:
        job.progress.update("translate", 1.0)
        return tuple(_without_speakers(segment) for segment in segments_from_whisperx(segments))
    translated = engine._transcribe(asr, job, language, "translate", timestamps=True, stage="translate")
    return segments_from_whisperx(translated)


def _without_speakers(segment: Segment) -> Segment:
    return Segment(start=segment.start, end=segment.end, text=segment.text)
