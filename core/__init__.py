"""whisperx-worker engine: options in, `Result` out. Importing this package loads no model and no torch."""

import os

# pyannote.audio decides on its telemetry when it is imported, and several of our modules import whisperx (which
# imports pyannote): off unless the operator turned it on, before any of them loads. Jobs never use the network.
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from core.errors import AudioDecodeError, InferenceError, InvalidInput, ModelUnavailable, WorkerError
from core.options import TranscribeOptions
from core.progress import ProgressCallback
from core.settings import Settings
from core.transcript.result import Result

__all__ = [
    "AudioDecodeError",
    "InferenceError",
    "InvalidInput",
    "ModelUnavailable",
    "ProgressCallback",
    "Result",
    "Settings",
    "TranscribeOptions",
    "WorkerError",
]
