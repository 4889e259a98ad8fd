"""A long recording transcribed block by block, so its first text is on screen seconds after the job starts.

whisperx's `transcribe` runs the VAD over the whole recording before it decodes anything: a minute of CPU per hour
of audio before the first word, and the VAD's scores for all of it in memory. Past BLOCKS_OVER_S, the engine
hands whisperx one block at a time instead: a short first block (its text comes after a few seconds of VAD and
one small batch), then blocks of BLOCK_S. Each cut falls on the quietest 50 ms within CUT_SEARCH_S before the
nominal boundary: between words, where a VAD chunk would end anyway. Shorter recordings are one block, as before.
"""

from __future__ import annotations

import numpy as np

BLOCKS_OVER_S = 20 * 60.0
FIRST_BLOCK_S = 30.0  # one or two VAD chunks: the first batch is small
BLOCK_S = 600.0
CUT_SEARCH_S = 5.0
FRAME_S = 0.05


def asr_blocks(samples: np.ndarray, sample_rate: int = 16_000) -> list[tuple[int, int]]:
    """(first, last) sample ranges that cover `samples` end to end, in order (the module's constants, read at
    each call)."""
    total = len(samples)
    first_s, block_s, search_s = FIRST_BLOCK_S, BLOCK_S, CUT_SEARCH_S
    if total <= BLOCKS_OVER_S * sample_rate:
        return [(0, total)]
    blocks, start, length = [], 0, first_s
    while total - start > (length + block_s / 2) * sample_rate:  # a short tail joins the last block
        nominal = start + round(length * sample_rate)
        cut = quietest(samples, nominal - round(search_s * sample_rate), nominal, sample_rate)
        blocks.append((start, cut))
        start, length = cut, block_s
    blocks.append((start, total))
    return blocks


def quietest(samples: np.ndarray, first: int, last: int, sample_rate: int = 16_000) -> int:
    """The middle of the quietest FRAME_S frame in samples[first:last]."""
    frame = max(1, round(FRAME_S * sample_rate))
    first = max(0, first)
    window = np.asarray(samples[first:last], dtype=np.float32)
    count = len(window) // frame
    if count == 0:
        return last
    energy = np.square(window[: count * frame].reshape(count, frame), dtype=np.float64).mean(axis=1)
    return first + int(np.argmin(energy)) * frame + frame // 2


def shifted(segments: list[dict], offset_s: float) -> list[dict]:
    """Segments (and their words) timed within a block, moved onto the recording's clock."""
    if not offset_s:
        return segments

    def moved(item: dict) -> dict:
        return {**item, **{key: round(item[key] + offset_s, 3) for key in ("start", "end")
                           if item.get(key) is not None}}

    return [{**moved(segment), **({"words": [moved(word) for word in segment["words"]]}
                                  if segment.get("words") else {})} for segment in segments]
