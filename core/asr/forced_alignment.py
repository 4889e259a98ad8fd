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

from core.asr.languages import word_joiner
from core.asr.timestamps import word_timings
from core.transcript.result import Word

SAMPLE_RATE = 16_000
HOP_SAMPLES = 160  # one mel frame
WINDOW_S = 28.0  # Whisper sees 30 s at most; longer spans are cut into windows of about this length


def align_text(audio: np.ndarray, start_s: float, end_s: float, text: str, *, language: str,
               asr_pipeline: Any, aligner: tuple[Any, Any] | None = None, device: str = "cpu") -> tuple[Word, ...]:
    """The words of `text`, timed in seconds of `audio` (16 kHz mono), within [start_s, end_s] trimmed of the
    silence at its ends (a segment's old bounds may run into the pauses around it, or clip a word: the caller
    passes a span with some room, `speech_extent`, and the speech in it is what gets aligned). Either way the
    words are then fitted to the signal (`fit_to_speech`), so a turn re-timed whole and its segments re-timed one
    by one start and end their words at the same places."""
    limit_s = end_s
    start_s, end_s = speech_span(audio, start_s, end_s)
    if aligner is not None:
        words = list(_wav2vec2_words(audio, start_s, end_s, text, aligner, device))
    else:
        words = list(_whisper_words(audio, start_s, end_s, text, language, asr_pipeline))
    # the last word may run on to the weak end of its speech, which the voiced frames that trimmed the span miss
    return tuple(fit_to_speech(snap_to_pauses(words, audio, start_s, end_s), audio, start_s, limit_s))


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
    for window_start, window_end, window_text in _windows(start_s, end_s, text, word_joiner(language)):
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


SPEECH_GAP_S = 0.2  # speech that stops for less than this runs on (a gap between words, not a pause between phrases)
EDGE_S = 1.0  # how far off the speech's own start or end an aligner may put the first or last word


def speech_extent(audio: np.ndarray, start_s: float, end_s: float, low_s: float, high_s: float) -> tuple[float, float]:
    """[start_s, end_s] grown, within [low_s, high_s], to the run of speech it lies in (speech with no gap of
    SPEECH_GAP_S): a segment whose old bounds stop mid-speech (the decoder dropped its last words, which the
    correction adds back) gets the rest of that speech to place them in, instead of squeezing them into its end."""
    voiced = _voiced(audio, low_s, high_s)
    if voiced is None or not voiced.any():
        return start_s, end_s
    gap = round(SPEECH_GAP_S / FRAME_S)
    first = max(0, min(int((start_s - low_s) / FRAME_S), voiced.size - 1))
    last = max(first, min(math.ceil((end_s - low_s) / FRAME_S), voiced.size) - 1)
    frames = np.flatnonzero(voiced)
    # only where the old bound cuts into speech (the voice is on just beyond it); then speech within the gap
    # beyond that moves it on, and so on
    if voiced[max(first - 3, 0):first].any():
        while True:
            earlier = frames[(frames < first) & (frames >= first - gap)]
            if not earlier.size:
                break
            first = int(earlier[0])
    if voiced[last + 1:last + 4].any():
        while True:
            later = frames[(frames > last) & (frames <= last + gap)]
            if not later.size:
                break
            last = int(later[-1])
    return (round(max(low_s, min(start_s, low_s + first * FRAME_S)), 3),
            round(min(high_s, max(end_s, low_s + (last + 1) * FRAME_S)), 3))


def fit_to_speech(words: list[Word], audio: np.ndarray, start_s: float, end_s: float) -> list[Word]:
    """The first timed word starts where the voice does and the last ends where it stops, when the aligner put
    them within EDGE_S of there: a first word placed in the silence before its speech moves on to the speech, and a
    last word that ends while the voice goes on (cross-attention often ends a final word a tenth of a second or more
    early, which ended the segment while its speech continued) runs to the end of that speech, or back to it when
    it ends in the silence after."""
    voiced = _audible(audio, start_s, end_s)  # the edges of speech as the pauses' edges are found
    timed = [index for index, word in enumerate(words) if word.start is not None and word.end is not None]
    if voiced is None or not timed:
        return words
    words = list(words)
    edge, pause = round(EDGE_S / FRAME_S), round(MIN_PAUSE_S / FRAME_S)
    frames = np.flatnonzero(voiced)

    def frame(seconds: float) -> int:
        return min(max(int((seconds - start_s) / FRAME_S), 0), voiced.size - 1)

    # A quiet stretch shorter than a pause is part of the word (a stop consonant's closure), not silence.
    head = words[timed[0]]
    at = frame(head.start)
    onset = frames[(frames >= at) & (frames <= at + edge)]
    if onset.size and onset[0] - at >= pause and start_s + onset[0] * FRAME_S < head.end:
        words[timed[0]] = dataclasses.replace(head, start=round(float(start_s + (onset[0] - 1) * FRAME_S), 3))
    tail = words[timed[-1]]
    at = frame(tail.end - FRAME_S)
    going = frames[(frames >= at) & (frames <= at + pause)]
    if going.size:  # the voice goes on: to where it stops (a pause, or EDGE_S at most)
        last = int(going[-1])
        while last - at < edge:
            later = frames[(frames > last) & (frames <= last + pause)]
            if not later.size:
                break
            last = int(later[-1])
        stop = start_s + (last + 1) * FRAME_S
    else:  # ended in silence: back to where the voice stopped
        earlier = frames[(frames < at) & (frames >= at - edge)]
        stop = start_s + (earlier[-1] + 1) * FRAME_S if earlier.size else tail.end
    stop = min(float(stop), end_s)
    if stop > tail.start:
        words[timed[-1]] = dataclasses.replace(tail, end=round(stop, 3))
    return words


def pause_between(audio: np.ndarray, start_s: float, end_s: float) -> tuple[float, float] | None:
    """The longest pause in [start_s, end_s] (between two words: the first one's start, the second one's end),
    as (where the voice stops, where it resumes); None when the speech runs on without one."""
    pauses = _pause_edges(audio, start_s, end_s)
    if not pauses:
        return None
    stop, resume = max(pauses, key=lambda pause: pause[1] - pause[0])
    return round(start_s + stop * FRAME_S, 3), round(start_s + resume * FRAME_S, 3)


def snap_to_pauses(words: list[Word], audio: np.ndarray, start_s: float, end_s: float) -> list[Word]:
    """Cross-attention places the word after a pause up to a few tenths of a second off, either way; the pause
    itself is plain in the signal. The first word the alignment starts after the pause began (give or take
    `SNAP_S`) starts where speech resumes, and the word before it ends where the pause began (when it ended within
    EDGE_S of there, or later)."""
    pauses = _pause_edges(audio, start_s, end_s)
    if pauses is None:
        return words
    words = list(words)
    for pause_start, pause_end in pauses:
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
        previous = words[index - 1] if index else None
        if previous is not None and previous.end is not None and previous.end > stop - EDGE_S:
            # the word before ends where the pause begins: not in it, nor early while the voice goes on
            words[index - 1] = dataclasses.replace(previous, end=round(max(stop, previous.start or stop), 3))
    return words


def _energy(audio: np.ndarray, start_s: float, end_s: float) -> tuple[np.ndarray, float, float] | None:
    """Per frame RMS of [start_s, end_s], with the span's quiet level (10th percentile) and loud level (95th);
    None when the span is too short or has no clear speech against its background."""
    first, last = int(start_s * SAMPLE_RATE), math.ceil(end_s * SAMPLE_RATE)
    hop = int(FRAME_S * SAMPLE_RATE)
    samples = audio[first:last]
    count = samples.size // hop
    if count < 5:
        return None
    energy = np.sqrt(np.mean(samples[:count * hop].reshape(count, hop).astype(np.float64) ** 2, axis=1))
    floor, loud = float(np.percentile(energy, 10)), float(np.percentile(energy, 95))
    if loud <= floor * 2:
        return None
    return energy, floor, loud


def _voiced(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray | None:
    """Per frame: louder than the quiet between words (the span's 10th-percentile energy plus a tenth of the way
    to its loud frames). None when the span is too short or has no clear speech against its background."""
    measured = _energy(audio, start_s, end_s)
    if measured is None:
        return None
    energy, floor, loud = measured
    return energy > floor + 0.1 * (loud - floor)


def _audible(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray | None:
    """Per frame: above the quiet between words by enough to be a word's weak edge (see `_pause_edges`)."""
    measured = _energy(audio, start_s, end_s)
    if measured is None:
        return None
    energy, floor, loud = measured
    return energy > max(floor * 4, floor + 0.01 * (loud - floor))


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


def _pause_edges(audio: np.ndarray, start_s: float, end_s: float) -> list[tuple[int, int]] | None:
    """The pauses of [start_s, end_s] (frames, as `_pauses`), each narrowed to where the signal is really quiet:
    a word's weak edge (an /f/ or /s/ onset, a fading vowel) is far below the loud frames that set the voiced level,
    and belongs to the word, not the pause. None when the span has no clear speech."""
    measured = _energy(audio, start_s, end_s)
    if measured is None:
        return None
    energy, floor, loud = measured
    voiced = energy > floor + 0.1 * (loud - floor)
    audible = energy > max(floor * 4, floor + 0.01 * (loud - floor))  # as `_audible`
    gap = round(MIN_PAUSE_S / FRAME_S)  # a shorter quiet stretch is inside a word (a stop's closure)
    edges = []
    for stop, resume in _pauses(voiced):
        while True:
            later = np.flatnonzero(audible[stop:min(stop + gap + 1, resume)])
            if not later.size or stop + later[-1] + 1 >= resume:
                break
            stop += int(later[-1]) + 1
        while True:
            earlier = np.flatnonzero(audible[max(resume - gap - 1, stop):resume])
            if not earlier.size:
                break
            step = resume - (max(resume - gap - 1, stop) + int(earlier[0]))
            if resume - step <= stop:
                break
            resume -= step
        if resume - stop >= gap:
            edges.append((stop, resume))
    return edges


def _features(model: Any, samples: np.ndarray) -> np.ndarray:
    """Whisper's log-mel of the samples padded to 30 s, as whisperx computes it for a batch."""
    from whisperx.audio import N_SAMPLES, log_mel_spectrogram

    n_mels = model.feat_kwargs.get("feature_size") or 80
    mel = log_mel_spectrogram(samples.astype(np.float32), n_mels=n_mels, padding=N_SAMPLES - samples.size)
    return mel.cpu().numpy() if hasattr(mel, "cpu") else np.asarray(mel)


def _windows(start_s: float, end_s: float, text: str, joiner: str = " ") -> list[tuple[float, float, str]]:
    """[start, end] cut into equal windows of at most `WINDOW_S`, each with its share of the words (by
    characters, a speaking-rate assumption that holds within one speaker's turn); windows left without a word
    are dropped. Text written without spaces (`joiner` "") is dealt out character by character: as one "word"
    it went whole into a single window of the whole span, longer than Whisper's 30 s."""
    words = text.split() if joiner else [character for character in text if not character.isspace()]
    count = max(1, math.ceil((end_s - start_s) / WINDOW_S))
    if count == 1:
        return [(start_s, end_s, joiner.join(words))]
    total = sum(len(word) + 1 for word in words)
    width = (end_s - start_s) / count
    windows, taken, used = [], 0, 0
    for index in range(count):
        share = [] if index < count - 1 else words[taken:]
        while index < count - 1 and taken < len(words) and (used + len(words[taken]) / 2) < total * (index + 1) / count:
            share.append(words[taken])
            used += len(words[taken]) + 1
            taken += 1
        windows.append((start_s + index * width, start_s + (index + 1) * width, joiner.join(share)))
    return [window for window in windows if window[2]]


def _rounded(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 3)
