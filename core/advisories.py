"""Warnings about a job's request and its outcome that are not errors: the job runs, the result says why it may
not be what was expected (`Result.warnings`)."""

from __future__ import annotations

from typing import Any

SPEAKER_COUNT_OPTIONS = ("num_speakers", "min_speakers", "max_speakers")


def option_warnings(options: Any) -> list[str]:
    """Options that are valid but have no effect as combined."""
    warnings = []
    if not options.diarization:
        given = [name for name in SPEAKER_COUNT_OPTIONS if getattr(options, name) is not None]
        if given:
            warnings.append(f"{', '.join(given)} ignored: speaker counts apply only with diarization=true")
    if "rttm" in options.output_formats and not options.diarization:
        warnings.append("rttm says who spoke when: with diarization=false it is empty")
    if options.translate and options.task == "translate":
        warnings.append("translate=true with task=translate: the transcript is already the English translation")
    return warnings


def no_speech_warning(duration_s: float) -> str:
    return (f"no speech found in {duration_s:.1f} s of audio: the transcript is empty (silence, music or noise; "
            "try lowering vad_onset if there is quiet speech)")
