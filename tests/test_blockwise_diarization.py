"""pyannote's whole-recording steps run a block of chunks at a time (core/speakers/blockwise.py): the same values
as pyannote's own, in memory that does not grow with the recording."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from core.speakers import blockwise


def _scores(chunks: int, seed: int = 0):
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    rng = np.random.default_rng(seed)
    smooth = np.cumsum(rng.normal(scale=0.2, size=(chunks, 293, 3)), axis=1)  # runs above and below the onset
    chunks_window = SlidingWindow(start=0.0, duration=5.0, step=0.5)
    return SlidingWindowFeature((1 / (1 + np.exp(-smooth))).astype(np.float32), chunks_window)


def _peak_mb(function, *args, **kwargs):
    tracemalloc.start()
    try:
        output = function(*args, **kwargs)
        return output, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_binarizing_in_blocks_gives_pyannotes_values_in_bounded_memory():
    from pyannote.audio.utils.signal import binarize

    scores = _scores(1500)
    whole, whole_mb = _peak_mb(binarize, scores, onset=0.5, initial_state=False)
    blocks, blocks_mb = _peak_mb(blockwise.binarize_in_blocks(binarize, 100), scores, onset=0.5,
                                 initial_state=False)
    assert 0.2 < whole.data.mean() < 0.8  # both states occur
    assert np.array_equal(blocks.data, whole.data) and blocks.data.dtype == np.float32
    assert blocks.sliding_window == whole.sliding_window
    assert blocks_mb < whole_mb / 4, (blocks_mb, whole_mb)


@pytest.mark.parametrize("block_chunks", [7, 32, 10_000])
def test_a_diarization_in_blocks_is_pyannotes_own(engine, pyannote_sample, monkeypatch, block_chunks):
    """The real open pipeline on pyannote's sample: binarized in blocks of 7 or 32 chunks (or one block) and
    embedded in blocks of 32 (whole batches), the same turns and exclusive turns as the pipeline's own `apply`;
    progress runs once from 0 to 1 across the blocks."""
    import torch

    from core.media.decode import SAMPLE_RATE, decode_audio
    from core.speakers.diarization import diarize, turns_from_annotation

    audio = decode_audio(pyannote_sample[0]).samples
    pipeline = engine.registry.diarization()
    own = pipeline({"waveform": torch.from_numpy(audio)[None], "sample_rate": SAMPLE_RATE})
    monkeypatch.setattr(blockwise, "BLOCK_CHUNKS", block_chunks)
    reported: list[float] = []
    ours = diarize(pipeline, audio, on_progress=reported.append)
    assert reported == sorted(reported) and reported[-1] == 1.0
    assert ours.turns == turns_from_annotation(own.speaker_diarization)
    assert ours.exclusive == turns_from_annotation(own.exclusive_speaker_diarization)
    assert len({turn.speaker for turn in ours.turns}) == 2
