"""whisperx's batched WhisperModel, keeping what whisper knows about timing and confidence.

whisperx decodes batches without timestamps and keeps only each chunk's text and mean log-probability, so
without wav2vec2 alignment a segment is a whole VAD chunk (up to 30 s) with no word timing. This model keeps,
per chunk (on its `TimedText`):
- whisper's timestamp tokens (`without_timestamps=False`): sentence-level pieces, at no extra cost;
- word timings from the decoder's cross-attention (`word_timestamps=True`), computed by CTranslate2's `align`
  on the encoder output the batch already has — faster-whisper's method, batched;
- the token ids and the no-speech probability the decoder returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from whisperx.asr import WhisperModel

from core.whisper_timestamps import TimedText, WordTiming, content_frames, split_by_timestamps, word_timings


class TimedWhisperModel(WhisperModel):
    def generate_segment_batched(self, features: np.ndarray, tokenizer: Any, options: Any,
                                 encoder_output: Any = None) -> dict:
        calls: list[tuple[Any, list[Any]]] = []
        translator = self.model

        def generate_and_capture(encoded: Any, prompts: list, **kwargs: Any) -> Any:
            result = translator.generate(encoded, prompts, return_no_speech_prob=True, **kwargs)
            calls.append((encoded, result))
            return result

        self.model = _GenerateOverride(translator, generate_and_capture)
        try:
            output = super().generate_segment_batched(features, tokenizer, options, encoder_output)
        finally:
            self.model = translator
        (encoded, results), = calls
        tokens = [list(item.sequences_ids[0]) for item in results]
        words = (self._word_timings(tokenizer, tokens, encoded, features, options) if options.word_timestamps
                 else [None] * len(tokens))
        texts = []
        for text, item_tokens, item, item_words in zip(output["text"], tokens, results, words, strict=True):
            timed = TimedText(text)
            timed.tokens = tuple(item_tokens)
            timed.no_speech_prob = float(item.no_speech_prob)
            timed.temperature = 0.0  # whisperx's batched decoding is greedy / beam search, never sampled
            timed.pieces = () if options.without_timestamps else split_by_timestamps(item_tokens, tokenizer)
            timed.words = item_words
            texts.append(timed)
        return {**output, "text": texts}

    def _word_timings(self, tokenizer: Any, tokens: list[list[int]], encoded: Any, features: np.ndarray,
                      options: Any) -> list[tuple[WordTiming, ...]]:
        """Cross-attention word timing for every chunk of the batch in one `align` call."""
        text_tokens = [[token for token in item if token < tokenizer.eot] for item in tokens]
        mels = features.cpu().numpy() if hasattr(features, "cpu") else np.asarray(features)
        frames = [content_frames(item) for item in mels]
        wanted = [index for index, item in enumerate(text_tokens) if item and frames[index] > 0]
        timings: list[tuple[WordTiming, ...]] = [() for _ in tokens]
        if not wanted:
            return timings
        import ctranslate2

        subset = encoded
        if len(wanted) != len(tokens):  # align only chunks with text (an empty one has nothing to time)
            array = np.asarray(encoded) if encoded.device == "cpu" else None
            subset = ctranslate2.StorageView.from_array(np.ascontiguousarray(array[wanted])) if array is not None \
                else self.encode(mels[wanted])
        alignments = self.find_alignment(tokenizer, [text_tokens[i] for i in wanted], subset,
                                         [frames[i] for i in wanted])
        for index, alignment in zip(wanted, alignments, strict=True):
            timings[index] = word_timings(alignment, options.prepend_punctuations, options.append_punctuations)
        return timings


class _GenerateOverride:
    """The CTranslate2 model with `generate` replaced (to see the encoder output and results); all else passes
    through."""

    def __init__(self, wrapped: Any, generate: Any) -> None:
        self._wrapped = wrapped
        self.generate = generate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)
