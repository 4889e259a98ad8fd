"""Whisper decoding for live sessions, on the model the registry already loaded (never a copy per session).

Two kinds of decode, with different jobs:
- `partial`: what has been said so far in a turn that is still going on, about once a second. Whisper's encoder
  normally sees a 30 s window whatever the audio's length, and that pass is most of a decode's cost (base on this
  2-core CPU: ~1.3 CPU-s). CTranslate2 also accepts a shorter window; a partial encodes only the turn so far plus
  PARTIAL_PAD_S of silence (5 s of speech: ~0.1 CPU-s) and decodes greedily. Its text is a draft: words are shown
  only once two drafts in a row agree on them (`core/live/agreement.py`).
- `final`: the turn once it has ended, decoded as the batch engine decodes one VAD chunk
  (`TimedWhisperModel.generate_segment_batched` on a 30 s window: beam search, the temperature fallback that
  re-decodes loops, the registry's default options), its pieces split and its silence dropped by the same
  functions. Unlike the batch engine it keeps Whisper's timestamp tokens: decoded without them, Whisper may end a
  turn after its first sentence (a 9.5 s two-sentence turn kept only the first; the dev conversations' live turns
  read 12.1 % WER instead of 9.3 %), and the batch engine's remedy, decoding again the speech no word covers,
  would cost a live final a second decode.

Both go straight to CTranslate2 through `TimedWhisperModel.view()`, which is safe beside a running batch job (one
worker thread decodes for every session, so the view's own state is never shared).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from core.media.decode import SAMPLE_RATE
from core.media.level import normalize_level

PARTIAL_PAD_S = 2.0  # silence after the speech in a partial's window: whisper expects audio to trail off
FINAL_PAD_S = 2.0  # ...and in a final's window, which is never shorter than FINAL_MIN_WINDOW_S
# A final's encoder window: whisper's own 30 s. Shorter windows cost less (10 s: ~40 % of the CPU) but read worse
# (LibriSpeech test-other turns, base: WER 14.8 % at 30 s, 16.4 % at 15 s, 18.2 % at 10 s): finals stay offline text.
FINAL_MIN_WINDOW_S = 30.0
MAX_WINDOW_FRAMES = 3000  # 30 s of 10 ms mel frames: whisper's whole window
# A final whose first decode fails whisper's checks (a loop, or text the model doubts) is decoded again at the next
# temperatures only until this much time has gone: the turn's final is what someone waits for. On far-field meeting
# noise the whole schedule took a 7 s turn 12 s (six attempts), and live latency piled up behind it.
FINAL_FALLBACK_BUDGET_S = 1.0
FINAL_BEAM_SIZE = 5  # the batch engine's default (TranscribeOptions.beam_size: none_means "5")
PARTIAL_NO_SPEECH = 0.6  # faster-whisper's no_speech_threshold: a draft the model thinks is silence is dropped
TOKENS_PER_S = 8  # a partial decodes at most this many tokens per second of audio (speech is ~3–5): no runaway loop


@dataclasses.dataclass(frozen=True)
class DecodedSegment:
    start: float  # seconds from the start of the decoded audio
    end: float
    text: str


@dataclasses.dataclass(frozen=True)
class FinalText:
    segments: tuple[DecodedSegment, ...]
    language: str | None
    language_probability: float | None

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()


def joined(parts: list[tuple[float, FinalText]]) -> FinalText:
    """Texts of consecutive parts of one turn (each with its start in the turn, seconds) as the turn's one text."""
    segments = tuple(DecodedSegment(round(offset + segment.start, 3), round(offset + segment.end, 3), segment.text)
                     for offset, text in parts for segment in text.segments)
    known = next((text for _, text in parts if text.language), None)
    return FinalText(segments, known.language if known else None, known.language_probability if known else None)


class LiveDecoder:
    """Partial and final decodes with one loaded ASR model; its methods may be called from any thread."""

    def __init__(self, asr: Any) -> None:
        model = asr.pipeline.model
        self.name = asr.name
        self.multilingual = bool(model.model.is_multilingual)
        self._model = model.view() if hasattr(model, "view") else model
        if hasattr(self._model, "fallback_budget_s"):  # this view only: batch jobs keep the whole schedule
            self._model.fallback_budget_s = FINAL_FALLBACK_BUDGET_S
        self._options = asr.default_options or getattr(asr.pipeline, "options", None)
        tokenizer = self._model.hf_tokenizer
        self._special = {name: tokenizer.token_to_id(f"<|{name}|>")
                         for name in ("startoftranscript", "startofprev", "transcribe", "notimestamps",
                                      "endoftext")}

    def language_token(self, language: str) -> int | None:
        return self._model.hf_tokenizer.token_to_id(f"<|{language}|>") if self.multilingual else None

    def partial(self, audio: np.ndarray, *, language: str | None, prompt: str | None = None) -> tuple[str, str | None]:
        """A quick draft of `audio` (the turn so far, up to 30 s), and its language: `language`, else the one the
        model hears in this window (None for an English-only model)."""
        import ctranslate2

        model = self._model
        audio, _ = normalize_level(audio)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(self._window(audio)))
        if language is None and self.multilingual:  # one decoder step on the same encoding
            token, _probability = model.model.detect_language(encoded)[0][0]
            language = _language_of(token)
        tokens = self._prompt_tokens(language, prompt)
        seconds = len(audio) / SAMPLE_RATE
        result = model.model.generate(encoded, [tokens], beam_size=1, max_length=len(tokens) + int(
            TOKENS_PER_S * seconds) + 8, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
        if result.no_speech_prob > PARTIAL_NO_SPEECH:
            return "", language
        ids = [token for token in result.sequences_ids[0] if token < self._special["endoftext"]]
        return model.hf_tokenizer.decode(ids).strip(), language

    def final(self, audio: np.ndarray, *, language: str | None, prompt: str | None = None,
              stop: Callable[[], bool] | None = None) -> FinalText:
        """The turn decoded as the batch engine decodes a VAD chunk (`TimedWhisperModel.generate_segment_batched`:
        beam search, timestamps, temperature fallback that re-decodes loops, the same default options), its pieces
        split as a job's are and silence dropped by whisper's rule. Longer than one window: faster-whisper's own
        window-by-window loop, asked after each segment whether to `stop()` (a manual commit may hold minutes of
        audio; its client may have gone meanwhile)."""
        from faster_whisper.tokenizer import Tokenizer
        from whisperx.audio import log_mel_spectrogram

        from core.asr.chunks import is_silence
        from core.asr.timestamps import split_timed_segments

        audio, _ = normalize_level(audio)  # a quiet turn raised as a quiet recording is (core/media/level.py)
        duration = len(audio) / SAMPLE_RATE
        if duration > MAX_WINDOW_FRAMES / 100 or not hasattr(self._model, "generate_segment_batched"):
            return self._long_final(audio, language=language, prompt=prompt, stop=stop)
        probability = None
        if language is None and self.multilingual:
            language, probability = self.detect(audio)
        window = int(min(max(duration + FINAL_PAD_S, FINAL_MIN_WINDOW_S), MAX_WINDOW_FRAMES / 100) * SAMPLE_RATE)
        features = log_mel_spectrogram(audio, n_mels=self._model.model.n_mels, padding=window - len(audio))
        tokenizer = Tokenizer(self._model.hf_tokenizer, self.multilingual, task="transcribe",
                              language=language or "en")
        options = dataclasses.replace(self._options, initial_prompt=prompt or None, without_timestamps=False,
                                      word_timestamps=False)
        output = self._model.generate_segment_batched(np.asarray(features)[None], tokenizer, options)
        chunk = {"text": output["text"][0], "start": 0.0, "end": round(duration, 3),
                 "avg_logprob": output["avg_logprob"][0]}
        pieces = [piece for piece in split_timed_segments([chunk]) if not is_silence(piece, options)]
        segments = tuple(DecodedSegment(piece["start"], piece["end"], str(piece["text"]).strip()) for piece in pieces)
        return FinalText(segments, language if self.multilingual else "en", probability)

    def detect(self, audio: np.ndarray) -> tuple[str | None, float | None]:
        """The language whisper hears in `audio` (its first 30 s), from a window no longer than the audio needs."""
        import ctranslate2

        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(self._window(audio)))
        token, probability = self._model.model.detect_language(encoded)[0][0]
        return _language_of(token), float(probability)

    def _long_final(self, audio: np.ndarray, *, language: str | None, prompt: str | None,
                    stop: Callable[[], bool] | None = None) -> FinalText:
        segments, info = self._model.transcribe(
            audio, language=language if self.multilingual else "en", beam_size=FINAL_BEAM_SIZE, initial_prompt=prompt,
            condition_on_previous_text=False, vad_filter=False, word_timestamps=False)
        decoded: list[DecodedSegment] = []
        for segment in segments:  # decoded lazily, a window at a time
            if segment.text.strip():
                decoded.append(DecodedSegment(round(segment.start, 3), round(segment.end, 3), segment.text.strip()))
            if stop is not None and stop():
                break
        return FinalText(tuple(decoded), info.language, info.language_probability)

    def _window(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel frames of `audio` (its last 30 s at most) and PARTIAL_PAD_S of silence: a short encoder window."""
        pad = int(PARTIAL_PAD_S * SAMPLE_RATE)
        features = self._model.feature_extractor(audio[-(MAX_WINDOW_FRAMES * 160 - pad):], padding=pad)
        frames = min(features.shape[-1], MAX_WINDOW_FRAMES)
        return np.ascontiguousarray(features[:, :frames], dtype=np.float32)[None]

    def _prompt_tokens(self, language: str | None, prompt: str | None) -> list[int]:
        special = self._special
        tokens: list[int] = []
        if prompt:
            text = self._model.hf_tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
            tokens += [special["startofprev"], *text[-223:]]  # whisper keeps at most half its 448-token context
        tokens.append(special["startoftranscript"])
        if self.multilingual and language is not None:
            tokens += [self.language_token(language), special["transcribe"]]
        return [*tokens, special["notimestamps"]]


def _language_of(token: str | None) -> str | None:
    """`<|de|>` → "de"; anything else (the model went straight to text) → None."""
    if token and token.startswith("<|") and token.endswith("|>") and 2 <= len(token) - 4 <= 3:
        return token[2:-2]
    return None
