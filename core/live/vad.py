"""Speech probability of a live stream, every 32 ms, from Silero VAD.

The batch engine finds speech with pyannote's segmentation model over 5 s windows: right for a whole file, too
coarse and too costly to run again every few hundred milliseconds. Silero VAD is made for streams: a small
recurrent model that scores each 512-sample frame (32 ms at 16 kHz) given its state, ~4 ms of CPU per second of
audio here. Its weights ship inside faster-whisper (`faster_whisper/assets/silero_vad_v6.onnx`, a dependency the
image already has), so nothing is fetched. `FrameScorer` runs it incrementally: the recurrent state and the
64-sample context are carried across chunks, which gives exactly the probabilities of one pass over the whole
stream (faster-whisper's `SileroVADModel`), whatever the chunk sizes.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

FRAME_SAMPLES = 512  # 32 ms at 16 kHz: one Silero step
FRAME_MS = 32
_CONTEXT_SAMPLES = 64
_STATE_SHAPE = (1, 1, 128)


@functools.lru_cache(maxsize=1)
def silero_session() -> Any:
    """The process's one ONNX Runtime session (its `run` may be called from several threads at once)."""
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1  # a frame is tiny: threads would only wait for each other
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
                                        providers=["CPUExecutionProvider"], sess_options=options)


class FrameScorer:
    """Speech probabilities of a stream's whole 32 ms frames, as they complete."""

    def __init__(self, session: Any | None = None) -> None:
        self._session = session or silero_session()
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """One probability per frame completed by `samples` (possibly none)."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        whole = len(self._pending) // FRAME_SAMPLES * FRAME_SAMPLES
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        frames = self._pending[:whole].reshape(-1, FRAME_SAMPLES)
        self._pending = self._pending[whole:]
        contexts = np.concatenate([self._context[None], frames[:-1, -_CONTEXT_SAMPLES:]], axis=0)
        batch = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1))
        probabilities, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = frames[-1, -_CONTEXT_SAMPLES:].copy()
        return np.asarray(probabilities, dtype=np.float32).reshape(-1)
