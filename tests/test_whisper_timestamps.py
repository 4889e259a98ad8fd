"""Splitting a chunk at whisper's timestamp tokens (pure logic; the engine tests run it on real audio)."""

from __future__ import annotations

from core.whisper_timestamps import TimedText, split_by_timestamps, split_timed_segments


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
    assert split_by_timestamps(tokens, Tokenizer()) == ((0.0, 1.5, " w1 w2"), (1.5, 2.4, " w3"))


def test_text_after_the_last_timestamp_stays_open():
    assert split_by_timestamps([ts(0.5), 7, 8], Tokenizer()) == ((0.5, None, " w7 w8"),)
    assert split_by_timestamps([5, Tokenizer.eot], Tokenizer()) == ((0.0, None, " w5"),)


def test_segments_split_and_clip_to_their_chunk():
    text = TimedText(" one two three")
    text.pieces = ((0.0, 2.0, " one"), (2.0, 4.0, " two"), (29.0, None, " three"))
    segments = split_timed_segments([{"start": 10.0, "end": 15.0, "text": text, "avg_logprob": -0.2}])
    assert [(s["start"], s["end"], s["text"]) for s in segments] == [
        (10.0, 12.0, " one"), (12.0, 14.0, " two"), (14.98, 15.0, " three")]
    assert all(type(s["text"]) is str and s["avg_logprob"] == -0.2 for s in segments)


def test_untimed_segments_pass_through_as_plain_text():
    segments = split_timed_segments([{"start": 1.0, "end": 2.0, "text": TimedText(" hi")}])
    assert segments == [{"start": 1.0, "end": 2.0, "text": " hi"}] and type(segments[0]["text"]) is str
