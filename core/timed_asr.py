"""whisperx's batched WhisperModel, also able to keep whisper's own timestamps inside each VAD chunk.

whisperx decodes batches without timestamps, so without word alignment a segment is a whole VAD chunk (up to
`chunk_size`, 30 s): too coarse for subtitles, and one speaker label for what may be several speakers. With
`without_timestamps=False` whisper predicts timestamp tokens, as in its training; this model keeps them (as
`TimedText.pieces`) so the engine can split chunks into whisper's sentence-level segments, at no extra cost.
"""

from __future__ import annotations

from typing import Any

from whisperx.asr import WhisperModel

from core.whisper_timestamps import TimedText, split_by_timestamps


class TimedWhisperModel(WhisperModel):
    def generate_segment_batched(self, features: Any, tokenizer: Any, options: Any, encoder_output: Any = None) -> dict:
        if options.without_timestamps:
            return super().generate_segment_batched(features, tokenizer, options, encoder_output)
        captured: list[list[int]] = []
        translator = self.model

        def generate_and_capture(*args: Any, **kwargs: Any) -> Any:
            result = translator.generate(*args, **kwargs)
            captured.extend(item.sequences_ids[0] for item in result)
            return result

        self.model = _GenerateOverride(translator, generate_and_capture)
        try:
            output = super().generate_segment_batched(features, tokenizer, options, encoder_output)
        finally:
            self.model = translator
        texts = []
        for text, tokens in zip(output["text"], captured, strict=True):
            timed = TimedText(text)
            timed.pieces = split_by_timestamps(tokens, tokenizer)
            texts.append(timed)
        return {**output, "text": texts}


class _GenerateOverride:
    """The ctranslate2 model with `generate` replaced (to see the token ids); all else passes through."""

    def __init__(self, wrapped: Any, generate: Any) -> None:
        self._wrapped = wrapped
        self.generate = generate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)
