"""A long recording transcribed block by block (core/asr/blocks.py): blocks cover it end to end and are cut in
pauses; the engine's result is the one-block result's, and the first text streams before the VAD has heard the
rest of the recording."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.asr import blocks

SR = 16_000


def test_a_recording_up_to_the_limit_is_one_block():
    samples = np.zeros(int(blocks.BLOCKS_OVER_S * SR), dtype=np.float32)
    assert blocks.asr_blocks(samples) == [(0, len(samples))]


def test_blocks_cover_the_recording_and_are_cut_in_pauses(monkeypatch):
    monkeypatch.setattr(blocks, "BLOCKS_OVER_S", 60.0)
    monkeypatch.setattr(blocks, "FIRST_BLOCK_S", 10.0)
    monkeypatch.setattr(blocks, "BLOCK_S", 30.0)
    monkeypatch.setattr(blocks, "CUT_SEARCH_S", 3.0)
    rng = np.random.default_rng(3)
    samples = (0.3 * rng.standard_normal(200 * SR)).astype(np.float32)
    pauses = [(start, start + int(0.2 * SR)) for start in range(int(1.3 * SR), len(samples), int(2.1 * SR))]
    for start, end in pauses:
        samples[start:end] = 0.001 * rng.standard_normal(end - start)
    found = blocks.asr_blocks(samples)
    assert found[0][0] == 0 and found[-1][1] == len(samples)
    assert all(left[1] == right[0] for left, right in itertools.pairwise(found))
    assert found[0][1] <= 10 * SR and all(last - first <= 45 * SR for first, last in found)
    assert 6 <= len(found) <= 8, found  # up to 10 s, then up to 30 s each, the tail joined to the last
    for _, cut in found[:-1]:
        assert any(start <= cut < end for start, end in pauses), cut / SR


def test_segments_and_words_move_onto_the_recordings_clock():
    segment = {"text": "hi there", "start": 1.0, "end": 2.0,
               "words": [{"word": "hi", "start": 1.0, "end": 1.4}, {"word": "there"}]}
    moved = blocks.shifted([segment], 600.25)
    assert moved[0]["start"] == 601.25 and moved[0]["end"] == 602.25 and moved[0]["text"] == "hi there"
    assert moved[0]["words"] == [{"word": "hi", "start": 601.25, "end": 601.65}, {"word": "there"}]
    assert segment["start"] == 1.0 and blocks.shifted([segment], 0.0) == [segment]


@pytest.mark.slow
def test_the_engine_in_blocks_streams_early_and_keeps_the_transcript(engine, dialogue, monkeypatch):
    """The 20 s two-voice dialogue cut as if it were long (blocks of 4 s, then 6 s): the same words and speakers
    as in one block, times on the recording's clock, and the first text streamed before the VAD ran on the last
    block (for an hour, that is seconds instead of the whole VAD pass first)."""
    from core import TranscribeOptions
    from core.asr import chunks
    from tests.speech import word_error_rate

    options = TranscribeOptions(diarization=True)
    whole = engine.transcribe(dialogue.path, options)
    for name, value in (("BLOCKS_OVER_S", 5.0), ("FIRST_BLOCK_S", 4.0), ("BLOCK_S", 6.0), ("CUT_SEARCH_S", 2.0)):
        monkeypatch.setattr(blocks, name, value)
    events: list[tuple] = []
    vad = chunks.PaddedChunks.__call__

    def heard(self, file, **kwargs):
        events.append(("vad", file["waveform"].shape[-1] / SR))
        return vad(self, file, **kwargs)

    monkeypatch.setattr(chunks.PaddedChunks, "__call__", heard)
    cut = engine.transcribe(dialogue.path, options, on_segments=lambda found: events.append(("text", found)))
    vad_calls = [event for event in events if event[0] == "vad"]
    assert len(vad_calls) >= 3 and all(length <= 6.5 for _, length in vad_calls), vad_calls
    first_text = next(index for index, event in enumerate(events) if event[0] == "text")
    assert first_text < events.index(vad_calls[-1])
    streamed = [segment for event in events if event[0] == "text" for segment in event[1]]
    assert [s.start for s in streamed] == sorted(s.start for s in streamed)
    assert streamed[-1].start > 10.0  # later blocks are on the recording's clock, not their own
    assert word_error_rate(whole.text, cut.text) <= 0.1, (whole.text, cut.text)
    assert cut.speakers == whole.speakers and len(cut.speakers) == 2
    words = [word for segment in cut.segments for word in segment.words]
    assert all(0.0 <= word.start <= word.end <= cut.duration + 0.01 for word in words if word.start is not None)
