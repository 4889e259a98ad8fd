"""Recognising people from the voice library: voiceprints for enrolment, and naming a job's diarized speakers.

Both sides are embedded by the speaker-embedding model of the diarization pipeline (as `verification` does), from
speech turns found by diarization, so a clip that is enrolled and a meeting that is transcribed are measured the
same way. Speakers are matched to voices one to one, best cosine similarity first, above the embedding model's own
threshold (`core.speakers.verification.naming_threshold`); an
unknown voice keeps its label, never the nearest name.
"""

from __future__ import annotations

import contextlib
import hashlib
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from core.errors import InvalidInput
from core.speakers.diarization import diarize
from core.speakers.verification import (
    SpeakerMatch,
    embedding_model,
    match,
    naming_threshold,
    network_of,
    speaker_voices,
)
from core.speakers.voices import Voiceprint
from core.transcript.result import SpeakerTurn

MIN_ENROL_S = 2.0  # less speech than this says too little about a voice
MAX_OTHER_SHARE = 0.25  # an enrolment clip where other voices speak more than this is refused: one person per clip

_identities: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def model_identity(model: Any) -> str:
    """What identifies a speaker-embedding model: its class and a digest of its weights (two copies of the same
    weights agree; retrained or different weights never do). Computed once per loaded model."""
    try:
        return _identities[model]
    except (KeyError, TypeError):
        pass
    network = network_of(model)
    digest = hashlib.sha256()
    state = network.state_dict() if hasattr(network, "state_dict") else {}
    for key in sorted(state):
        tensor = state[key]
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    identity = f"{type(network).__name__}/{getattr(model, 'dimension', '?')}/sha256:{digest.hexdigest()[:16]}"
    with contextlib.suppress(TypeError):  # a model that cannot be weakly referenced is hashed again next time
        _identities[model] = identity
    return identity


def voiceprint(pipeline: Any, audio: np.ndarray, *, source: str, turns: Iterable[SpeakerTurn] | None = None,
               label: str | None = None, field: str = "audio") -> Voiceprint:
    """One person's voiceprint: from `turns` of `label` in a transcribed recording, or (without turns) from a clip
    of that person alone, whose speech diarization finds; a clip with other voices is refused."""
    if turns is None:
        found = diarize(pipeline, audio).exclusive
        seconds = _speech_by_speaker(found)
        if not seconds:
            raise InvalidInput(f"{field}: no speech found to enrol", field=field)
        label = max(seconds, key=lambda speaker: seconds[speaker])
        others = sum(seconds.values()) - seconds[label]
        if others > MAX_OTHER_SHARE * sum(seconds.values()):
            raise InvalidInput(f"{field}: more than one voice speaks in it ({len(seconds)} found); enrol from a clip "
                               "of one person", field=field)
        turns = found
    chosen = [turn for turn in turns if label is None or turn.speaker == label]
    spoken = sum(turn.end - turn.start for turn in chosen)
    voice = speaker_voices(embedding_model(pipeline), audio,
                           [SpeakerTurn(start=t.start, end=t.end, speaker="voice") for t in chosen]).get("voice")
    if voice is None or spoken < MIN_ENROL_S:
        raise InvalidInput(f"{field}: {spoken:.1f} s of speech is too little to remember a voice; give at least "
                           f"{MIN_ENROL_S:g} s", field=field)
    return Voiceprint(voice.astype(np.float32), round(spoken, 1), source)


def recognize(pipeline: Any, references: Mapping[str, np.ndarray], audio: np.ndarray,
              turns: Iterable[SpeakerTurn], *, threshold: float | None = None) -> dict[str, SpeakerMatch]:
    """Each diarized label → its match among the library's voices (name None below the threshold, by default the
    embedding model's own)."""
    if not references:
        return {}
    model = embedding_model(pipeline)
    voices = speaker_voices(model, audio, turns)
    return match(voices, references, threshold=naming_threshold(model) if threshold is None else threshold)


def _speech_by_speaker(turns: Iterable[SpeakerTurn]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for turn in turns:
        seconds[turn.speaker] = seconds.get(turn.speaker, 0.0) + turn.end - turn.start
    return seconds
