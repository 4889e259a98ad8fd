"""`speaker_verification` + `speaker_samples`: fetch the reference voices (same guards as the audio), then name
the diarized speakers with `core.speakers.verification`. Problems that leave the transcript valid (diarization
off, a sample too short, no match) are warnings, as in the WhisperX worker, which degrades the same way.

`remember_speaker_samples`: the samples are enrolled into the voice library (`core.speakers.voices`) before the
transcription, so this job and every later one recognise them; a sample that cannot be enrolled refuses the job,
naming it, and nothing is stored."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from core import Result
from core.errors import check_cancelled
from core.media.decode import decode_audio
from core.media.fetch import Limits, fetch_source
from rp_worker.inputs import Request

Clips = dict[str, list[tuple[np.ndarray, str]]]  # name → (16 kHz samples, the request field it came from)


def fetch_samples(request: Request, directory: Path, limits: Limits, max_seconds: float | None = None,
                  cancel: threading.Event | None = None) -> Clips:
    """Fetch and decode each sample before any transcription (refusals name `speaker_samples[i]`), each at most
    `max_seconds` long (MAX_AUDIO_MINUTES, as the audio): name → clips. Empty unless verification or remembering
    is on. Setting `cancel` stops at the next sample or download chunk (`Cancelled`)."""
    if not (request.speaker_verification or request.remember_speaker_samples):
        return {}
    clips: Clips = {}
    for index, sample in enumerate(request.speaker_samples):
        check_cancelled(cancel)
        media = fetch_source(sample.field, sample.source, directory, limits, stem=f"speaker-sample-{index}",
                             cancel=cancel)
        decoded = decode_audio(media.path, max_bytes=limits.max_bytes, max_seconds=max_seconds, label=sample.field)
        media.path.unlink(missing_ok=True)
        clips.setdefault(sample.name, []).append((decoded.samples, sample.field))
    return clips


def remember_samples(service: Any, request: Request, clips: Clips) -> list[str]:
    """With `remember_speaker_samples`: every sample's voiceprint first (any refusal stores nothing), then each
    name into the voice library. Returns the names kept."""
    if not request.remember_speaker_samples or not clips:
        return []
    options = request.options
    kept = service.remember_voices({name: [(samples, f"runpod: {field}", field) for samples, field in found]
                                    for name, found in clips.items()},
                                   diarization_model=options.diarization_model, token=options.huggingface_access_token)
    return [voice.name for voice in kept]


def request_warnings(request: Request) -> list[str]:
    if request.remember_speaker_samples and not request.speaker_samples:
        return ["remember_speaker_samples without speaker_samples: no voice was kept"]
    if request.speaker_samples and not (request.speaker_verification or request.remember_speaker_samples):
        return ["speaker_samples ignored: set speaker_verification=true to name speakers from them (or "
                "remember_speaker_samples=true to keep them in the voice library)"]
    if request.speaker_verification and not request.options.diarization:
        return ["speaker_verification needs diarization=true: speakers were not named"]
    if request.speaker_verification and not request.speaker_samples:
        return ["speaker_verification without speaker_samples: speakers keep their labels"]
    return []


def name_speakers(service: Any, request: Request, result: Result, audio: Any,
                  clips: Clips) -> tuple[dict[str, str], list[str]]:
    """Diarization label → sample name for the speakers whose voice matches a sample (those the voice library
    already named keep their names); and warnings."""
    if not request.speaker_verification:
        return {}, []
    return service.name_speakers(result, audio.samples, {name: [samples for samples, _ in found]
                                                         for name, found in clips.items()},
                                 token=request.options.huggingface_access_token,
                                 diarization_model=request.options.diarization_model)
