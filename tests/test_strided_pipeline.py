"""The open pipeline's strided embeddings: every k-th chunk embedded, the others' local speakers matched to them."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from core.speakers.strided_pipeline import _partner


def test_partner_follows_the_speaker_not_the_local_index():
    """Local speaker indices are arbitrary per chunk: the partner is whoever is active on the same frames."""
    frames, step = 100, 10  # the next chunk starts 10 frames later
    data = np.zeros((3, frames, 3))
    data[0, 20:60, 2] = 1  # chunk 0: speaker "A" is local 2, "B" local 0
    data[0, 70:100, 0] = 1
    data[1, 10:50, 1] = 1  # chunk 1 (not embedded): A is local 1, B local 0, shifted by 10 frames
    data[1, 60:90, 0] = 1
    assert _partner(data, 1, 1, 0, None, step) == (0, 2)
    assert _partner(data, 1, 0, 0, None, step) == (0, 0)


def test_partner_refuses_a_speaker_the_neighbours_never_heard():
    data = np.zeros((3, 100, 2))
    data[0, 10:40, 0] = 1
    data[2, 10:30, 0] = 1
    data[1, 45:55, 1] = 1  # speaks only where chunk 0 and chunk 2 hear nobody
    assert _partner(data, 1, 1, 0, 2, 10) is None


@pytest.fixture(scope="module")
def pipeline(models_dir):
    from pyannote.audio import Pipeline

    from core.models.layout import Manifest

    manifest = Manifest.load(models_dir)
    name = manifest.defaults["diarization"]
    return Pipeline.from_pretrained(manifest.resolve(manifest.diarization[name]))


@pytest.mark.slow
def test_strided_embeddings_on_the_sample(pipeline):
    """On pyannote's real sample: embedded chunks get exactly pyannote's own embeddings, every active local speaker
    of every chunk gets one, the others are copies of an embedded chunk's, and far fewer rows reach the network."""
    import torch
    from pyannote.audio.utils.signal import binarize

    wav = Path(str(files("pyannote.audio.sample") / "sample.wav"))
    file = {"audio": str(wav)}
    binary = binarize(pipeline._segmentation(file), onset=pipeline.segmentation.threshold, initial_state=False)
    rows = []
    model = pipeline._embedding

    class Counting:
        def __getattr__(self, name):
            return getattr(model, name)

        def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray:
            rows.append(int((masks.sum(dim=-1) > 0).sum()) if masks is not None else len(waveforms))
            return model(waveforms, masks=masks)

    stride = pipeline.embedding_stride
    assert stride > 1
    pipeline._embedding = Counting()
    try:
        strided = pipeline.get_embeddings(file, binary, exclude_overlap=True)
        strided_rows = sum(rows)
        rows.clear()
        pipeline.embedding_stride = 1
        full = pipeline.get_embeddings(file, binary, exclude_overlap=True)
        full_rows = sum(rows)
    finally:
        pipeline._embedding, pipeline.embedding_stride = model, stride
    active = binary.data.sum(axis=1) > 0
    embedded = np.arange(len(binary.data)) % stride == 0
    np.testing.assert_allclose(strided[embedded], full[embedded], atol=1e-5)
    embedded = np.broadcast_to(embedded[:, None], active.shape)
    finite = ~np.isnan(strided).any(axis=-1)
    assert finite[active].mean() > 0.97, "active speakers must get an embedding"
    copies = strided[~embedded & active & finite]
    pool = strided[embedded & active & finite]
    distance = np.abs(copies[:, None, :] - pool[None, :, :]).max(axis=-1).min(axis=1)
    assert (distance < 1e-5).mean() > 0.8, "most other rows are copies of an embedded chunk's"
    print(f"rows embedded: {strided_rows} strided vs {full_rows} for every chunk")
    assert strided_rows < 0.45 * full_rows
