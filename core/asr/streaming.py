"""Finished segments while a job runs: each VAD chunk's text, as soon as whisperx has decoded it.

whisperx's `FasterWhisperPipeline.transcribe` cuts the audio into VAD chunks (`merge_chunks`), decodes them in
batches and returns every chunk at the end. A chunk's text is final the moment its batch is decoded: the
pipeline's `postprocess` sees each chunk's output, one at a time and in time order, before the loop moves on.
`ChunkStream` hooks in there for one pass (whisperx's code is not copied): it records the VAD chunks' times from
the same `merge_chunks` call whisperx makes, pairs the n-th output with the n-th chunk, and hands the chunk's
sentence pieces (`split_timed_segments`, exactly as the engine splits them at the end) to a callback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from whisperx.vads.vad import Vad

from core.asr.timestamps import split_timed_segments
from core.transcript.result import SegmentsCallback, segments_from_whisperx


class ChunkStream:
    """Sends each decoded chunk's segments to `on_segments`, once each, in time order, across a retried pass
    (an out-of-memory retry decodes the same chunks again: those already sent are not sent twice)."""

    def __init__(self, pipeline: Any, on_segments: SegmentsCallback) -> None:
        self._pipeline = pipeline
        self._on_segments = on_segments
        self._chunks: list[dict] = []  # this pass's VAD chunks: {"start", "end", ...} in seconds
        self._index = 0  # outputs seen in this pass
        self._sent = 0  # chunks already handed on (kept across passes over the same block)
        self._offset_s = 0.0  # where the block being decoded starts in the recording

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """For one `transcribe` call (jobs run one at a time): the pipeline's VAD and `postprocess` report here."""
        pipeline = self._pipeline
        vad = pipeline.vad_model
        pipeline.vad_model = _RecordingVad(vad, self)
        pipeline.postprocess = self._postprocess  # an instance attribute shadows the method for this pass
        try:
            yield
        finally:
            pipeline.vad_model = vad
            pipeline.__dict__.pop("postprocess", None)

    def start_block(self, offset_s: float) -> None:
        """The next passes decode a new block of the recording (core/asr/blocks.py), starting at `offset_s`."""
        self._offset_s, self._sent = offset_s, 0

    def record(self, chunks: list[dict]) -> None:
        """A pass starts: the chunks whisperx will decode (the pipeline's own VAD cut them)."""
        self._chunks = list(chunks)
        self._index = 0

    def _postprocess(self, output: dict) -> dict:
        index, self._index = self._index, self._index + 1
        if index >= self._sent and index < len(self._chunks):
            self._sent = index + 1
            chunk = self._chunks[index]
            segment = {"text": _first(output["text"]), "start": round(chunk["start"] + self._offset_s, 3),
                       "end": round(chunk["end"] + self._offset_s, 3),
                       "avg_logprob": _first(output.get("avg_logprob"))}
            finished = segments_from_whisperx(split_timed_segments([segment]))
            if finished:
                self._on_segments(finished)
        return output


class _RecordingVad(Vad):
    """Stands in for the pipeline's VAD for one pass: the same scores and the same cut-and-merge (the wrapped VAD's
    own, e.g. the engine's padded chunks, or whisperx's pyannote helpers for a plain model), and tells the stream
    the chunks whisperx will decode. A whisperx `Vad`, so whisperx calls its `merge_chunks`."""

    def __init__(self, vad: Any, stream: ChunkStream) -> None:  # no Vad.__init__: nothing of its own to set
        self._vad, self._stream = vad, stream

    def __call__(self, file: dict[str, Any], **kwargs: Any) -> Any:
        return self._vad(file, **kwargs)

    def preprocess_audio(self, audio: Any) -> Any:  # type: ignore[override]
        return _helpers(self._vad).preprocess_audio(audio)

    def merge_chunks(self, segments: Any, chunk_size: float, onset: float = 0.5,  # type: ignore[override]
                     offset: float | None = None) -> list[dict]:
        chunks = _helpers(self._vad).merge_chunks(segments, chunk_size, onset=onset, offset=offset)
        self._stream.record(chunks)
        return chunks


def _helpers(vad: Any) -> Any:
    """Where whisperx takes `preprocess_audio` / `merge_chunks` for this VAD: its own when it is a whisperx `Vad`,
    else pyannote's static helpers (as whisperx's `transcribe` decides)."""
    from whisperx.vads.pyannote import Pyannote

    return vad if isinstance(vad, Vad) else Pyannote


def _first(value: Any) -> Any:
    """whisperx leaves a batch of one as a one-item list."""
    return value[0] if isinstance(value, list) else value
