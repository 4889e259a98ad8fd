"""Who spoke when, in one place: load a pyannote pipeline, run it with progress, turn its output into
`SpeakerTurn`s, and label the transcript's words with them.

A pipeline is a pyannote.audio 4 `Pipeline` directory (config.yaml + sub-models) in MODELS_DIR: the default
profile's `pyannote/speaker-diarization-community-1`, the open profile's `open-campp`, or any other pipeline a
builder installs (`docs/CORE_API.md`, "Adding a diarization model"). Jobs pick one by name
(`diarization_model`); every loaded pipeline is kept by the registry and reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from core.media.decode import SAMPLE_RATE
from core.speakers.blockwise import in_blocks
from core.speakers.strays import speech_by_speaker
from core.speakers.windowed_clustering import windowed
from core.transcript.result import SpeakerTurn

# pyannote reports two steps, each counting up to its own total: each gets a share of the stage's progress.
_STEP_SHARES = {"segmentation": (0.0, 0.5), "embeddings": (0.5, 1.0)}


@dataclasses.dataclass(frozen=True)
class Diarization:
    """`turns` may overlap (what was said at once: RTTM, the timeline); `exclusive` never overlap, one speaker
    at a time (what labels each word)."""

    turns: tuple[SpeakerTurn, ...]
    exclusive: tuple[SpeakerTurn, ...]
    # Each speaker's voice as the clustering saw it (its centroid) and its seconds of speech; empty when the
    # pipeline gives no centroids.
    voices: Mapping[str, tuple[np.ndarray, float]] = dataclasses.field(default_factory=dict)


def load_pipeline(source: str, *, token: str | None, device: str) -> Any:
    """A pyannote pipeline from a local directory (or, only while start-up fetches, a hub id)."""
    import torch
    from pyannote.audio import Pipeline

    pipeline = Pipeline.from_pretrained(source, token=token)
    if pipeline is None:  # pyannote returns None (and logs) for a gated repository without access
        raise RuntimeError(f"pyannote returned no pipeline for {source}")
    return pipeline.to(torch.device(device))


def diarize(pipeline: Any, audio: np.ndarray, *, num_speakers: int | None = None, min_speakers: int | None = None,
            max_speakers: int | None = None, on_progress: Callable[[float], None] | None = None,
            window_s: float = 0.0) -> Diarization:
    """Run `pipeline` on 16 kHz mono samples; `on_progress` gets the stage's fraction in [0, 1]. With `window_s`,
    speakers are clustered in windows of that many seconds and linked across them (bounded memory for any
    length; `core/speakers/windowed_clustering.py`)."""
    import torch

    def hook(step_name: str, step_artifact: Any, file: Any = None, total: int | None = None,
             completed: int | None = None) -> None:
        if on_progress is not None and total and completed is not None:
            low, high = _STEP_SHARES.get(step_name, (0.0, 1.0))
            on_progress(low + (high - low) * min(completed / total, 1.0))

    waveform = {"waveform": torch.from_numpy(np.ascontiguousarray(audio)[None, :]), "sample_rate": SAMPLE_RATE}
    with windowed(pipeline, window_s), in_blocks(pipeline):  # memory bounded for any length
        output = pipeline(waveform, num_speakers=num_speakers, min_speakers=min_speakers,
                          max_speakers=max_speakers, hook=hook)
    overlapping = getattr(output, "speaker_diarization", output)  # pyannote 4 output, or a bare Annotation
    exclusive = getattr(output, "exclusive_speaker_diarization", None) or overlapping
    turns = turns_from_annotation(overlapping)
    return Diarization(turns=turns, exclusive=turns_from_annotation(exclusive),
                       voices=_voices(overlapping, getattr(output, "speaker_embeddings", None), turns))


def _voices(annotation: Any, centroids: np.ndarray | None, turns: tuple[SpeakerTurn, ...]
            ) -> dict[str, tuple[np.ndarray, float]]:
    """Label → (centroid, seconds of speech); pyannote orders its centroids as the annotation's labels and pads
    speakers the clustering did not produce with zeros (left out here)."""
    if centroids is None:
        return {}
    seconds = speech_by_speaker(turns)
    return {str(label): (np.asarray(vector, dtype=np.float32), seconds.get(str(label), 0.0))
            for label, vector in zip(annotation.labels(), centroids, strict=False)
            if np.isfinite(vector).all() and np.linalg.norm(vector) > 0}


def turns_from_annotation(annotation: Any) -> tuple[SpeakerTurn, ...]:
    """pyannote `Annotation` → `SpeakerTurn`s sorted by time."""
    turns = [SpeakerTurn(start=round(float(segment.start), 3), end=round(float(segment.end), 3), speaker=str(label))
             for segment, _, label in annotation.itertracks(yield_label=True)]
    return tuple(sorted(turns, key=lambda turn: (turn.start, turn.end)))


def assign_word_speakers(segments: list[dict], exclusive: tuple[SpeakerTurn, ...]) -> list[dict]:
    """whisperx's assignment from our turns: each word and segment gets the speaker it overlaps most, or, in a gap
    between turns, the nearest turn's (`fill_nearest`): every word has a speaker."""
    import pandas as pd
    import whisperx

    frame = pd.DataFrame([(turn.start, turn.end, turn.speaker) for turn in exclusive],
                         columns=["start", "end", "speaker"])
    return list(whisperx.assign_word_speakers(frame, {"segments": segments}, fill_nearest=True)["segments"])
