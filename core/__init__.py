"""whisperx-worker engine: options in, `Result` out. Importing this package loads no model and no torch."""

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
