"""Whisper's own timing inside a chunk (pure logic; tests/test_word_timing.py runs it on real audio)."""

from __future__ import annotations

import numpy as np

from core.asr.timestamps import (
    Piece,
    TimedText,
    WordTiming,
    content_frames,
    split_by_timestamps,
    split_timed_segments,
    word_timings,
)


class Tokenizer:
    """The two token ids that matter, and a decode that spells token ids as words."""

    eot = 100
    timestamp_begin = 200

    def decode(self, tokens: list[int]) -> str:
        return "".join(f" w{token}" for token in tokens)


def ts(seconds: float) -> int:
    return Tokenizer.timestamp_begin + round(seconds / 0.02)


def test_pieces_between_timestamp_pairs():
    tokens = [ts(0), 1, 2, ts(1.5), ts(1.5), 3, ts(2.4), Tokenizer.eot]
    assert split_by_timestamps(tokens, Tokenizer()) == (
        Piece(0.0, 1.5, " w1 w2", (1, 2)), Piece(1.5, 2.4, " w3", (3,)))


def test_text_after_the_last_timestamp_stays_open():
    assert split_by_timestamps([ts(0.5), 7, 8], Tokenizer()) == (Piece(0.5, None, " w7 w8", (7, 8)),)
    assert split_by_timestamps([5, Tokenizer.eot], Tokenizer()) == (Piece(0.0, None, " w5", (5,)),)


def test_segments_split_and_clip_to_their_chunk():
    text = TimedText(" one two three")
    text.pieces = (Piece(0.0, 2.0, " one"), Piece(2.0, 4.0, " two"), Piece(29.0, None, " three"))
    text.no_speech_prob = 0.01
    segments = split_timed_segments([{"start": 10.0, "end": 15.0, "text": text, "avg_logprob": -0.2}])
    assert [(s["start"], s["end"], s["text"]) for s in segments] == [
        (10.0, 12.0, " one"), (12.0, 14.0, " two"), (14.98, 15.0, " three")]
    assert all(type(s["text"]) is str and s["avg_logprob"] == -0.2 and s["no_speech_prob"] == 0.01
               for s in segments)
    assert all("words" not in s for s in segments)  # words were not asked for


def test_untimed_chunk_is_one_segment_with_its_statistics():
    text = TimedText(" hi there")
    text.tokens = (5, 6)
    segments = split_timed_segments([{"start": 1.0, "end": 2.0, "text": text}])
    assert len(segments) == 1 and type(segments[0]["text"]) is str
    assert segments[0]["tokens"] == [5, 6] and segments[0]["compression_ratio"] > 0


def test_words_are_dealt_to_their_pieces_by_token_count_and_made_absolute():
    text = TimedText(" Hello there. How are you?")
    text.pieces = (Piece(0.0, 1.0, " Hello there.", (1, 2, 3)), Piece(1.2, 2.5, " How are you?", (4, 5, 6, 7)))
    # "there." spans two tokens (word + merged full stop); merged punctuation leaves an empty word behind
    text.words = (WordTiming(" Hello", 0.1, 0.4, 0.9, 1), WordTiming(" there.", 0.4, 0.9, 0.8, 2),
                  WordTiming(" How", 1.2, 1.4, 0.9, 1), WordTiming("", 1.4, 1.4, 0.0, 0),
                  WordTiming(" are", 1.4, 1.6, 0.9, 1), WordTiming(" you?", 1.6, 2.4, 0.7, 2))
    first, second = split_timed_segments([{"start": 5.0, "end": 7.6, "text": text}])
    assert [w["word"] for w in first["words"]] == ["Hello", "there."]
    assert [w["word"] for w in second["words"]] == ["How", "are", "you?"]
    assert first["words"][0] == {"word": "Hello", "start": 5.1, "end": 5.4, "score": 0.9}
    assert (first["start"], first["end"]) == (5.1, 5.9)  # a segment spans its words
    assert (second["start"], second["end"]) == (6.2, 7.4)


def test_word_times_never_leave_their_chunk():
    text = TimedText(" late")
    text.words = (WordTiming(" late", 2.9, 3.6, 0.5, 1),)
    (segment,) = split_timed_segments([{"start": 0.0, "end": 3.0, "text": text}])
    assert segment["words"] == [{"word": "late", "start": 2.9, "end": 3.0, "score": 0.5}]


def test_content_frames_stop_where_the_padding_starts():
    features = np.full((80, 3000), -0.5, dtype=np.float32)  # the log-mel floor of digital silence
    features[:, :1234] = np.random.default_rng(0).uniform(0.0, 1.0, (80, 1234))
    assert content_frames(features) == 1234
    assert content_frames(np.full((80, 3000), -0.5, dtype=np.float32)) == 0


def test_word_timings_merge_punctuation_and_cap_long_sentence_end_words():
    alignment = [
        {"word": " Hi", "tokens": [1], "start": 0.0, "end": 0.3, "probability": 0.9},
        {"word": ".", "tokens": [2], "start": 0.3, "end": 3.0, "probability": 0.5},
        {"word": " Then", "tokens": [3], "start": 3.0, "end": 3.3, "probability": 0.8},
    ]
    words = word_timings(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
    assert [(w.word, w.tokens) for w in words] == [(" Hi.", 2), ("", 0), (" Then", 1)]
    assert words[1].end - words[1].start <= 0.61  # the full stop no longer swallows the pause
