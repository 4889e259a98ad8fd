"""pyannote's diarization steps that hold the whole recording several times over, run a block of chunks at a time.

`SpeakerDiarization.apply` binarizes every (chunk, local speaker) row of the segmentation in one call to
`binarize`, whose hysteresis builds a Python tuple per frame of every row (`zip_longest` over `np.nonzero`) and
int64 index arrays of the full shape: ~660 MB per hour of audio at the peak, 2.6 GB for four hours, for a result
of 50 MB per hour. Each row is thresholded on its own (`initial_state` is given), so thresholding the rows a
block at a time and stacking the blocks is the same computation, with the same values, in bounded memory. The
result is kept as float32 (not float64): its values are 0 and 1, and every later use counts or masks with them.

`get_embeddings` with `embedding_exclude_overlap` (the open profile's) multiplies the whole binarized segmentation
by a float64 mask of clean frames, a float64 copy of it (200 MB for four hours) held for the whole embedding pass.
Run on blocks of chunks whose (chunk, speaker) rows fill whole embedding batches, it embeds the same rows in the
same batches: the same embeddings, with that copy one block long.

`reconstruct` likewise keeps the clustered segmentation as float32, where pyannote's `np.nan * np.zeros(...)`
makes two float64 arrays of (chunks, frames, speakers): 128 MB per hour of audio for four speakers. The values
are maxima of the float32 segmentation, exact in either type, and its aggregation sums into float32 anyway.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

BLOCK_CHUNKS = 512  # chunks (4 minutes of audio at pyannote's 0.5 s step) thresholded at a time


def binarize_in_blocks(binarize: Any, block_chunks: int | None = None) -> Any:
    """`binarize` (pyannote.audio.utils.signal's) for 3-D chunked scores, `block_chunks` (default BLOCK_CHUNKS)
    chunks at a time; other calls pass on."""
    block_chunks = block_chunks or BLOCK_CHUNKS

    def blockwise(scores: Any, onset: float = 0.5, offset: float | None = None,
                  initial_state: bool | None = None) -> Any:
        from pyannote.core import SlidingWindowFeature

        data = getattr(scores, "data", None)
        if not isinstance(initial_state, bool) or data is None or data.ndim != 3 or len(data) <= block_chunks:
            return binarize(scores, onset=onset, offset=offset, initial_state=initial_state)
        output = np.empty(data.shape, dtype=np.float32)
        for start in range(0, len(data), block_chunks):
            block = SlidingWindowFeature(data[start:start + block_chunks], scores.sliding_window)
            output[start:start + block_chunks] = binarize(block, onset=onset, offset=offset,
                                                          initial_state=initial_state).data
        return SlidingWindowFeature(output, scores.sliding_window)

    return blockwise


def embeddings_in_blocks(pipeline: Any, get_embeddings: Any, block_chunks: int | None = None) -> Any:
    """`pipeline.get_embeddings` over blocks of about `block_chunks` (default BLOCK_CHUNKS) chunks, each block a
    whole number of embedding batches; progress is reported for the whole pass."""

    def blockwise(file: Any, binary_segmentations: Any, exclude_overlap: bool = False, hook: Any = None) -> Any:
        from pyannote.core import SlidingWindow, SlidingWindowFeature

        data, chunks = binary_segmentations.data, binary_segmentations.sliding_window
        batch = max(1, int(pipeline.embedding_batch_size))
        step = batch // math.gcd(batch, data.shape[2])  # chunks per whole number of batches
        block = max(step, (block_chunks or BLOCK_CHUNKS) // step * step)
        if len(data) <= block:
            return get_embeddings(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        starts = range(0, len(data), block)
        totals = [math.ceil(len(data[start:start + block]) * data.shape[2] / batch) for start in starts]
        parts, done = [], 0
        for start, total in zip(starts, totals, strict=True):
            window = SlidingWindow(start=chunks.start + start * chunks.step, duration=chunks.duration,
                                   step=chunks.step)
            parts.append(get_embeddings(file, SlidingWindowFeature(data[start:start + block], window),
                                        exclude_overlap=exclude_overlap,
                                        hook=_offset_hook(hook, done, total, sum(totals))))
            done += total
        return np.concatenate(parts)

    return blockwise


def _offset_hook(hook: Any, done: int, share: int, grand_total: int) -> Any:
    """A block's progress reports (`completed` of its own `total` batches), as reports on the whole pass, where
    the block holds `share` of `grand_total` batches. The block's own total counts the batches it really runs,
    which may be fewer than its share (a strided pipeline embeds one chunk in five): its last report fills its
    share all the same."""

    def report(step_name: str, artifact: Any, file: Any = None, total: int | None = None,
               completed: int | None = None) -> None:
        if hook is not None:
            if completed is not None and total:
                completed = done + share * min(completed / total, 1.0)
            elif completed is not None:
                completed = done + completed
            hook(step_name, artifact, file=file, total=grand_total, completed=completed)

    return report


def lean_reconstruct(pipeline: Any) -> Any:
    """`pipeline.reconstruct` (pyannote 4's `SpeakerDiarization`) with its clustered segmentation in float32."""

    def reconstruct(segmentations: Any, hard_clusters: np.ndarray, count: Any) -> Any:
        from pyannote.core import SlidingWindowFeature

        num_chunks, num_frames, _ = segmentations.data.shape
        clustered = np.full((num_chunks, num_frames, np.max(hard_clusters) + 1), np.nan, dtype=np.float32)
        for c, (cluster, (_, segmentation)) in enumerate(zip(hard_clusters, segmentations, strict=False)):
            for k in np.unique(cluster):
                if k != -2:
                    clustered[c, :, k] = np.max(segmentation[:, cluster == k], axis=1)
        return pipeline.to_diarization(SlidingWindowFeature(clustered, segmentations.sliding_window), count)

    return reconstruct


@contextlib.contextmanager
def in_blocks(pipeline: Any) -> Iterator[None]:
    """For one run of a pyannote `SpeakerDiarization` (jobs run one at a time): its binarization and embeddings in
    blocks and a float32 reconstruction."""
    import pyannote.audio.pipelines.speaker_diarization as module

    if not isinstance(pipeline, module.SpeakerDiarization) or not hasattr(module, "binarize"):
        yield
        return
    original = module.binarize
    module.binarize = binarize_in_blocks(original)
    pipeline.__dict__["reconstruct"] = lean_reconstruct(pipeline)  # shadows the methods for this run
    # a strided pipeline (core/speakers/strided_pipeline.py) picks its chunks first, then embeds them in blocks
    embed = "embed_chunks" if hasattr(pipeline, "embed_chunks") else "get_embeddings"
    pipeline.__dict__[embed] = embeddings_in_blocks(pipeline, getattr(pipeline, embed))
    try:
        yield
    finally:
        module.binarize = original
        pipeline.__dict__.pop("reconstruct", None)
        pipeline.__dict__.pop(embed, None)
