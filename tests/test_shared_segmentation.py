"""One segmentation pass serves WhisperX's VAD and the diarization when both run the same model: outputs equal."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core import TranscribeOptions
from core.errors import Cancelled
from core.speakers.shared_segmentation import SharedSegmentation, can_share, vad_inference

pytestmark = pytest.mark.slow


def _file(recording):
    from core.media.decode import decode_audio

    samples = decode_audio(recording.path).samples
    return {"waveform": torch.from_numpy(samples[None]), "sample_rate": 16_000}


def test_shared_pass_gives_the_vad_and_the_diarization_what_their_own_passes_give(engine, dialogue):
    """The open profile's VAD and open-ge2e load the same pyannote/segmentation weights."""
    vad = vad_inference(engine.registry.asr().pipeline)
    segmentation = engine.registry.diarization()._segmentation
    assert vad is not segmentation and can_share(vad, segmentation)
    file = _file(dialogue)
    shared = SharedSegmentation(vad, segmentation)
    assert np.array_equal(shared.raw(file).data, segmentation(dict(file)).data)
    own_vad = vad(dict(file))
    assert np.array_equal(shared.vad_scores(file).data, own_vad.data)
    assert shared.vad_scores(file).sliding_window.step == own_vad.sliding_window.step


def test_engine_results_are_the_same_with_and_without_sharing(engine, dialogue):
    asr, diarizer = engine.registry.asr().pipeline, engine.registry.diarization()
    originals = (asr.vad_model, diarizer._segmentation)
    options = TranscribeOptions(diarization=True, align_output=False, language="en")
    results = {}
    for share in (False, True):
        engine.share_segmentation = share
        try:
            results[share] = engine.transcribe(dialogue.path, options)
        finally:
            engine.share_segmentation = True
    assert [(s.start, s.end, s.text, s.speaker) for s in results[True].segments] == \
        [(s.start, s.end, s.text, s.speaker) for s in results[False].segments]
    assert results[True].diarization == results[False].diarization
    assert (asr.vad_model, diarizer._segmentation) == originals  # restored after the job


def test_models_are_restored_when_a_job_stops_midway(engine, dialogue):
    asr, diarizer = engine.registry.asr().pipeline, engine.registry.diarization()
    originals = (asr.vad_model, diarizer._segmentation)
    stop = threading.Event()

    def on_progress(stage: str, fraction: float) -> None:
        if stage == "transcribe":
            stop.set()

    with pytest.raises(Cancelled):
        engine.transcribe(dialogue.path, TranscribeOptions(diarization=True, align_output=False),
                          on_progress=on_progress, cancel=stop)
    assert (asr.vad_model, diarizer._segmentation) == originals
