"""The chunks Whisper decodes: whisperx's VAD cut-and-merge, each chunk padded so the words at its edges survive,
and the speech regions the VAD found, kept for timing words (`core.asr.speech_spans`).

whisperx cuts a chunk exactly where the VAD score crosses its onset threshold, which is after a word's first
sound: an espeak-ng German clip cut 31 ms into "Guten" was translated as a loop of "I hope you enjoyed this
video" and transcribed with its last words changed, where the same audio from 0 s comes out right. faster-whisper
pads its VAD speech by 400 ms (`VadOptions.speech_pad_ms`); so do we, never past half the gap to the next chunk
(no word is decoded twice) and never past 30 s (chunks are merged up to `chunk_size`, and at most 30 s less the
padding).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from whisperx.vads.vad import Vad

from core.asr.timestamps import LOOP_REPEATS, repeated_run

CHUNK_PAD_S = 0.4  # faster-whisper's speech_pad_ms
WHISPER_WINDOW_S = 30.0


class PaddedChunks(Vad):
    """Stands in for the ASR pipeline's VAD during one transcription: the same scores, the same cut-and-merge,
    padded chunks; `speech` holds the speech regions (seconds) of the last call."""

    def __init__(self, vad: Any, pad_s: float = CHUNK_PAD_S, check: Callable[[], None] | None = None) -> None:
        self._vad = vad
        self.pad_s = pad_s
        self.speech: list[tuple[float, float]] = []
        self._duration_s = 0.0
        self._check = check

    def __call__(self, file: dict[str, Any], **kwargs: Any) -> Any:
        self._duration_s = file["waveform"].shape[-1] / file["sample_rate"]
        with stoppable(segmentation_of(self._vad), self._check):
            return self._vad(file, **kwargs)

    @staticmethod
    def preprocess_audio(audio: Any) -> Any:
        from whisperx.vads.pyannote import Pyannote

        return Pyannote.preprocess_audio(audio)

    def merge_chunks(self, segments: Any, chunk_size: float, onset: float = 0.5,  # type: ignore[override]
                     offset: float | None = None) -> list[dict]:
        """pyannote VAD scores → whisperx's merged chunks, each padded (see the module's docstring)."""
        from whisperx.diarize import Segment as SegmentX
        from whisperx.vads.pyannote import Binarize

        # whisperx's own merge length, less room for the padding only where a padded chunk would pass Whisper's
        # 30 s window: a short `chunk_size` keeps its length (a sentence is not cut for the padding's sake).
        longest = max(min(chunk_size, WHISPER_WINDOW_S - 2 * self.pad_s), min(chunk_size, 1.0))
        regions = Binarize(max_duration=longest, onset=onset, offset=offset)(segments).get_timeline()
        self.speech = [(float(region.start), float(region.end)) for region in regions]
        if not self.speech:
            return []
        chunks = Vad.merge_chunks([SegmentX(start, end, "UNKNOWN") for start, end in self.speech], longest,
                                  onset, offset)
        return pad_chunks(chunks, self.pad_s, self._duration_s)


def pad_chunks(chunks: list[dict], pad_s: float, duration_s: float) -> list[dict]:
    """Widen each chunk by up to `pad_s` on both sides: not past half the gap to a neighbour, the audio's ends,
    or Whisper's 30 s window."""
    padded = []
    for index, chunk in enumerate(chunks):
        before = chunks[index - 1]["end"] if index else 0.0
        after = chunks[index + 1]["start"] if index + 1 < len(chunks) else duration_s
        room = max(0.0, WHISPER_WINDOW_S - (chunk["end"] - chunk["start"])) / 2
        start = chunk["start"] - min(pad_s, room, (chunk["start"] - before) / 2 if index else chunk["start"])
        end = chunk["end"] + min(pad_s, room, (after - chunk["end"]) / 2 if index + 1 < len(chunks)
                                 else max(0.0, duration_s - chunk["end"]))
        padded.append({**chunk, "start": max(0.0, start), "end": min(end, duration_s) if duration_s else end})
    return padded


MIN_MISSED_S = 1.0  # speech the first pass gave no word to, at least this long, is decoded again on its own
MAX_WORDS_PER_S = 6.0  # faster than this over a re-decoded chunk's speech is Whisper inventing, not hearing
SPARSE_MIN_S = 1.5  # speech at least this long ...
SPARSE_WORDS_PER_S = 0.8  # ... holding fewer words than this per second lost words to a neighbour's stretched time
RECOVERED_MAX_NO_SPEECH = 0.3  # a re-decoded stretch the decoder finds this likely to be silence is dropped


class FixedChunks(Vad):
    """Stands in for the VAD when the chunks are already known (the speech a first pass lost): no VAD runs."""

    def __init__(self, chunks: list[dict]) -> None:
        self.chunks = chunks

    def __call__(self, file: dict[str, Any], **_: Any) -> None:
        return None

    @staticmethod
    def preprocess_audio(audio: Any) -> Any:
        return audio

    def merge_chunks(self, segments: Any, chunk_size: float, onset: float = 0.5,  # type: ignore[override]
                     offset: float | None = None) -> list[dict]:
        return self.chunks


def missed_speech(speech: list[tuple[float, float]], segments: list[dict], duration_s: float, *,
                  pad_s: float = CHUNK_PAD_S, min_s: float = MIN_MISSED_S) -> list[dict]:
    """Chunks of VAD speech that no decoded word (or, without words, no segment) covers, each padded into the
    silence around it but never onto a decoded word (so nothing is decoded twice), at most 30 s long.

    Whisper sometimes skips the start of a chunk ("Okay, see you" lost from a meeting excerpt when its chunk
    began 0.4 s earlier); decoded on their own, such stretches come back."""
    covered = sorted((word["start"], word["end"]) for segment in segments
                     for word in segment.get("words", [segment])
                     if word.get("start") is not None)
    chunks: list[dict] = []
    for start, end in speech:
        cursor = start
        for covered_start, covered_end in [*[item for item in covered if item[1] > start and item[0] < end],
                                           (end, end)]:
            if covered_start - cursor >= min_s:
                left = max((item[1] for item in covered if item[1] <= cursor), default=0.0)
                right = min((item[0] for item in covered if item[0] >= covered_start), default=duration_s)
                chunks.append((max(cursor - pad_s, left), min(covered_start + pad_s, right)))
            cursor = max(cursor, covered_end)
    return [window for start, end in _joined(chunks) for window in _windows(start, end, speech)]


def sparse_speech(speech: list[tuple[float, float]], segments: list[dict], duration_s: float, *,
                  pad_s: float = CHUNK_PAD_S) -> list[dict]:
    """Stretches of VAD speech that hold words, but far too few for their length: where the decoder skipped a
    sentence and the word timing stretched a neighbour's word or two over it ("the best emetic is that which is
    at hand", 2.3 s, came back as "For", the next speaker's first word, timed over its end). Each is a chunk to
    decode again on its own, padded into silence but never onto a word outside it, marked `replace`: its own
    words give way to what the decoder hears there, when that is more."""
    timed = [word for segment in segments for word in segment.get("words") or () if word.get("start") is not None]
    middles = sorted((word["start"] + word["end"]) / 2 for word in timed)
    chunks = []
    for start, end in speech:
        inside = [middle for middle in middles if start <= middle < end]
        if end - start < SPARSE_MIN_S or not inside or len(inside) >= SPARSE_WORDS_PER_S * (end - start):
            continue
        left = max((word["end"] for word in timed if (word["start"] + word["end"]) / 2 < start), default=0.0)
        right = min((word["start"] for word in timed if (word["start"] + word["end"]) / 2 >= end),
                    default=duration_s)
        chunks += [{**window, "replace": True} for window in _windows(max(start - pad_s, min(left, start)),
                                                                        min(end + pad_s, max(right, end)), speech)]
    return chunks


def words_in(segments: list[dict], chunk: dict) -> int:
    """How many timed words of `segments` lie (by their middle) in `chunk`."""
    return sum(1 for segment in segments for word in segment.get("words") or ()
               if word.get("start") is not None and chunk["start"] <= (word["start"] + word["end"]) / 2 < chunk["end"])


def without_words_in(segments: list[dict], chunks: list[dict], joiner: str = " ") -> list[dict]:
    """`segments` without their words (by the middle) inside any of `chunks`; a segment left empty goes, and the
    others' text and span follow their remaining words."""
    def outside(word: dict) -> bool:
        if word.get("start") is None:
            return True
        middle = (word["start"] + word["end"]) / 2
        return not any(chunk["start"] <= middle < chunk["end"] for chunk in chunks)

    kept = []
    for segment in segments:
        words = segment.get("words") or []
        remaining = [word for word in words if outside(word)]
        if len(remaining) == len(words):
            kept.append(segment)
        elif any(word.get("start") is not None for word in remaining):
            timed = [word for word in remaining if word.get("start") is not None]
            kept.append({**segment, "words": remaining, "start": timed[0]["start"], "end": timed[-1]["end"],
                         "text": joiner.join(str(word["word"]).strip() for word in remaining), "tokens": None})
    return kept


def _joined(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Spans that overlap or touch, as one: two wordless speech regions a short pause apart are one lost stretch
    (a turn Whisper skipped), decoded together rather than twice over their shared padding."""
    joined: list[list[float]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return [(start, end) for start, end in joined]


LOOKAHEAD_PIECES = 4  # up to this many windows (2 min) the cuts are chosen together; beyond, one at a time
LOOKAHEAD_PAUSES = 40


def _windows(start: float, end: float, speech: Sequence[tuple[float, float]] = ()) -> list[dict]:
    """[start, end) in as few pieces as Whisper can decode (≤ 30 s each), cut in pauses between speech regions
    wherever a set of such cuts keeps every piece that short (the fewest cuts mid-speech, then pieces nearest an
    even split): a word at a cut is decoded in both pieces or in neither."""
    count = max(1, math.ceil((end - start) / WHISPER_WINDOW_S - 1e-9))
    ordered = sorted(speech)
    pauses = [(left_end + right_start) / 2 for (_, left_end), (right_start, _) in itertools.pairwise(ordered)
              if right_start > left_end and start < left_end and right_start < end]
    even = (end - start) / count

    def choices(cursor: float, pieces: int) -> tuple[list[float], float]:
        """The pauses the next cut may fall in (its piece ≤ 30 s, the rest coverable), and the mid-speech cut
        where none will do."""
        fits = [pause for pause in pauses if cursor < pause <= cursor + WHISPER_WINDOW_S
                and end - pause <= (pieces - 1) * WHISPER_WINDOW_S]
        return fits, cursor + (end - cursor) / pieces

    @functools.cache
    def best(cursor: float, pieces: int) -> tuple[int, float, tuple[float, ...]]:
        """(cuts mid-speech, distance from even pieces, the cuts) for [cursor, end) in `pieces` pieces."""
        if pieces == 1:
            return 0, abs(end - cursor - even), ()
        fits, midway = choices(cursor, pieces)
        options = []
        for cut, mid_speech in [*((pause, 0) for pause in fits), (midway, 1)]:
            rest = best(cut, pieces - 1)
            options.append((rest[0] + mid_speech, rest[1] + abs(cut - cursor - even), (cut, *rest[2])))
        return min(options)

    if count <= LOOKAHEAD_PIECES and len(pauses) <= LOOKAHEAD_PAUSES:
        cuts = best(start, count)[2]
    else:  # a long stretch (minutes the decoder lost): each cut in the fitting pause nearest an even split
        cuts = ()
        for pieces in range(count, 1, -1):
            fits, midway = choices(cuts[-1] if cuts else start, pieces)
            cuts = (*cuts, min(fits, key=lambda pause: abs(pause - midway), default=midway))
    bounds = [start, *cuts, end]
    return [{"start": round(left, 3), "end": round(right, 3)} for left, right in itertools.pairwise(bounds)]


def plausible(segment: dict, chunks: list[dict], speech: list[tuple[float, float]]) -> bool:
    """Whether a segment decoded from a short lost stretch could have been said in it: Whisper, given 1–2 s,
    sometimes answers with a stock sentence ("Thank you guys, and I'll see you in the next video." for one
    "Okay"), far more words than the stretch's speech holds at MAX_WORDS_PER_S."""
    chunk = holding_chunk(segment, chunks)
    if chunk is None:
        return True
    spoken = sum(max(0.0, min(end, chunk["end"]) - max(start, chunk["start"])) for start, end in speech)
    return len(str(segment.get("text", "")).split()) <= max(2.0, MAX_WORDS_PER_S * spoken)


def holding_chunk(segment: dict, chunks: list[dict]) -> dict | None:
    """The chunk a segment was decoded from: the one holding most of it (chunks may meet or overlap at a pad)."""
    end = segment.get("end", segment["start"])
    holding = [item for item in chunks if item["start"] <= segment["start"] < item["end"] or
               item["start"] < end <= item["end"]]
    return max(holding, key=lambda item: min(item["end"], end) - max(item["start"], segment["start"]), default=None)


def is_silence(segment: dict, asr_options: Any) -> bool:
    """Whether a segment decoded from a lost stretch is no speech: Whisper's own rule for silence (the decoder
    says so and doubts its words), a blank or looping text, or a decoder that gives even odds to silence. A short
    stretch of noise or breath is where Whisper invents a stock word ("Okay.", "Thanks.": no-speech probability
    0.58 on real conversations, where a skipped turn decoded again came back at 0.03–0.06)."""
    no_speech, logprob = segment.get("no_speech_prob"), segment.get("avg_logprob")
    if not str(segment.get("text", "")).strip() or repeated_run(str(segment["text"])) >= LOOP_REPEATS:
        return True
    if no_speech is not None and no_speech >= RECOVERED_MAX_NO_SPEECH:
        return True
    return (no_speech is not None and logprob is not None and asr_options.no_speech_threshold is not None
            and asr_options.log_prob_threshold is not None and no_speech > asr_options.no_speech_threshold
            and logprob < asr_options.log_prob_threshold)


def segmentation_of(vad: Any) -> Any | None:
    """The pyannote segmentation `Inference` a VAD slides over the whole recording (whisperx's pyannote VAD, or
    the one shared with the diarization), or None (silero)."""
    shared = getattr(vad, "inference", None)
    if shared is not None:
        return shared
    return getattr(getattr(vad, "vad_pipeline", None), "_segmentation", None)


@contextlib.contextmanager
def stoppable(inference: Any | None, check: Callable[[], None] | None) -> Iterator[None]:
    """`check` (which raises to stop the job) runs before each batch `inference` computes. whisperx calls the VAD
    with no hook, so without this its pass over a long recording (a minute for an hour of audio on a CPU) could
    not be stopped; it also runs where the diarization's pass, stopped halfway, leaves the VAD to start over."""
    if inference is None or check is None:
        yield
        return
    infer = inference.infer

    def checked(chunks: Any) -> Any:
        check()
        return infer(chunks)

    inference.infer = checked
    try:
        yield
    finally:
        del inference.infer  # the class's method again
