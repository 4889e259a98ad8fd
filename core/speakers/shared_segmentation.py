"""One segmentation pass for both WhisperX's VAD and the diarization pipeline, when they run the same model.

WhisperX's pyannote VAD and pyannote's speaker-diarization both slide a segmentation model over the whole
recording (5 s windows, 0.5 s step). When the two load the same weights with the same windows — the open
profile's VAD and `open-campp` are both pyannote/segmentation 2022 — the raw per-window scores are the same
computation twice. Here it runs once per job: the diarization takes the raw scores, the VAD their maximum over
local speakers aggregated exactly as its own `Inference` would (same function, same arguments), so both outputs
are unchanged. With different models (e.g. the default profile's community-1 uses segmentation-3.0) nothing
is shared.

The pass runs on every usable core: while it runs, the other stage waits for it (ASR cannot start before its VAD),
so the half of the cores diarization otherwise keeps to (beside ASR's decoding) would leave the rest idle (the
11-minute bench meeting, 2 cores: the job's first 45 s on one core). Each batch of windows is split between
workers, each on its own torch threads: the same scores, bit for bit (a window's scores do not depend on the
others in its batch). Two minutes of it on 2 cores: 7.5 s on one thread, 4.9 s on two intra-op threads, 4.3 s in
two halves.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from core.asr.chunks import segmentation_of
from core.models.cores import torch_threads, usable_cores

MAX_WORKERS = 4  # a batch (32 windows) in at most this many parts; more cores go to each part's torch threads


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
                # the other stage waits for this pass: it takes every core
                self._raw, self._key = _split_pass(self.segmentation, file, hook, usable_cores()), key
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


def _split_pass(inference: Any, file: dict[str, Any], hook: Any, cores: int) -> Any:
    """`inference(file, hook=hook)` with each batch split in parts computed at once, one worker per part, the cores
    shared between them (the parts' scores stacked back in order). A copy of `inference` runs it: the VAD's stop
    check (`core.asr.chunks.stoppable`, set from another thread) still wraps the shared object's `infer`."""
    workers = min(cores, MAX_WORKERS)
    if workers < 2:
        return inference(file, hook=hook)

    def split(chunks: Any) -> Any:
        size = -(-len(chunks) // workers)
        parts = [chunks[start: start + size] for start in range(0, len(chunks), size)]
        if len(parts) < 2:
            return inference.infer(chunks)
        return np.vstack(list(pool.map(inference.infer, parts)))  # one output: `can_share` allows no powerset

    view = copy.copy(inference)
    view.infer = split
    with ThreadPoolExecutor(workers, thread_name_prefix="segmentation") as pool, torch_threads(cores // workers):
        return view(file, hook=hook)


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
