"""The token-free diarization pipeline: CAM++ against 3D-Speaker's reference, masks, the strided embeddings,
checkpoints, DER on pyannote's sample."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch

from builder.campplus import SOURCE
from builder.open_diarization import (
    MODEL_FILE,
    bundled_segmentation_file,
    resave_segmentation,
    write_open_diarization_pipeline,
)
from core.speakers.campplus import MIN_FRAMES, CAMPPlusEmbedding

DER_BOUND = 0.15  # measured with the shipped parameters: see test_der_on_sample
FIXTURES = Path(__file__).parent / "fixtures"
UPGRADE_NOTICE = "automatically upgraded"


@pytest.fixture(scope="module")
def sample() -> tuple[Path, object]:
    """pyannote's bundled two-speaker sample (30 s) and its reference annotation."""
    from pyannote.database.util import load_rttm

    folder = files("pyannote.audio.sample")
    wav, rttm = Path(str(folder / "sample.wav")), Path(str(folder / "sample.rttm"))
    return wav, next(iter(load_rttm(rttm).values()))


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("open-diarization")
    info = write_open_diarization_pipeline(target)
    assert info["path"] == str(target)
    assert info["embedding"] == SOURCE
    return target


@pytest.fixture(scope="module")
def pipeline(pipeline_dir):
    from pyannote.audio import Pipeline

    return Pipeline.from_pretrained(pipeline_dir, token=None)


@pytest.fixture(scope="module")
def encoder(pipeline) -> CAMPPlusEmbedding:
    """The CAM++ network as the builder wrote it (its checkpoint, loaded by pyannote)."""
    return pipeline._embedding.model_


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Everything logged at INFO or above (lightning's logger included) and printed, in one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    loggers = [logging.getLogger(), logging.getLogger("lightning.pytorch"), logging.getLogger("lightning")]
    levels = [item.level for item in loggers]
    for item in loggers:
        item.addHandler(handler)
        item.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for item, level in zip(loggers, levels, strict=True):
            item.removeHandler(handler)
            item.setLevel(level)


@pytest.mark.slow
def test_campplus_is_3dspeakers_network(encoder, sample):
    """The embedding of a real clip equals what 3D-Speaker's own CAM++ code and FBank front end give with the same
    weights (tests/fixtures/campplus_reference.json, computed with speakerlab's `CAMPPlus` and `FBank(80,
    mean_nor=True)`): a wrong layer (e.g. a ReLU after the embedding layer, which one redistribution adds) or a
    front end other than Kaldi's filterbanks moves it far from 1."""
    import soundfile

    reference = json.loads((FIXTURES / "campplus_reference.json").read_text(encoding="utf-8"))
    samples, rate = soundfile.read(str(sample[0]), dtype="float32")
    clip = torch.from_numpy(samples[round(reference["start_s"] * rate): round(reference["end_s"] * rate)])
    with torch.inference_mode():
        ours = encoder(clip[None, None])[0].numpy()
    theirs = np.array(reference["embedding"], dtype=np.float32)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.slow
def test_campplus_masks(encoder):
    """A mask keeps only its frames (the same as embedding those samples alone, to the frame), an all-zero or
    too-short mask gives NaN (pyannote skips it), and rows of different kept lengths in one batch are each exact."""
    generator = torch.Generator().manual_seed(0)
    waveforms = 0.05 * torch.randn(4, 1, 5 * 16000, generator=generator)
    weights = torch.zeros(4, 293)
    weights[0, :120] = 1.0
    weights[1] = 1.0
    weights[3, :2] = 1.0  # ~34 ms: too short to say anything about a voice
    with torch.inference_mode():
        masked = encoder(waveforms, weights=weights)
        whole = encoder(waveforms[1:2])
        alone = encoder(waveforms[:1])
        per_speaker = encoder(waveforms[:2], weights=torch.ones(2, 3, 293))
    assert masked.shape == (4, encoder.dimension) == (4, 192)
    torch.testing.assert_close(masked[1], whole[0], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(masked[0], alone[0], atol=1e-3), "the mask must select frames"
    assert torch.isnan(masked[2]).all() and torch.isnan(masked[3]).all()
    assert per_speaker.shape == (2, 3, 192)
    with pytest.raises(ValueError, match="at least"):
        encoder(torch.zeros(1, 1, 160 * (MIN_FRAMES - 2)))  # pyannote's min_num_samples search relies on this


@pytest.mark.slow
def test_campplus_separates_the_sample_speakers(encoder, sample):
    """Turns of one speaker must be closer to each other than to the other speaker's (reference masks): the two
    women of pyannote's sample, whom resemblyzer's GE2E put at 0.82 within and 0.74 across."""
    from pyannote.audio import Audio

    wav, reference = sample
    waveform, _ = Audio(sample_rate=16000, mono="downmix")(wav)
    frames = 1 + waveform.shape[1] // 160
    speakers = reference.labels()
    active = torch.zeros(len(speakers), frames)
    for segment, _, label in reference.itertracks(yield_label=True):
        active[speakers.index(label), int(segment.start * 100): int(segment.end * 100)] = 1.0
    single = active.sum(dim=0) < 2
    masks, owners = [], []
    for segment, _, label in reference.itertracks(yield_label=True):
        mask = torch.zeros(frames)
        mask[int(segment.start * 100): int(segment.end * 100)] = 1.0
        mask = mask * single
        if mask.sum() >= 100:  # at least 1 s of clean speech
            masks.append(mask)
            owners.append(speakers.index(label))
    with torch.inference_mode():
        embeddings = encoder(waveform[None].expand(len(masks), -1, -1), weights=torch.stack(masks))
    embeddings = embeddings / embeddings.norm(dim=1, keepdim=True)
    similarity = (embeddings @ embeddings.T).numpy()
    owners_array = np.array(owners)
    same_speaker = owners_array[:, None] == owners_array[None, :]
    others = ~np.eye(len(owners), dtype=bool)
    within, across = similarity[same_speaker & others].mean(), similarity[~same_speaker].mean()
    print(f"cosine within a speaker {within:.2f}, across {across:.2f}")
    assert within > across + 0.25
    np.fill_diagonal(similarity, -np.inf)
    assert (owners_array[similarity.argmax(axis=1)] == owners_array).all()


def test_resaved_segmentation_loads_silently(tmp_path):
    from pyannote.audio import Model

    with captured_output() as original:
        Model.from_pretrained(bundled_segmentation_file())
    assert UPGRADE_NOTICE in original.getvalue(), "the capture must see the notice the source checkpoint logs"

    target = resave_segmentation(tmp_path / MODEL_FILE)
    with captured_output() as resaved:
        model = Model.from_pretrained(target)
    assert UPGRADE_NOTICE not in resaved.getvalue()
    assert model.specifications.duration == 5.0
    assert len(model.specifications.classes) == 3


def test_resaved_segmentation_is_a_whisperx_vad_model(tmp_path):
    from whisperx.vads.pyannote import load_vad_model

    target = resave_segmentation(tmp_path / MODEL_FILE)
    vad = load_vad_model("cpu", model_fp=str(target))
    assert vad is not None


def test_pipeline_directory(pipeline_dir):
    import yaml

    for sub in ("segmentation", "embedding"):
        assert (pipeline_dir / sub / MODEL_FILE).is_file()
    assert {p.name for p in (pipeline_dir / "plda").iterdir()} == {"xvec_transform.npz", "plda.npz"}
    config = yaml.safe_load((pipeline_dir / "config.yaml").read_text())
    assert config["pipeline"]["params"]["embedding"] == "$model/embedding"
    assert config["pipeline"]["params"]["clustering"] == "AgglomerativeClustering"
    checkpoint = torch.load(pipeline_dir / "embedding" / MODEL_FILE, map_location="cpu", weights_only=False)
    assert checkpoint["pyannote.audio"]["architecture"] == {"module": "core.speakers.campplus",
                                                            "class": "CAMPPlusEmbedding"}
    assert config["pipeline"]["name"] == "core.speakers.strided_pipeline.StridedSpeakerDiarization"


@pytest.mark.slow
def test_pipeline_loads_our_models(pipeline):
    assert isinstance(pipeline._embedding.model_, CAMPPlusEmbedding)
    assert pipeline._plda is not None


@pytest.mark.slow
def test_der_on_sample(pipeline, sample):
    from pyannote.metrics.diarization import DiarizationErrorRate

    wav, reference = sample
    output = pipeline(str(wav))
    hypothesis = output.speaker_diarization
    der = DiarizationErrorRate(collar=0.0)(reference, hypothesis)
    assert der < DER_BOUND, f"DER {der:.3f}"
    assert len(hypothesis.labels()) == 2
    assert output.speaker_embeddings.shape == (2, 192)


@pytest.mark.slow
def test_whisperx_wrapper_with_num_speakers(pipeline_dir, sample):
    import pandas as pd
    from whisperx.audio import load_audio
    from whisperx.diarize import DiarizationPipeline

    audio = load_audio(str(sample[0]))
    diarize = DiarizationPipeline(model_name=str(pipeline_dir), token=None, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = diarize(audio, num_speakers=2)
        bounded = diarize(audio, min_speakers=1, max_speakers=3)
    assert isinstance(frame, pd.DataFrame)
    assert frame["speaker"].nunique() == 2
    assert {"start", "end", "speaker"} <= set(frame.columns)
    assert bounded["speaker"].nunique() == 2
