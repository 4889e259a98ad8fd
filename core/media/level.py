"""Level normalisation before VAD and ASR: quiet recordings raised to a speaking level.

The VAD's scores and Whisper's log-mel both depend on level: on a quiet meeting excerpt (RMS ≈ 0.015) the VAD
missed most of the speech (10 words where faster-whisper without VAD found 29). The gain is taken from the loud
frames (the speech, not the pauses between), is applied only to recordings whose speech is below QUIET_DBFS
(a normal recording is left as it is, so results and speed are unchanged), and stops before the peak would clip.
"""

from __future__ import annotations

import numpy as np

from core.media.mapped import mapped_like, mapping_of, release_pages

FRAME_S = 0.05
QUIET_DBFS = -30.0  # speech below this is raised (far-field meeting excerpts sit at -33 to -45; pyannote's
# close-talk sample at -27 is left as it is, so its diarization is unchanged)
TARGET_DBFS = -20.0  # level of the loud (speech) frames after normalisation
LOUD_PERCENTILE = 95  # which frames count as "the speech": the loudest 5 %
MAX_GAIN_DB = 50.0  # below this, it is noise floor, not speech worth raising
MIN_GAIN_DB = 1.0  # smaller changes are left alone
PEAK_LIMIT = 0.99
SCALE_BLOCK = 1 << 20  # samples scaled at a time in place


def speech_level_dbfs(samples: np.ndarray, sample_rate: int = 16_000) -> float | None:
    """RMS level (dBFS) of the loud frames, or None for digital silence."""
    frame = max(1, int(FRAME_S * sample_rate))
    usable = samples[: len(samples) // frame * frame]
    if usable.size == 0:
        usable = samples
        frame = len(samples)
    if usable.size == 0:
        return None
    rms = _frame_rms(usable.reshape(-1, frame))
    loud = float(np.percentile(rms, LOUD_PERCENTILE))
    return 20.0 * np.log10(loud) if loud > 1e-7 else None


def _frame_rms(frames: np.ndarray, block_frames: int = 1 << 11) -> np.ndarray:
    """Per-frame RMS in float64, a block of frames at a time: a float64 square of a whole four-hour recording
    would be 1.8 GB on top of its samples."""
    rms = np.empty(frames.shape[0], dtype=np.float64)
    for start in range(0, frames.shape[0], block_frames):
        block = frames[start:start + block_frames]
        rms[start:start + block_frames] = np.sqrt(np.mean(np.square(block, dtype=np.float64), axis=1))
        release_pages(block)  # mapped samples (core/media/mapped.py): what was read does not stay resident
    return rms


def normalize_level(samples: np.ndarray, sample_rate: int = 16_000, *,
                    in_place: bool = False) -> tuple[np.ndarray, float]:
    """`samples` raised so its speech sits at TARGET_DBFS (never lowered, never clipped); returns the gain in dB
    (0.0 when left as it was). `in_place` scales the caller's float32 array instead of a copy (a long
    recording's samples are not held twice)."""
    level = speech_level_dbfs(samples, sample_rate)
    if level is None or level >= QUIET_DBFS:
        return samples, 0.0
    peak = max(float(np.max(samples)), -float(np.min(samples)))  # no |samples| copy of a long recording
    gain_db = min(TARGET_DBFS - level, MAX_GAIN_DB, 20.0 * np.log10(PEAK_LIMIT / peak))
    if gain_db < MIN_GAIN_DB:
        return samples, 0.0
    gain = np.float32(10.0 ** (gain_db / 20.0))
    if in_place and samples.dtype == np.float32 and samples.flags.writeable:
        target = samples
    elif mapping_of(samples) is not None:  # someone else's long recording: the raised copy is mapped too
        target = mapped_like(samples)
    else:
        target = np.empty(samples.shape, dtype=np.float32)
    for start in range(0, samples.size, SCALE_BLOCK):  # a block at a time: mapped samples stay paged out
        np.multiply(samples[start:start + SCALE_BLOCK], gain, out=target[start:start + SCALE_BLOCK])
        release_pages(samples[start:start + SCALE_BLOCK])
        release_pages(target[start:start + SCALE_BLOCK])
    return target, round(float(gain_db), 2)
