"""One segmentation pass for both WhisperX's VAD and the diarization pipeline, when they run the same model.

WhisperX's pyannote VAD and pyannote's speaker-diarization both slide a segmentation model over the whole
recording (5 s windows, 0.5 s step). When the two load the same weights with the same windows — the open
profile's VAD and `open-campp` are both pyannote/segmentation 2022 — the raw per-window scores are the same
computation twice. Here it runs once per job: the diarization takes the raw scores, the VAD their maximum over
local speakers aggregated exactly as its own `Inference` would (same function, same arguments), so both outputs
are unchanged. With different models (e.g. the default profile's community-1 uses segmentation-3.0) nothing
is shared.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from core.asr.chunks import segmentation_of


def vad_inference(asr_pipeline: Any) -> Any | None:
    """The pyannote `Inference` behind whisperx's pyannote VAD, or None for another VAD (silero)."""
    return segmentation_of(getattr(asr_pipeline, "vad_model", None))


def can_share(vad: Any, segmentation: Any) -> bool:
    """Same windows and the same weights; a powerset model (segmentation-3.0) is never used as whisperx's VAD."""
    import torch

    if vad is None or segmentation is None:
        return False
    if (vad.duration, vad.step, vad.batch_size) != (segmentation.duration, segmentation.step, segmentation.batch_size):
        return False
    if segmentation.model.specifications.powerset or not getattr(segmentation, "skip_aggregation", False):
        return False
    if vad.model is segmentation.model:
        return True
    ours, theirs = vad.model.state_dict(), segmentation.model.state_dict()
    return ours.keys() == theirs.keys() and all(torch.equal(ours[key], theirs[key]) for key in ours)


class SharedSegmentation:
    """Raw segmentation of one job's waveform, computed by whichever of VAD / diarization asks first."""

    def __init__(self, vad: Any, segmentation: Any) -> None:
        self.vad, self.segmentation = vad, segmentation
        self._lock = threading.Lock()
        self._key: tuple[int, tuple[int, ...]] | None = None
        self._raw: Any = None

    def raw(self, file: dict[str, Any], hook: Any = None) -> Any:
        """(num_chunks, num_frames, local_speakers) scores for `file`'s waveform, computed once per waveform."""
        waveform = file["waveform"]
        key = (waveform.data_ptr(), tuple(waveform.shape))
        with self._lock:
            if self._key != key:
                self._raw, self._key = self.segmentation(file, hook=hook), key
            return self._raw

    def vad_scores(self, file: dict[str, Any]) -> Any:
        """What whisperx's VAD `Inference` returns for `file`: max over local speakers, aggregated by the VAD."""
        from pyannote.core import Segment, SlidingWindow, SlidingWindowFeature

        raw, vad = self.raw(file), self.vad
        chunks = SlidingWindow(start=0.0, duration=vad.duration, step=vad.step)
        scores = vad.aggregate(SlidingWindowFeature(np.max(raw.data, axis=-1, keepdims=True), chunks),
                               vad.model.receptive_field, warm_up=vad.warm_up, hamming=True, missing=0.0)
        num_samples = file["waveform"].shape[-1]
        window = vad.model.audio.get_num_samples(vad.duration)
        if num_samples < window or (num_samples - window) % round(vad.step * file["sample_rate"]) > 0:
            scores.data = scores.crop(Segment(0.0, num_samples / file["sample_rate"]), mode="loose")
        return scores

    def clear(self) -> None:
        with self._lock:
            self._key, self._raw = None, None


class _SharedVad:
    """Stands in for whisperx's `Pyannote` VAD during a job (whisperx then uses `Pyannote`'s static
    `preprocess_audio` / `merge_chunks`, as for its own)."""

    def __init__(self, shared: SharedSegmentation) -> None:
        self._shared = shared
        self.inference = shared.segmentation  # what the pass runs, for `core.asr.chunks.stoppable`

    def __call__(self, file: dict[str, Any], **_: Any) -> Any:
        return self._shared.vad_scores(file)


class _SharedInference:
    """Stands in for the diarization pipeline's segmentation `Inference`; everything else passes through."""

    def __init__(self, shared: SharedSegmentation) -> None:
        self._shared = shared

    def __call__(self, file: dict[str, Any], hook: Any = None) -> Any:
        return self._shared.raw(file, hook)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared.segmentation, name)


@contextlib.contextmanager
def sharing(asr_pipeline: Any, diarization_pipeline: Any, shared: SharedSegmentation) -> Iterator[None]:
    """For one job (jobs run one at a time): both stages read `shared`; the models are restored after."""
    vad_model, segmentation = asr_pipeline.vad_model, diarization_pipeline._segmentation
    asr_pipeline.vad_model, diarization_pipeline._segmentation = _SharedVad(shared), _SharedInference(shared)
    try:
        yield
    finally:
        asr_pipeline.vad_model, diarization_pipeline._segmentation = vad_model, segmentation
        shared.clear()
