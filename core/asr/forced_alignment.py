"""Time given words against a stretch of audio (forced alignment), for a segment whose text was corrected.

Two ways, the same as a job's word timing: wav2vec2 (`whisperx.align`) where the language's model is installed,
else Whisper's own cross-attention over the given tokens (CTranslate2's `align`, as `core.asr.decoding` times a
batch's words, with the same clean-ups from `core.asr.timestamps.word_timings`). The caller brings the models
(the engine's registry), so nothing loads here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from core.asr.timestamps import word_timings
from core.transcript.result import Word

SAMPLE_RATE = 16_000
HOP_SAMPLES = 160  # one mel frame
WINDOW_S = 28.0  # Whisper sees 30 s at most; longer spans are cut into windows of about this length


def align_text(audio: np.ndarray, start_s: float, end_s: float, text: str, *, language: str,
               asr_pipeline: Any, aligner: tuple[Any, Any] | None = None, device: str = "cpu") -> tuple[Word, ...]:
    """The words of `text`, timed in seconds of `audio` (16 kHz mono), within [start_s, end_s] trimmed of the
    silence at its ends (a segment's old bounds may run into the pauses around it, or clip a word: the caller
    passes a span with some room, and the speech in it is what gets aligned)."""
    start_s, end_s = speech_span(audio, start_s, end_s)
    if aligner is not None:
        return _wav2vec2_words(audio, start_s, end_s, text, aligner, device)
    return tuple(snap_to_pauses(list(_whisper_words(audio, start_s, end_s, text, language, asr_pipeline)), audio,
                                start_s, end_s))


def _wav2vec2_words(audio: np.ndarray, start_s: float, end_s: float, text: str, aligner: tuple[Any, Any],
                    device: str) -> tuple[Word, ...]:
    import whisperx

    model, metadata = aligner
    aligned = whisperx.align([{"start": start_s, "end": end_s, "text": text}], model, metadata, audio, device,
                             return_char_alignments=False)
    return tuple(Word(word=str(w.get("word", "")).strip(), start=_rounded(w.get("start")), end=_rounded(w.get("end")),
                      score=_rounded(w.get("score"))) for seg in aligned["segments"] for w in seg.get("words", ()))


def _whisper_words(audio: np.ndarray, start_s: float, end_s: float, text: str, language: str,
                   asr_pipeline: Any) -> tuple[Word, ...]:
    """Cross-attention timing, window by window (text dealt to windows by its share of characters)."""
    from faster_whisper.tokenizer import Tokenizer

    model = asr_pipeline.model  # faster-whisper's WhisperModel (ours: core.asr.decoding.TimedWhisperModel)
    multilingual = model.model.is_multilingual
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe",
                          language=language if multilingual else None)
    options = asr_pipeline.options
    words: list[Word] = []
    for window_start, window_end, window_text in _windows(start_s, end_s, text):
        samples = audio[int(window_start * SAMPLE_RATE): math.ceil(window_end * SAMPLE_RATE)]
        tokens = tokenizer.encode(" " + window_text)
        if not tokens or samples.size < HOP_SAMPLES:
            words += [Word(word=word) for word in window_text.split()]
            continue
        encoded = model.encode(_features(model, samples))
        frames = min(math.ceil(samples.size / HOP_SAMPLES), 3000)
        alignment = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
        for timing in word_timings(alignment, options.prepend_punctuations, options.append_punctuations):
            if timing.word.strip():
                words.append(Word(word=timing.word.strip(), start=_rounded(window_start + timing.start),
                                  end=_rounded(min(window_start + timing.end, window_end)),
                                  score=_rounded(timing.probability)))
    return tuple(words)


FRAME_S = 0.02  # energy frames for finding speech and pauses
MIN_PAUSE_S = 0.15  # a quieter stretch at least this long is a pause between words
SNAP_S = 0.2  # how far off a pause cross-attention may place the word after it


def speech_span(audio: np.ndarray, start_s: float, end_s: float) -> tuple[float, float]:
    """[start_s, end_s] narrowed to its first and last voiced frame, with one frame of room either side."""
    voiced = _voiced(audio, start_s, end_s)
    if voiced is None or not voiced.any():
        return start_s, end_s
    frames = np.flatnonzero(voiced)
    begin = max(int(frames[0]) - 1, 0) * FRAME_S
    finish = min(int(frames[-1]) + 2, voiced.size) * FRAME_S
    return round(start_s + begin, 3), round(min(start_s + finish, end_s), 3)


def snap_to_pauses(words: list[Word], audio: np.ndarray, start_s: float, end_s: float) -> list[Word]:
    """Cross-attention places the word after a pause up to a few tenths of a second off, either way; the pause
    itself is plain in the signal. The first word the alignment starts after the pause began (give or take
    `SNAP_S`) starts where speech resumes, and the word before it ends where the pause began."""
    voiced = _voiced(audio, start_s, end_s)
    if voiced is None:
        return words
    words = list(words)
    for pause_start, pause_end in _pauses(voiced):
        stop, resume = start_s + pause_start * FRAME_S, start_s + pause_end * FRAME_S
        index = next((i for i, word in enumerate(words) if word.start is not None and word.start >= stop - SNAP_S),
                     None)
        if index is None or words[index].start > resume + SNAP_S:
            continue
        following = next((w.start for w in words[index + 1:] if w.start is not None), end_s)
        if resume >= following:
            continue
        word = words[index]
        words[index] = dataclasses.replace(word, start=round(resume, 3), end=round(max(word.end, resume), 3))
        if index and words[index - 1].end is not None and words[index - 1].end > stop:
            previous = words[index - 1]
            words[index - 1] = dataclasses.replace(previous, end=round(max(stop, previous.start or stop), 3))
    return words


def _voiced(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray | None:
    """Per frame: louder than the quiet between words (the span's 10th-percentile energy plus a tenth of the way
    to its loud frames). None when the span is too short or has no clear speech against its background."""
    first, last = int(start_s * SAMPLE_RATE), math.ceil(end_s * SAMPLE_RATE)
    hop = int(FRAME_S * SAMPLE_RATE)
    samples = audio[first:last]
    count = samples.size // hop
    if count < 5:
        return None
    energy = np.sqrt(np.mean(samples[:count * hop].reshape(count, hop).astype(np.float64) ** 2, axis=1))
    floor, loud = np.percentile(energy, 10), np.percentile(energy, 95)
    if loud <= floor * 2:
        return None
    return energy > floor + 0.1 * (loud - floor)


def _pauses(voiced: np.ndarray) -> list[tuple[int, int]]:
    """(first quiet frame, first voiced frame after it) of each pause between voiced frames."""
    pauses, quiet_from = [], None
    seen_voice = False
    for index, on in enumerate(voiced):
        if not on and seen_voice and quiet_from is None:
            quiet_from = index
        elif on:
            if quiet_from is not None and (index - quiet_from) * FRAME_S >= MIN_PAUSE_S:
                pauses.append((quiet_from, index))
            quiet_from, seen_voice = None, True
    return pauses


def _features(model: Any, samples: np.ndarray) -> np.ndarray:
    """Whisper's log-mel of the samples padded to 30 s, as whisperx computes it for a batch."""
    from whisperx.audio import N_SAMPLES, log_mel_spectrogram

    n_mels = model.feat_kwargs.get("feature_size") or 80
    mel = log_mel_spectrogram(samples.astype(np.float32), n_mels=n_mels, padding=N_SAMPLES - samples.size)
    return mel.cpu().numpy() if hasattr(mel, "cpu") else np.asarray(mel)


def _windows(start_s: float, end_s: float, text: str) -> list[tuple[float, float, str]]:
    """[start, end] cut into equal windows of at most `WINDOW_S`, each with its share of the words (by
    characters, a speaking-rate assumption that holds within one speaker's turn)."""
    words = text.split()
    count = max(1, math.ceil((end_s - start_s) / WINDOW_S))
    if count == 1 or len(words) < count:
        return [(start_s, end_s, " ".join(words))]
    total = sum(len(word) + 1 for word in words)
    width = (end_s - start_s) / count
    windows, taken, used = [], 0, 0
    for index in range(count):
        share = [] if index < count - 1 else words[taken:]
        while index < count - 1 and taken < len(words) and (used + len(words[taken]) / 2) < total * (index + 1) / count:
            share.append(words[taken])
            used += len(words[taken]) + 1
            taken += 1
        windows.append((start_s + index * width, start_s + (index + 1) * width, " ".join(share)))
    return [window for window in windows if window[2]]


def _rounded(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 3)
