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
    """The open profile's VAD and open-campp load the same pyannote/segmentation weights."""
    vad = vad_inference(engine.registry.asr().pipeline)
    segmentation = engine.registry.diarization()._segmentation
    assert vad is not segmentation and can_share(vad, segmentation)
    file = _file(dialogue)
    shared = SharedSegmentation(vad, segmentation)
    assert np.array_equal(shared.raw(file).data, segmentation(dict(file)).data)
    own_vad = vad(dict(file))
    assert np.array_equal(shared.vad_scores(file).data, own_vad.data)
    assert shared.vad_scores(file).sliding_window.step == own_vad.sliding_window.step


def test_the_shared_pass_splits_each_batch_between_the_cores_and_gives_them_back(engine, dialogue, monkeypatch):
    """While the one pass runs the other stage waits for it, so each batch of windows is split between workers on
    every usable core (the engine otherwise keeps diarization's torch to half of them beside ASR's decoding): the
    same scores as the model's own pass, bit for bit, and the model and torch's threads as they were after."""
    from core.speakers import shared_segmentation

    monkeypatch.setattr(shared_segmentation, "usable_cores", lambda: 2)
    vad = vad_inference(engine.registry.asr().pipeline)
    segmentation = engine.registry.diarization()._segmentation
    file = _file(dialogue)
    own = segmentation(dict(file)).data
    calls = []
    infer = segmentation.infer

    def recorded(chunks):
        calls.append((threading.current_thread().name, len(chunks), torch.get_num_threads()))
        return infer(chunks)

    monkeypatch.setattr(segmentation, "infer", recorded)
    before = torch.get_num_threads()
    shared = SharedSegmentation(vad, segmentation)
    assert np.array_equal(shared.raw(file).data, own)
    assert sum(count for _, count, _ in calls) == len(own)  # every window once
    workers = {name for name, count, _ in calls if count > 1}  # a batch of one (the padded last window) stays whole
    assert len(workers) == 2 and all(name.startswith("segmentation") for name in workers)
    assert {threads for _, _, threads in calls} == {1}
    assert segmentation.infer == recorded and torch.get_num_threads() == before


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


@pytest.mark.parametrize("share", [True, False], ids=["shared-pass", "own-vad-pass"])
def test_stop_ends_the_segmentation_passes_within_a_batch(engine, dialogue, tmp_path, monkeypatch, share):
    """whisperx calls its VAD with no hook, and a diarization pass stopped halfway left the VAD to start it over:
    a Stop during the whole-file segmentation waited for one or two full passes (15–50 s for minutes of audio
    here). Now every batch of either pass checks first: after the Stop, at most the batches already in flight
    (one per thread) are computed, far fewer than a pass."""
    import soundfile
    from pyannote.audio.core.inference import Inference

    samples, rate = soundfile.read(str(dialogue.path), dtype="float32")
    path = tmp_path / "long.wav"
    soundfile.write(str(path), np.concatenate([samples] * 8), rate)  # ~3 minutes: ~13 batches per pass
    batches = {"run": 0, "at_stop": None}
    stop = threading.Event()
    infer = Inference.infer

    def counted(self, chunks):
        batches["run"] += 1
        if batches["run"] == 3:  # mid-pass
            batches["at_stop"] = batches["run"]
            stop.set()
        return infer(self, chunks)

    monkeypatch.setattr(Inference, "infer", counted)
    monkeypatch.setattr(engine, "share_segmentation", share)
    with pytest.raises(Cancelled):
        engine.transcribe(path, TranscribeOptions(diarization=True, align_output=False, language="en"), cancel=stop)
    assert batches["at_stop"] == 3 and batches["run"] - batches["at_stop"] <= 2, batches
