"""Spoken-language detection on whisper's encoder, with a minimum probability and retries on other windows.

whisperx detects on the first 30 s only and discards the probability. A recording that opens with music, noise
or a few words in another language then gets the wrong language for all of it. With `min_probability` > 0, up
to `max_tries` windows spread evenly over the recording are tried until one reaches that probability; the most
probable answer wins when none does (the WhisperX worker's `language_detection_min_prob` /
`language_detection_max_tries`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 30 * 16_000  # whisper's input window (whisperx.asr.N_SAMPLES)


@dataclasses.dataclass(frozen=True)
class Detection:
    language: str
    probability: float
    tries: int  # windows looked at


def detect_language(pipeline: Any, audio: np.ndarray) -> tuple[str, float]:
    """The language of the first 30 s and its probability (whisperx's detection, keeping the probability)."""
    found = detect_in_window(pipeline, audio, 0)
    return found.language, found.probability


def detect(pipeline: Any, audio: np.ndarray, *, min_probability: float = 0.0, max_tries: int = 1) -> Detection:
    """Detect on evenly spread 30 s windows until one reaches `min_probability` (at most `max_tries`)."""
    starts = window_starts(audio.shape[0], max_tries if min_probability > 0 else 1)
    best: Detection | None = None
    tries = 0
    for start in starts:
        tries += 1
        found = detect_in_window(pipeline, audio, start)
        if best is None or found.probability > best.probability:
            best = found
        if found.probability >= min_probability:
            break
    assert best is not None  # window_starts always gives at least one window
    if len(starts) > 1:
        logger.info("language %s (p=%.2f) after %d of %d windows", best.language, best.probability, tries,
                    len(starts))
    return dataclasses.replace(best, tries=tries)


def window_starts(num_samples: int, tries: int) -> list[int]:
    """Where the windows start: the first at 0, the last ending at the end, the others evenly between; never
    more windows than whole 30 s windows fit (a short recording gets one)."""
    count = max(1, min(tries, num_samples // WINDOW_SAMPLES))
    if count == 1:
        return [0]
    last = num_samples - WINDOW_SAMPLES
    return [round(i * last / (count - 1)) for i in range(count)]


def detect_in_window(pipeline: Any, audio: np.ndarray, start: int) -> Detection:
    from whisperx.asr import N_SAMPLES, log_mel_spectrogram

    n_mels = pipeline.model.feat_kwargs.get("feature_size") or 80
    window = audio[start: start + N_SAMPLES]
    features = log_mel_spectrogram(window, n_mels=n_mels, padding=max(0, N_SAMPLES - window.shape[0]))
    encoded = pipeline.model.encode(features)
    token, probability = pipeline.model.model.detect_language(encoded)[0][0]
    return Detection(token[2:-2], round(float(probability), 4), 1)
