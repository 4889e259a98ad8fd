"""Audio as a live client sends it → the engine's 16 kHz mono float32, one chunk at a time.

The OpenAI Realtime protocol sends 16-bit little-endian PCM at 24 kHz (`audio/pcm`) or G.711 at 8 kHz
(`audio/pcmu` μ-law, `audio/pcma` A-law), base64-encoded, in chunks of any size. `StreamDecoder` turns each
chunk into 16 kHz samples as it arrives; its resampler keeps the few samples the filter needs across chunk
boundaries, so the output equals resampling the whole stream at once (no clicks where chunks meet) and is
only ~2 ms behind the input.
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import InvalidInput
from core.media.decode import SAMPLE_RATE

# format type → (input sample rate, bytes per sample)
INPUT_FORMATS: dict[str, tuple[int, int]] = {"audio/pcm": (24_000, 2), "audio/pcmu": (8_000, 1),
                                             "audio/pcma": (8_000, 1)}


class StreamResampler:
    """Polyphase resampling (`scipy.signal.resample_poly`) of an unbounded stream, chunk by chunk.

    Each call resamples the samples whose filter support is complete, with `context` real samples on both sides,
    and keeps the rest for the next chunk: interior output is identical to resampling the whole stream."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE) -> None:
        divisor = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // divisor, rate_in // divisor
        half_taps = 10 * max(self.up, self.down)  # resample_poly's own filter half-length, at the upsampled rate
        self._context = self.down * math.ceil((half_taps / self.up + 1) / self.down)  # input samples, whole steps
        self._buffer = np.zeros(self._context, dtype=np.float32)  # left context (silence before the stream)

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return samples.astype(np.float32, copy=False)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        ready = (len(self._buffer) - 2 * self._context) // self.down * self.down
        if ready <= 0:
            return np.zeros(0, dtype=np.float32)
        from scipy.signal import resample_poly

        window = self._buffer[: ready + 2 * self._context]
        out = resample_poly(window, self.up, self.down).astype(np.float32)
        first = self._context * self.up // self.down
        self._buffer = self._buffer[ready:]
        return out[first: first + ready * self.up // self.down]


def _mulaw_table() -> np.ndarray:
    """ITU-T G.711 μ-law byte → linear 16-bit value (as `audioop.ulaw2lin` decodes it)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent, mantissa = (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    """ITU-T G.711 A-law byte → linear 16-bit value (as `audioop.alaw2lin` decodes it)."""
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (codes >> 4) & 0x07, codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.float32) / 32768.0


_G711 = {"audio/pcmu": _mulaw_table(), "audio/pcma": _alaw_table()}


class StreamDecoder:
    """Bytes of one input format → 16 kHz mono float32 in [-1, 1], chunk by chunk."""

    def __init__(self, format_type: str) -> None:
        if format_type not in INPUT_FORMATS:
            raise InvalidInput(f"audio format {format_type!r} is not supported; accepted: "
                               f"{', '.join(INPUT_FORMATS)}", field="format")
        self.format_type = format_type
        self.rate, self.sample_bytes = INPUT_FORMATS[format_type]
        self._resampler = StreamResampler(self.rate)

    def push(self, data: bytes, *, field: str = "audio") -> np.ndarray:
        if len(data) % self.sample_bytes:
            raise InvalidInput(f"{field}: {len(data)} bytes is not a whole number of {self.sample_bytes}-byte "
                               f"samples ({self.format_type})", field=field)
        if self.format_type == "audio/pcm":
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = _G711[self.format_type][np.frombuffer(data, dtype=np.uint8)]
        return self._resampler.push(samples)
