"""Whisper's own timing inside a VAD chunk: sentence pieces from its timestamp tokens, words from its
cross-attention, and the decoder's statistics; then one segment per piece.

Pure logic (no model imports), so the engine can use it and tests can check it without loading whisper.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from core.asr.sentences import SENTENCE_END_MARKS, sentence_groups

TIMESTAMP_STEP_S = 0.02  # whisper's timestamp token resolution
MEL_FRAMES_PER_SECOND = 100
LOOP_REPEATS = 5  # a word or phrase this many times in a row is a decoding loop, not speech (see `repeated_run`)
_LONGEST_LOOP_WORDS = 4


class Piece(NamedTuple):
    """Text between two timestamp tokens; seconds from the chunk's start (`end` None when left open)."""

    start: float
    end: float | None
    text: str
    tokens: tuple[int, ...] = ()


class WordTiming(NamedTuple):
    """One word timed by cross-attention; seconds from the chunk's start. `tokens` counts the text tokens it
    spans, so words can be dealt out to the pieces they came from (merged punctuation has a word of "")."""

    word: str
    start: float
    end: float
    probability: float
    tokens: int


class TimedText(str):
    """A chunk's text that also carries what the decoder knew about it; a plain `str` everywhere else (whisperx
    passes only the text and `avg_logprob` of each chunk on)."""

    pieces: tuple[Piece, ...] = ()
    words: tuple[WordTiming, ...] | None = None
    tokens: tuple[int, ...] = ()
    no_speech_prob: float | None = None
    temperature: float | None = None


def split_by_timestamps(tokens: Sequence[int], tokenizer: Any) -> tuple[Piece, ...]:
    """Token ids with timestamp tokens → pieces; text before the first timestamp starts at 0."""
    pieces: list[Piece] = []
    start, text_tokens = 0.0, []
    for token in tokens:
        if token >= tokenizer.timestamp_begin:
            time_s = round((token - tokenizer.timestamp_begin) * TIMESTAMP_STEP_S, 3)
            if text_tokens:
                pieces.append(Piece(start, time_s, tokenizer.decode(text_tokens), tuple(text_tokens)))
                text_tokens = []
            start = time_s
        elif token < tokenizer.eot:
            text_tokens.append(token)
    if text_tokens:
        pieces.append(Piece(start, None, tokenizer.decode(text_tokens), tuple(text_tokens)))
    return tuple(_drop_blank_pieces(pieces))


def _drop_blank_pieces(pieces: list[Piece]) -> list[Piece]:
    """Blank pieces go, but their tokens stay counted (in the next kept piece) so word timings still line up."""
    kept: list[Piece] = []
    carried: tuple[int, ...] = ()
    for piece in pieces:
        if piece.text.strip():
            kept.append(piece._replace(tokens=carried + piece.tokens))
            carried = ()
        else:
            carried += piece.tokens
    if carried and kept:
        kept[-1] = kept[-1]._replace(tokens=kept[-1].tokens + carried)
    return kept


def content_frames(features: np.ndarray) -> int:
    """Mel frames before the padding that fills a chunk up to 30 s.

    Padding is digital silence, which whisper's log-mel maps to the item's floor value in every band, so the
    content ends at the last frame with any band above the floor. Cross-attention timing needs this: past it,
    the alignment would stretch the last word over the padding."""
    loudest = features.max(axis=0)
    above = np.nonzero(loudest > features.min() + 1e-4)[0]
    return int(above[-1]) + 1 if above.size else 0


def word_timings(alignment: list[dict], prepend_punctuations: str, append_punctuations: str) -> tuple[WordTiming, ...]:
    """faster-whisper's `find_alignment` output for one chunk → words, with its two clean-ups: words at sentence
    boundaries no longer than twice the median word, and punctuation merged into its word."""
    from faster_whisper.transcribe import merge_punctuations

    alignment = [dict(item) for item in alignment]
    durations = np.array([item["end"] - item["start"] for item in alignment])
    durations = durations[durations.nonzero()]
    if durations.size:
        max_duration = min(0.7, float(np.median(durations))) * 2
        for index in range(1, len(alignment)):
            item, previous = alignment[index], alignment[index - 1]
            if item["end"] - item["start"] > max_duration:
                if item["word"] in SENTENCE_END_MARKS:
                    item["end"] = item["start"] + max_duration
                elif previous["word"] in SENTENCE_END_MARKS:
                    item["start"] = item["end"] - max_duration
    merge_punctuations(alignment, prepend_punctuations, append_punctuations)
    return tuple(
        WordTiming(item["word"], round(float(item["start"]), 3), round(float(item["end"]), 3),
                   float(item["probability"]), len(item["tokens"]))
        for item in alignment
    )


def compression_ratio(text: str) -> float | None:
    """gzip ratio of the text (whisper's repetition check), as faster-whisper reports it."""
    data = text.encode("utf-8")
    return round(len(data) / len(zlib.compress(data)), 3) if data else None


def repeated_run(text: str, longest: int = _LONGEST_LOOP_WORDS) -> int:
    """The most times any phrase of 1..`longest` words occurs back to back in `text` (case and punctuation
    ignored): "Yeah, yeah, yeah." → 3. Whisper's decoding loops show up as high counts."""
    words = ["".join(char for char in word.lower() if char.isalnum()) or word for word in text.split()]
    best = 1 if words else 0
    for size in range(1, longest + 1):
        for offset in range(size):
            run, previous = 0, None
            for start in range(offset, len(words) - size + 1, size):
                phrase = tuple(words[start:start + size])
                run = run + 1 if phrase == previous else 1
                previous = phrase
                best = max(best, run)
    return best


def split_timed_segments(segments: list[dict]) -> list[dict]:
    """whisperx chunk segments whose text is `TimedText` → one segment per piece, clipped to the chunk, with
    the chunk's words (when timed) dealt out to their pieces and the decoder's statistics on each."""
    result: list[dict] = []
    for segment in segments:
        text = segment["text"]
        chunk_start, chunk_end = segment["start"], segment["end"]
        pieces = getattr(text, "pieces", ())
        words = getattr(text, "words", None)
        if pieces or not words:
            pieces = pieces or (Piece(0.0, None, str(text), getattr(text, "tokens", ())),)
            per_piece = _deal_words(words, pieces) if words is not None else [None] * len(pieces)
        else:  # decoded without timestamp tokens: sentences from the words' own times
            pieces, per_piece = _sentence_pieces(words, getattr(text, "tokens", ()))
        for piece, piece_words in zip(pieces, per_piece, strict=True):
            if not piece.text.strip():
                continue
            start, end = _clip_piece(piece, chunk_start, chunk_end)
            out = {**segment, "start": start, "end": end, "text": piece.text,
                   **_statistics(text, piece)}
            if piece_words is not None:
                out["words"] = _absolute_words(piece_words, chunk_start, chunk_end)
                if out["words"]:
                    out["start"], out["end"] = out["words"][0]["start"], out["words"][-1]["end"]
            result.append(out)
    return result


def _sentence_pieces(words: tuple[WordTiming, ...],
                     tokens: Sequence[int]) -> tuple[tuple[Piece, ...], list[list[WordTiming]]]:
    """A chunk's words cut into sentences (`core.asr.sentences`), each a piece with its text and token ids."""
    pieces, dealt, used = [], [], 0
    for group in sentence_groups(words):
        spoken = [word for word in group if word.word.strip()] or group
        count = sum(word.tokens for word in group)
        pieces.append(Piece(spoken[0].start, spoken[-1].end, "".join(word.word for word in group),
                            tuple(tokens[used:used + count])))
        dealt.append([word for word in group if word.word.strip()])
        used += count
    return tuple(pieces), dealt


def _clip_piece(piece: Piece, chunk_start: float, chunk_end: float) -> tuple[float, float]:
    start = min(chunk_start + piece.start, chunk_end)
    end = chunk_end if piece.end is None else min(chunk_start + piece.end, chunk_end)
    if end <= start:  # whisper put it past the chunk's speech: keep it, at the chunk's end
        start = max(chunk_start, min(start, chunk_end - 0.02))
        end = chunk_end
    return round(start, 3), round(end, 3)


def _deal_words(words: tuple[WordTiming, ...], pieces: Sequence[Piece]) -> list[list[WordTiming]]:
    """Give each piece the words made of its tokens (faster-whisper's bookkeeping, by token counts)."""
    dealt: list[list[WordTiming]] = []
    index = 0
    for position, piece in enumerate(pieces):
        taken, own = 0, []
        last = position == len(pieces) - 1
        while index < len(words) and (last or taken < len(piece.tokens)):
            if words[index].word.strip():
                own.append(words[index])
            taken += words[index].tokens
            index += 1
        dealt.append(own)
    return dealt


def _absolute_words(words: list[WordTiming], chunk_start: float, chunk_end: float) -> list[dict]:
    timed = []
    for word in words:
        start = min(max(chunk_start + word.start, chunk_start), chunk_end)
        end = min(max(chunk_start + word.end, start), chunk_end)
        timed.append({"word": word.word.strip(), "start": round(start, 3), "end": round(end, 3),
                      "score": round(word.probability, 3)})
    return timed


def _statistics(text: Any, piece: Piece) -> dict[str, Any]:
    """What the decoder measured for the chunk (no_speech_prob, temperature) and for this piece."""
    stats: dict[str, Any] = {"compression_ratio": compression_ratio(piece.text.strip()),
                             "tokens": list(piece.tokens) or None}
    no_speech = getattr(text, "no_speech_prob", None)
    stats["no_speech_prob"] = None if no_speech is None or math.isnan(no_speech) else round(float(no_speech), 4)
    stats["temperature"] = getattr(text, "temperature", None)
    return stats
