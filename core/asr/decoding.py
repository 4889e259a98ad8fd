"""whisperx's batched WhisperModel, keeping what whisper knows about timing and confidence.

whisperx decodes batches without timestamps and keeps only each chunk's text and mean log-probability, so
without wav2vec2 alignment a segment is a whole VAD chunk (up to 30 s) with no word timing. This model keeps,
per chunk (on its `TimedText`):
- whisper's timestamp tokens (`without_timestamps=False`): sentence-level pieces, at no extra cost;
- word timings from the decoder's cross-attention (`word_timestamps=True`), computed by CTranslate2's `align`
  on the encoder output the batch already has — faster-whisper's method, batched;
- the token ids and the no-speech probability the decoder returns;
- whisper's temperature fallback, which whisperx's batched decoding skips (it decodes once, greedily or by beam
  search, so `temperature`, `best_of` and the three thresholds would do nothing): a chunk whose text repeats
  itself (compression ratio, or a word or phrase looping: `repeated_run`) or that the decoder doubts (mean
  log-probability), and that is not silence, is decoded again by sampling at the next temperature, as
  faster-whisper does for one file, and keeps faster-whisper's best attempt when every temperature fails.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from whisperx.asr import WhisperModel

from core.asr.timestamps import (
    LOOP_REPEATS,
    MEL_FRAMES_PER_SECOND,
    TimedText,
    WordTiming,
    compression_ratio,
    content_frames,
    repeated_run,
    split_by_timestamps,
    word_timings,
)

MAX_LENGTH = 448  # whisper's text context
MAX_TOKENS_PER_S = 16  # tokens a decode may produce per second of audio (see `length_cap`)
LENGTH_SLACK = 32


class TimedWhisperModel(WhisperModel):
    # Called between temperature attempts (raises to stop the job): each attempt is one uninterruptible
    # CTranslate2 call over the batch, so a batch that falls back through the schedule is where a Stop waited.
    between_attempts: Callable[[], None] | None = None
    # Seconds after which no further fallback temperature is tried (the best attempt so far is kept); None: the
    # whole schedule. A live turn's final sets it on its own view (`core/live/decoder.py`): someone is waiting.
    fallback_budget_s: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.translator = self.model  # the CTranslate2 model itself, whatever `model` is swapped for

    def view(self) -> WhisperModel:
        """This model for another thread: the same loaded weights, tokenizer and feature extractor, decoding straight
        through CTranslate2 (which serialises concurrent calls). `generate_segment_batched` swaps `self.model` for
        the length of a batch call, so a decode from elsewhere must never go through this object itself."""
        view = copy.copy(self)
        view.model = self.translator
        return view

    def generate_segment_batched(self, features: Any, tokenizer: Any, options: Any,
                                 encoder_output: Any = None) -> dict:
        mels = features.cpu().numpy() if hasattr(features, "cpu") else np.asarray(features)
        calls: list[tuple[Any, list[Any], list[float]]] = []
        translator = self.model

        def generate_and_capture(encoded: Any, prompts: list, **kwargs: Any) -> Any:
            kwargs["max_length"] = length_cap(kwargs.get("max_length"), prompts, mels)
            results, used = self._generate_with_fallback(translator, encoded, mels, prompts, tokenizer, options,
                                                         kwargs)
            calls.append((encoded, results, used))
            return results

        self.model = _GenerateOverride(translator, generate_and_capture)
        try:
            output = super().generate_segment_batched(features, tokenizer, options, encoder_output)
        finally:
            self.model = translator
        (encoded, results, temperatures), = calls
        tokens = [list(item.sequences_ids[0]) for item in results]
        words = (self._word_timings(tokenizer, tokens, encoded, mels, options) if options.word_timestamps
                 else [None] * len(tokens))
        texts = []
        for text, item_tokens, item, item_words, temperature in zip(output["text"], tokens, results, words,
                                                                     temperatures, strict=True):
            timed = TimedText(text)
            timed.tokens = tuple(item_tokens)
            timed.no_speech_prob = float(item.no_speech_prob)
            timed.temperature = temperature
            timed.pieces = () if options.without_timestamps else split_by_timestamps(item_tokens, tokenizer)
            timed.words = item_words
            texts.append(timed)
        return {**output, "text": texts}

    def _generate_with_fallback(self, translator: Any, encoded: Any, mels: np.ndarray, prompts: list,
                                tokenizer: Any, options: Any, kwargs: dict) -> tuple[list, list[float]]:
        """Decode the batch at the schedule's first temperature, then again, at each next one, the chunks that
        failed whisper's checks (or loop: `repeated_run`). A chunk that fails at every temperature keeps its best
        attempt by faster-whisper's rule — the most probable of those that do not repeat themselves — never
        simply the last, most random one (a sampled guess at temperature 1.0 is how a translation turned into
        "Thank you for watching"). Returns each chunk's result and the temperature that produced it."""
        schedule = list(options.temperatures) or [0.0]
        attempts: list[list[tuple[Attempt, Any, float]]] = [[] for _ in prompts]
        pending = list(range(len(prompts)))
        started = time.perf_counter()
        for temperature in schedule:
            decoded = self._decode(translator, encoded, mels, prompts, pending, temperature, options, kwargs)
            for index, item in zip(pending, decoded, strict=True):
                attempts[index].append((judge(item, tokenizer, options), item, temperature))
            pending = [index for index in pending if attempts[index][-1][0].needs_fallback]
            if not pending or (self.fallback_budget_s is not None
                               and time.perf_counter() - started >= self.fallback_budget_s):
                break
            if self.between_attempts is not None:
                self.between_attempts()
        chosen = [_best(tried) for tried in attempts]
        return [item for item, _ in chosen], [temperature for _, temperature in chosen]

    def _decode(self, translator: Any, encoded: Any, mels: np.ndarray, prompts: list, indices: list[int],
                temperature: float, options: Any, kwargs: dict) -> list:
        """The chunks at `indices` decoded with whisperx's settings: beam search at temperature 0, else `best_of`
        sampled candidates (CTranslate2 returns the most probable first)."""
        if temperature > 0:
            kwargs = {**kwargs, "beam_size": 1, "patience": 1, "num_hypotheses": max(1, options.best_of or 1),
                      "sampling_topk": 0, "sampling_temperature": temperature}
        rows = self._encoder_rows(encoded, mels, indices)
        return list(translator.generate(rows, [prompts[index] for index in indices], return_no_speech_prob=True,
                                        **kwargs))

    def _encoder_rows(self, encoded: Any, mels: np.ndarray, indices: list[int]) -> Any:
        """The encoder output of the chunks at `indices`: all of it, a slice of it (CPU), or encoded again (GPU,
        where it cannot be sliced in place)."""
        if len(indices) == encoded.shape[0]:
            return encoded
        if encoded.device == "cpu":
            import ctranslate2

            return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[indices]))
        return self.encode(np.ascontiguousarray(mels[indices]))

    def _word_timings(self, tokenizer: Any, tokens: list[list[int]], encoded: Any, mels: np.ndarray,
                      options: Any) -> list[tuple[WordTiming, ...]]:
        """Cross-attention word timing for every chunk of the batch in one `align` call."""
        text_tokens = [[token for token in item if token < tokenizer.eot] for item in tokens]
        frames = [content_frames(item) for item in mels]
        wanted = [index for index, item in enumerate(text_tokens) if item and frames[index] > 0]
        timings: list[tuple[WordTiming, ...]] = [() for _ in tokens]
        if not wanted:  # an empty chunk has nothing to time
            return timings
        alignments = self.find_alignment(_words_in_english_if_translated(tokenizer), [text_tokens[i] for i in wanted],
                                         self._encoder_rows(encoded, mels, wanted), [frames[i] for i in wanted])
        for index, alignment in zip(wanted, alignments, strict=True):
            timings[index] = word_timings(alignment, options.prepend_punctuations, options.append_punctuations)
        return timings


def _words_in_english_if_translated(tokenizer: Any) -> Any:
    """The tokenizer whose `split_to_word_tokens` cuts the decoded text into words. A translation's text is
    English, but faster-whisper splits by the tokenizer's source language: Japanese audio translated came back as
    sub-word "words" (" un", "bel", "iev", "able"), split where any token ends a character."""
    if tokenizer.task != tokenizer.tokenizer.token_to_id("<|translate|>") or tokenizer.language_code == "en":
        return tokenizer
    english = copy.copy(tokenizer)
    english.language_code = "en"
    return english


def length_cap(max_length: int | None, prompts: list, mels: np.ndarray) -> int:
    """CTranslate2's `max_length` (prompt included) for a batch: whisper's 448, or less when the longest chunk's
    audio is short. A decode that loops runs to the limit and then again at every fallback temperature: on a 7 s
    live turn of far-field noise that was six decodes of 448 tokens, 24 s of CPU. MAX_TOKENS_PER_S is three times
    fast English speech (with timestamp tokens) and above any script's rate, so real text never meets the cap; a
    loop meets it sooner and is judged the same (repetitive)."""
    limit = max_length or MAX_LENGTH
    seconds = max((content_frames(item) for item in mels), default=0) / MEL_FRAMES_PER_SECOND
    prompt = max((len(item) for item in prompts), default=0)
    return min(limit, prompt + int(MAX_TOKENS_PER_S * seconds) + LENGTH_SLACK)


class Attempt(NamedTuple):
    """What whisper's checks found in one decoding of a chunk."""

    avg_logprob: float
    repetitive: bool  # compression ratio over the threshold, or a word or phrase looping (`repeated_run`)
    needs_fallback: bool


def judge(item: Any, tokenizer: Any, options: Any) -> Attempt:
    """faster-whisper's rule — too repetitive or too unsure, unless the decoder says it is silence — with one more
    sign of repetition: a word or phrase said LOOP_REPEATS times in a row, which a long chunk's compression ratio
    can hide ("Yeah," ×13 in 3 s inside 30 s of speech)."""
    tokens = item.sequences_ids[0]
    average = item.scores[0] * (len(tokens) ** options.length_penalty) / (len(tokens) + 1)
    text = tokenizer.decode([token for token in tokens if token < tokenizer.eot]).strip()
    ratio = compression_ratio(text) or 0.0
    repetitive = ((options.compression_ratio_threshold is not None and ratio > options.compression_ratio_threshold)
                  or repeated_run(text) >= LOOP_REPEATS)
    failed = repetitive or (options.log_prob_threshold is not None and average < options.log_prob_threshold)
    silent = (options.no_speech_threshold is not None and item.no_speech_prob > options.no_speech_threshold
              and options.log_prob_threshold is not None and average < options.log_prob_threshold)
    return Attempt(float(average), repetitive, failed and not silent)


def _best(tried: list[tuple[Attempt, Any, float]]) -> tuple[Any, float]:
    """The first attempt that passed; else the most probable that does not repeat itself; else the most probable."""
    attempt, item, temperature = tried[-1]
    if not attempt.needs_fallback:
        return item, temperature
    candidates = [entry for entry in tried if not entry[0].repetitive] or tried
    _, item, temperature = max(candidates, key=lambda entry: entry[0].avg_logprob)
    return item, temperature


class _GenerateOverride:
    """The CTranslate2 model with `generate` replaced (to see the encoder output and results); all else passes
    through."""

    def __init__(self, wrapped: Any, generate: Any) -> None:
        self._wrapped = wrapped
        self.generate = generate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)
