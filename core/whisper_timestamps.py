"""Whisper's own timestamps inside a VAD chunk: parse them from tokens, then split the chunk's segment by them.

Pure logic (no model imports), so the engine can use it and tests can check it without loading whisper.
"""

from __future__ import annotations

from typing import Any

TIMESTAMP_STEP_S = 0.02  # whisper's timestamp token resolution

Piece = tuple[float, float | None, str]  # (start, end or None when left open, text), seconds from chunk start


class TimedText(str):
    """A chunk's text that also carries whisper's pieces; a plain `str` everywhere else."""

    pieces: tuple[Piece, ...] = ()


def split_by_timestamps(tokens: list[int], tokenizer: Any) -> tuple[Piece, ...]:
    """Token ids with timestamp tokens → pieces; text before the first timestamp starts at 0."""
    pieces: list[Piece] = []
    start, text_tokens = 0.0, []
    for token in tokens:
        if token >= tokenizer.timestamp_begin:
            time_s = round((token - tokenizer.timestamp_begin) * TIMESTAMP_STEP_S, 3)
            if text_tokens:
                pieces.append((start, time_s, tokenizer.decode(text_tokens)))
                text_tokens = []
            start = time_s
        elif token < tokenizer.eot:
            text_tokens.append(token)
    if text_tokens:
        pieces.append((start, None, tokenizer.decode(text_tokens)))
    return tuple(piece for piece in pieces if piece[2].strip())


def split_timed_segments(segments: list[dict]) -> list[dict]:
    """whisperx chunk segments whose text is `TimedText` → one segment per piece, clipped to the chunk."""
    result: list[dict] = []
    for segment in segments:
        pieces = getattr(segment["text"], "pieces", ())
        if not pieces:
            result.append({**segment, "text": str(segment["text"])})
            continue
        chunk_start, chunk_end = segment["start"], segment["end"]
        for start, end, text in pieces:
            piece_start = min(chunk_start + start, chunk_end)
            piece_end = chunk_end if end is None else min(chunk_start + end, chunk_end)
            if piece_end <= piece_start:  # whisper put it past the chunk's speech: keep it, at the chunk's end
                piece_start = max(chunk_start, min(piece_start, chunk_end - 0.02))
                piece_end = chunk_end
            result.append({**segment, "start": round(piece_start, 3), "end": round(piece_end, 3), "text": text})
    return result
