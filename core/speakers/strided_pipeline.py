"""pyannote's speaker diarization with the speaker embeddings of every k-th chunk only, the rest matched to them.

pyannote's `SpeakerDiarization` embeds every (chunk, local speaker): with 5 s chunks every 0.5 s, each second of
speech is embedded ten times over. That was cheap with a small encoder; CAM++ costs ~20 ms of CPU per second of
audio, so the open profile would spend ~0.2 s of CPU per second of speech on embeddings alone. Neighbouring chunks
mostly hold the same speech: a local speaker of one chunk is the local speaker of the nearest embedded chunk
that is active on the same frames (the two chunks' segmentations overlap by 4 s or more), so it takes that
speaker's embedding. A local speaker with no such partner (its speech lies outside the embedded chunk, or the
two segmentations disagree) is embedded itself, as pyannote would. Segmentation, clustering and reconstruction
are pyannote's own, at the full 0.5 s resolution; only the number of embeddings changes.

The class is named by the pipeline's `config.yaml`, so everything that loads the pipeline — our engine and
whisperX's own `DiarizationPipeline` in the bench alike — runs the same computation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization

MIN_AGREEMENT = 0.5  # share of a local speaker's overlapping active frames its partner must also be active on


class StridedSpeakerDiarization(SpeakerDiarization):
    """`SpeakerDiarization` embedding every `embedding_stride`-th chunk (and the last); 1 is pyannote's own."""

    def __init__(self, *args: Any, embedding_stride: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if int(embedding_stride) < 1:
            raise ValueError(f"embedding_stride must be at least 1, got {embedding_stride}")
        self.embedding_stride = int(embedding_stride)

    def get_embeddings(self, file: Any, binary_segmentations: Any, exclude_overlap: bool = False,
                       hook: Any = None) -> np.ndarray:
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        data, chunks = binary_segmentations.data, binary_segmentations.sliding_window
        stride = self.embedding_stride
        if self.training:  # pyannote's tuning cache (trials differ only after the embeddings)
            cached = file.get("training_cache/strided_embeddings")
            if cached is not None and cached[0] == self._binarization():
                return cached[1]
        if stride == 1 or len(data) <= 2:
            return self.embed_chunks(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        embedded = list(range(0, len(data), stride))
        strided = SlidingWindow(start=chunks.start, duration=chunks.duration, step=chunks.step * stride)
        computed = self.embed_chunks(file, SlidingWindowFeature(data[::stride], strided),
                                     exclude_overlap=exclude_overlap, hook=hook)
        embeddings = np.full((*data.shape[:1], data.shape[2], computed.shape[-1]), np.nan, dtype=computed.dtype)
        embeddings[embedded] = computed
        frames_per_chunk_step = data.shape[1] * chunks.step / chunks.duration
        orphans: list[tuple[int, int]] = []
        for chunk in range(len(data)):
            if chunk % stride == 0:
                continue
            left = chunk - chunk % stride
            right = left + stride if left + stride < len(data) else None
            for speaker in np.flatnonzero(data[chunk].sum(axis=0) > 0):
                partner = _partner(data, chunk, speaker, left, right, frames_per_chunk_step)
                if partner is None or np.isnan(embeddings[partner]).any():
                    orphans.append((chunk, int(speaker)))
                else:
                    embeddings[chunk, speaker] = embeddings[partner]
        if orphans:
            embeddings[tuple(np.array(orphans).T)] = self._embed_pairs(file, binary_segmentations, orphans,
                                                                       exclude_overlap)
        if self.training:
            file["training_cache/strided_embeddings"] = (self._binarization(), embeddings)
        return embeddings

    def embed_chunks(self, file: Any, binary_segmentations: Any, exclude_overlap: bool = False,
                     hook: Any = None) -> np.ndarray:
        """pyannote's own embedding pass over the chunks given: the one `core.speakers.blockwise` runs a block at a
        time (blocks of the embedded chunks, so the stride is the same whether or not the pass is in blocks)."""
        return SpeakerDiarization.get_embeddings(self, file, binary_segmentations, exclude_overlap=exclude_overlap,
                                                 hook=hook)

    def _binarization(self) -> float | None:
        """The segmentation threshold the cached embeddings were made under (None for a powerset model such as
        segmentation-3.0, which has no threshold to tune)."""
        return getattr(self.segmentation, "threshold", None)

    def _embed_pairs(self, file: Any, binary_segmentations: Any, pairs: list[tuple[int, int]],
                     exclude_overlap: bool) -> np.ndarray:
        """Embeddings of the given (chunk, local speaker) pairs, each masked as pyannote's `get_embeddings` does."""
        import torch

        data, chunks = binary_segmentations.data, binary_segmentations.sliding_window
        min_frames = -1
        if exclude_overlap:
            num_samples = chunks.duration * self._embedding.sample_rate
            min_frames = math.ceil(data.shape[1] * self._embedding.min_num_samples / num_samples)
        waveforms, masks = [], []
        for chunk, speaker in pairs:
            waveform, _ = self._audio.crop(file, chunks[chunk], mode="pad")
            mask = np.nan_to_num(data[chunk, :, speaker], nan=0.0).astype(np.float32)
            if exclude_overlap:
                clean = mask * (np.nan_to_num(data[chunk], nan=0.0).sum(axis=1) < 2)
                mask = clean if clean.sum() > min_frames else mask
            waveforms.append(waveform)
            masks.append(torch.from_numpy(mask))
        output = []
        batch = max(1, int(self.embedding_batch_size))
        for start in range(0, len(pairs), batch):
            output.append(self._embedding(torch.stack(waveforms[start:start + batch]),
                                          masks=torch.stack(masks[start:start + batch])))
        return np.concatenate(output)


def _partner(data: np.ndarray, chunk: int, speaker: int, left: int, right: int | None,
             frames_per_chunk_step: float) -> tuple[int, int] | None:
    """The (embedded chunk, local speaker) most often active on the same frames as `speaker` of `chunk`, when it
    covers at least MIN_AGREEMENT of that speaker's overlapping activity."""
    num_frames = data.shape[1]
    best, best_share = None, MIN_AGREEMENT
    for other in (left, right):
        if other is None:
            continue
        shift = round((chunk - other) * frames_per_chunk_step)  # frame f of `chunk` is frame f + shift of `other`
        first, last = max(0, -shift), min(num_frames, num_frames - shift)
        if last - first <= 0:
            continue
        mine = data[chunk, first:last, speaker] > 0
        if not mine.any():
            continue
        theirs = data[other, first + shift:last + shift] > 0
        shares = (theirs & mine[:, None]).sum(axis=0) / mine.sum()
        candidate = int(np.argmax(shares))
        if shares[candidate] >= best_share:
            best, best_share = (other, candidate), float(shares[candidate])
    return best
