"""Word alignment through the real loading code, with a tiny randomly initialised wav2vec2 CTC model.

No wav2vec2 with real weights ships in a PyPI package, so the model's timings are meaningless; what is tested
is the plumbing: builder → manifest → registry → whisperx.align → words that are monotonic and inside
their segments, with speakers assigned to words when diarizing.
"""

from __future__ import annotations

import json
import string
import subprocess
import sys

import pytest

from core import Settings, TranscribeOptions
from core.transcript.formats import render

pytestmark = pytest.mark.slow


def save_tiny_wav2vec2(directory):
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    torch.manual_seed(0)
    directory.mkdir(parents=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    vocab.update({char: index for index, char in enumerate(string.ascii_lowercase + "'", start=5)})
    (directory / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(directory / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(directory))
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(str(directory))


@pytest.fixture(scope="module")
def aligned_engine(tmp_path_factory):
    from core.engine import Engine

    root = tmp_path_factory.mktemp("aligned")
    save_tiny_wav2vec2(root / "w2v")
    subprocess.run([sys.executable, "-m", "builder", "--profile", "open", "--models-dir", str(root / "models"),
                    "--align-model", f"en={root / 'w2v'}"], check=True, capture_output=True)
    manifest = json.loads((root / "models" / "manifest.json").read_text())
    assert manifest["alignment"]["en"]["path"] == "align/en"
    return Engine(Settings(models_dir=root / "models", device="cpu"))


def test_words_are_monotonic_and_inside_segments(aligned_engine, dialogue):
    result = aligned_engine.transcribe(dialogue.path, TranscribeOptions(diarization=True,
                                                                        output_formats=("srt", "vtt")))
    assert not any("alignment" in warning for warning in result.warnings), result.warnings
    words = [word for segment in result.segments for word in segment.words]
    assert len(words) >= 30
    timed = [word for word in words if word.start is not None]
    assert len(timed) >= 0.8 * len(words)
    for segment in result.segments:
        for word in segment.words:
            if word.start is not None:
                assert segment.start - 0.05 <= word.start <= word.end <= segment.end + 0.05, (segment, word)
    starts = [word.start for word in timed]
    assert starts == sorted(starts)
    assert {word.speaker for word in timed} <= set(result.speakers) | {None}
    assert "align" in result.timings and result.aligned
    assert render(result, "srt").count(" --> ") >= len(result.segments)
