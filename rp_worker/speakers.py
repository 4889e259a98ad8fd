"""`speaker_verification` + `speaker_samples`: fetch the reference voices (same guards as the audio), then name
the diarized speakers with `core.speakers.verification`. Problems that leave the transcript valid (diarization
off, a sample too short, no match) are warnings, as in the WhisperX worker, which degrades the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core import Result
from core.media.decode import decode_audio
from core.media.fetch import Limits, fetch_source
from rp_worker.inputs import Request


def fetch_samples(request: Request, directory: Path, limits: Limits) -> dict[str, list[np.ndarray]]:
    """Fetch and decode each sample before any transcription (refusals name `speaker_samples[i]`): name → clips.
    None unless verification is on."""
    if not request.speaker_verification:
        return {}
    clips: dict[str, list[np.ndarray]] = {}
    for index, sample in enumerate(request.speaker_samples):
        media = fetch_source(sample.field, sample.source, directory, limits, stem=f"speaker-sample-{index}")
        decoded = decode_audio(media.path, max_bytes=limits.max_bytes, label=sample.field)
        media.path.unlink(missing_ok=True)
        clips.setdefault(sample.name, []).append(decoded.samples)
    return clips


def request_warnings(request: Request) -> list[str]:
    if request.speaker_samples and not request.speaker_verification:
        return ["speaker_samples ignored: set speaker_verification=true to name speakers from them"]
    if request.speaker_verification and not request.options.diarization:
        return ["speaker_verification needs diarization=true: speakers were not named"]
    if request.speaker_verification and not request.speaker_samples:
        return ["speaker_verification without speaker_samples: speakers keep their labels"]
    return []


def name_speakers(service: Any, request: Request, result: Result, audio: Any,
                  clips: dict[str, list[np.ndarray]]) -> tuple[dict[str, str], list[str]]:
    """Diarization label → sample name for the speakers whose voice matches a sample; and warnings."""
    return service.name_speakers(result, audio.samples, clips, token=request.options.huggingface_access_token,
                                 diarization_model=request.options.diarization_model)
