"""The engine: decode once → transcribe → align → diarize → assign speakers, as one `Result` (plain data; the front
ends render formats from it with `core.transcript.formats`)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.advisories import no_speech_warning, option_warnings
from core.asr.blocks import asr_blocks, shifted
from core.asr.chunks import (
    FixedChunks,
    PaddedChunks,
    holding_chunk,
    is_silence,
    missed_speech,
    plausible,
    sparse_speech,
    without_words_in,
    words_in,
)
from core.asr.forced_alignment import align_text, pause_between, speech_extent
from core.asr.language_detection import detect
from core.asr.languages import language_name, normalize_language, word_joiner
from core.asr.speech_spans import fit_words_to_speech
from core.asr.streaming import ChunkStream
from core.asr.timestamps import split_timed_segments
from core.asr.translation import translated_segments
from core.errors import Cancelled, InferenceError, InvalidInput
from core.live.priority import LivePriority
from core.media.decode import SAMPLE_RATE, DecodedAudio, check_duration, decode_audio, decode_span
from core.media.level import normalize_level
from core.media.mapped import released_behind
from core.models.cores import usable_cores
from core.models.memory import release_memory, trimmed_while_running
from core.models.registry import AsrModel, FeatureUnavailable, ModelRegistry
from core.options import TranscribeOptions, token_ids
from core.progress import STAGES, ProgressCallback, ProgressTracker
from core.settings import Settings
from core.speakers.counts import honour_count
from core.speakers.diarization import Diarization, assign_word_speakers, diarize
from core.speakers.recognition import model_identity, recognize, voiceprint
from core.speakers.shared_segmentation import SharedSegmentation, can_share, sharing, vad_inference
from core.speakers.strays import fold, speech_by_speaker, strays
from core.speakers.verification import embed_all, embedding_model, network_name
from core.speakers.voice_check import CALIBRATED, check_voices, moved_turns
from core.speakers.voices import VoiceLibrary, Voiceprint, reenrol_note
from core.speakers.word_labels import split_at_speaker_changes
from core.transcript.edit import segment_at, set_text
from core.transcript.overlap import with_overlaps
from core.transcript.result import (
    Result,
    Segment,
    SegmentsCallback,
    SpeakerTurn,
    VoiceMatch,
    Word,
    partial_note,
    segments_from_whisperx,
    text_language_of,
)

logger = logging.getLogger(__name__)

# Seconds of ASR per second of audio before a model's first pass has measured its own (paces the progress bar).
ASR_PACE_GUESS = {"cpu": 0.3, "cuda": 0.03}
REALIGN_MARGIN_S = 0.5  # room around a corrected segment (its bounds may clip a word), up to its neighbours
SPLIT_REACH_S = 10.0  # words further apart than this are not fitted to the pause between them (snap_split)
REALIGN_REACH_S = 5.0  # how far past a corrected segment's bounds its speech is followed (forced_alignment)

_ASR_OPTION_NAMES = {  # our option → faster-whisper TranscriptionOptions field
    "beam_size": "beam_size",
    "best_of": "best_of",
    "patience": "patience",
    "length_penalty": "length_penalty",
    "compression_ratio_threshold": "compression_ratio_threshold",
    "logprob_threshold": "log_prob_threshold",
    "no_speech_threshold": "no_speech_threshold",
    "condition_on_previous_text": "condition_on_previous_text",
    "initial_prompt": "initial_prompt",
    "hotwords": "hotwords",
}


@dataclasses.dataclass
class _Job:
    """Mutable state of one run; turned into the frozen `Result` at the end."""

    options: TranscribeOptions
    audio: np.ndarray
    progress: ProgressTracker
    warnings: list[str]
    timings: dict[str, float]
    speech: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # the VAD's speech regions (s)
    on_segments: SegmentsCallback | None = None
    # What a stopped job keeps (`partial_result`): the segments streamed so far, then, once transcription and
    # alignment are over, all of them, and what the result needs besides.
    finished: list[Segment] = dataclasses.field(default_factory=list)
    transcribed: list[dict] | None = None
    language: str | None = None
    task: str = "transcribe"  # as decoded ("translate": the segments are English)
    model: str = ""
    aligner: Any = None
    result: Result | None = None  # before voice recognition


class Engine:
    """Runs jobs on models from one `ModelRegistry`. One job at a time per process (GPU-bound)."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None, *,
                 parallel_diarization: bool = True, share_segmentation: bool = True,
                 check_voices: bool = True) -> None:
        self.settings = settings
        self.registry = registry or ModelRegistry(settings)
        # Diarization needs only the audio, so it runs beside ASR + alignment. Same output either way; even on
        # 2 CPU cores it pays (30 s clip: 3.4 s sequential → 2.0 s concurrent, `python -m bench --parts engine`).
        self.parallel_diarization = parallel_diarization
        if parallel_diarization and self.registry.device == "cpu":
            _leave_cores_to_asr()
        # VAD and diarization run the same segmentation model when the weights match: once serves both
        # (docs/performance.md; core/speakers/shared_segmentation.py). Outputs are unchanged.
        self.share_segmentation = share_segmentation
        self._shared_segmentation: dict[tuple[str, str], SharedSegmentation | None] = {}
        # Short pieces checked against their speaker's voice after diarization (core/speakers/voice_check.py).
        self.check_voices = check_voices
        self._run_lock = threading.Lock()
        self._in_progress = 0  # transcribe() calls not yet returned: the one running and those waiting for it
        self._count_lock = threading.Lock()
        self.voices = VoiceLibrary(settings.data_dir)  # people recognised by name across recordings
        self._asr_pace: dict[str, float] = {}  # seconds per audio second of each model's last ASR pass
        # Live sessions (core/live/) share the models; at every step boundary a job lets their waiting decodes go
        # first, for a bounded time (core/live/priority.py).
        self.live_priority = LivePriority()

    @property
    def jobs_in_progress(self) -> int:
        """Jobs inside `transcribe()` now (running or waiting for the run lock), whichever front end sent them; a
        front end adds the jobs still in its own queue to count everything waiting (e.g. the shared queue limit)."""
        return self._in_progress

    def transcribe(
        self,
        audio: str | Path | np.ndarray | DecodedAudio,
        options: TranscribeOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        on_segments: SegmentsCallback | None = None,
    ) -> Result:
        """Run one job. Raises `WorkerError` subclasses for anything the caller should show a user, `Cancelled`
        when `cancel` is set before the job ends (it is checked at every progress event).

        `on_segments(segments)` is called from the job's thread with each VAD chunk's newly finished segments
        (text final; before alignment and speaker labels, so `speaker` is None), each once, in time order; the
        returned `Result` is the final word (`core/asr/streaming.py`)."""
        with self._count_lock:
            self._in_progress += 1
        try:
            return self._run(audio, options, on_progress, cancel, on_segments)
        finally:
            with self._count_lock:
                self._in_progress -= 1
            release_memory()  # the job's buffers are freed by now: give them back to the OS (core/models/memory.py)

    def _run(self, audio: str | Path | np.ndarray, options: TranscribeOptions | None,
             on_progress: ProgressCallback | None, cancel: threading.Event | None,
             on_segments: SegmentsCallback | None = None) -> Result:
        options = options or TranscribeOptions()
        started = time.perf_counter()
        wanted = {"align": options.align_output, "diarize": options.diarization, "translate": options.translate}
        stages = tuple(stage for stage in STAGES if wanted.get(stage, True))
        progress = ProgressTracker(on_progress, stages, cancel, checkpoint=self.live_priority.yield_to_live)
        progress.update("decode", 0.0)
        decoded = self._decode(audio)
        timings = {"decode": round(time.perf_counter() - started, 3)}
        progress.update("decode", 1.0)
        # Quiet recordings: VAD and ASR hear them (level.py); samples decoded here are scaled where they lie.
        samples, gain_db = normalize_level(decoded.samples, in_place=isinstance(audio, (str, Path)))
        if gain_db:
            logger.info("quiet recording: raised by %.1f dB before VAD and ASR", gain_db)
        # A long recording, mapped from disk, is never all resident; freed heap pages go back while it runs.
        with released_behind(samples), trimmed_while_running():
            return self._run_decoded(decoded, samples, options, progress, on_segments, started, timings)

    def _run_decoded(self, decoded: DecodedAudio, samples: np.ndarray, options: TranscribeOptions,
                     progress: ProgressTracker, on_segments: SegmentsCallback | None, started: float,
                     timings: dict[str, float]) -> Result:
        job = _Job(options, samples, progress, [*decoded.warnings, *option_warnings(options)], timings)

        def finished(segments: tuple[Segment, ...]) -> None:  # kept for a partial result, then passed on
            job.finished.extend(segments)
            if on_segments is not None:
                on_segments(segments)

        job.on_segments = finished
        try:
            diarizer, job.result = self._transcribe_job(job, decoded)
            return self._finish(job, decoded, diarizer, job.result, started)
        except Cancelled as stopped:
            if stopped.partial is None:
                stopped.partial = self.partial_result(job, decoded.duration_s)
            raise

    def _transcribe_job(self, job: _Job, decoded: DecodedAudio) -> tuple[Any, Result]:
        """Transcription, alignment and diarization under the run lock: (the diarization pipeline or None, the
        result before voice recognition and timings)."""
        options, progress = job.options, job.progress
        with self._run_lock, contextlib.ExitStack() as job_scope:
            progress.check_cancelled()  # stopped while waiting for the previous job
            asr = self.registry.asr(options.model)
            job.model = asr.name
            language, task = self._language_and_task(asr, options, job.warnings)
            job.task = task
            diarizer = self._diarization_pipeline(job)
            if diarizer is not None and len(asr_blocks(job.audio)) == 1:  # in blocks, the VAD must not wait
                self._share_segmentation(asr, diarizer, job_scope)
            diarization = self._start_diarization(job, diarizer) if diarizer is not None else None
            try:
                probability = None
                if language is None:
                    job.progress.update("transcribe", 0.0)
                    detected = detect(asr.pipeline, job.audio, min_probability=options.language_detection_min_prob,
                                      max_tries=options.language_detection_max_tries)
                    language, probability = detected.language, detected.probability
                job.language = language
                aligner = job.aligner = self._aligner(job, text_language_of(language, task))
                # Decoded as whisperX decodes, without timestamp tokens (core/asr/sentences.py). Without wav2vec2,
                # Whisper's cross-attention times the words, which also cut each chunk into sentences and carry
                # the speaker labels; they leave the result only when word timestamps are asked for.
                segments = self._transcribe(asr, job, language, task, timestamps=False, words=aligner is None)
                segments = fit_words_to_speech(self._align(job, segments, aligner), job.speech)
                job.transcribed = segments
                turns = None
                if diarization is not None:
                    turns, segments = self._finish_diarization(job, diarizer, diarization, segments,
                                                               text_language_of(language, task))
                translation = translated_segments(self, asr, job, language, task, segments)
            except BaseException:
                if diarization is not None:  # the next job must not start beside a diarization still running
                    progress.stop()
                    with contextlib.suppress(BaseException):
                        diarization()
                raise
        if not segments:
            job.warnings.append(no_speech_warning(decoded.duration_s))
        converted = segments_from_whisperx(segments)
        # words said over someone else carry that speaker too: the overlapping turns know, the labels do not
        converted = with_overlaps(converted, turns) if turns is not None else converted
        if not options.align_output:  # words timed for the sentences and the speakers only
            converted = tuple(dataclasses.replace(segment, words=()) for segment in converted)
        result = Result(
            segments=converted,
            language=language,
            language_probability=probability,
            speakers=tuple(sorted({turn.speaker for turn in turns})) if turns is not None else None,
            diarization=turns,
            word_timing=_word_method(options, aligner, segments),
            duration=round(decoded.duration_s, 3),
            model=asr.name,
            device=self.registry.device,
            compute_type=self.registry.compute_type,
            warnings=tuple(dict.fromkeys(job.warnings)),
            translation=translation,
            task=task,
        ).with_speakers_in_order()
        return diarizer, result

    def _finish(self, job: _Job, decoded: DecodedAudio, diarizer: Any, result: Result, started: float) -> Result:
        """Voice recognition (when asked) and the timings: the finished result."""
        timings = job.timings
        if diarizer is not None and result.diarization and job.options.recognize_voices:
            with self._run_lock:  # the embedding model is the diarization pipeline's: one job uses it at a time
                result = self._recognize_voices(job, diarizer, result)
        timings["total"] = round(time.perf_counter() - started, 3)
        job.progress.update("write", 1.0)
        logger.info("job done: %.1fs audio in %.2fs (%s)", decoded.duration_s, timings["total"],
                    ", ".join(f"{k}={v}" for k, v in timings.items()))
        return dataclasses.replace(result, timings=timings)

    def partial_result(self, job: _Job, duration_s: float) -> Result | None:
        """What a stopped job had finished, marked `partial` with a warning saying up to where: every segment once
        transcription (and alignment) were over, else the segments streamed so far (text and times, no words);
        without speakers either way (diarization labels them at the end), unless only voice recognition was left.
        None when nothing was finished."""
        if job.result is not None and job.result.segments:
            reached = max((segment.end for segment in job.result.segments), default=0.0)
            return dataclasses.replace(job.result, timings=dict(job.timings), partial=True, warnings=tuple(
                dict.fromkeys([*job.result.warnings, partial_note(reached, duration_s)])))
        if job.transcribed is not None:
            segments = segments_from_whisperx(job.transcribed)
            if not job.options.align_output:
                segments = tuple(dataclasses.replace(segment, words=()) for segment in segments)
        else:
            segments = tuple(job.finished)
        if not segments:
            return None
        reached = max(segment.end for segment in segments)
        return Result(segments=segments, language=job.language, duration=round(duration_s, 3), model=job.model,
                      device=self.registry.device, compute_type=self.registry.compute_type,
                      word_timing=_word_method(job.options, job.aligner, job.transcribed or []),
                      warnings=tuple(dict.fromkeys([*job.warnings, partial_note(reached, duration_s)])),
                      timings=dict(job.timings), partial=True, task=job.task)

    def realign(self, audio: str | Path | np.ndarray | DecodedAudio, result: Result, index: int, text: str, *,
                through: int | None = None) -> Result:
        """`result` with segment `index` (through `through`) holding `text`, its words timed against `audio` by
        forced alignment: wav2vec2 where the language's model is installed, else Whisper's cross-attention (the
        model that made the result when installed, else the default), over the segments' speech (followed past
        their old bounds where it runs on) and fitted to it; the text is cut into segments as a transcription cuts
        it (`core.transcript.edit.set_text`). Speakers are kept."""
        first, last = segment_at(result, index), segment_at(result, index if through is None else through, "through")
        end_index = index if through is None else through
        before = result.segments[index - 1].end if index > 0 else 0.0
        after = result.segments[end_index + 1].start if end_index + 1 < len(result.segments) else float("inf")
        # decoded with room to follow speech that runs on past the old bounds (speech_extent), up to the neighbours
        reach = (max(before, first.start - REALIGN_REACH_S, 0.0), min(after, last.end + REALIGN_REACH_S))
        decoded, offset = self._decode_span(audio, *reach)  # only the span: a turn of an hour costs the turn
        low, high = reach[0] - offset, min(reach[1] - offset, decoded.duration_s)  # on the decoded samples' clock
        start, end = speech_extent(decoded.samples, first.start - offset, last.end - offset, low, high)
        local = (max(low, start - REALIGN_MARGIN_S), min(high, end + REALIGN_MARGIN_S))
        if last.end > offset + decoded.duration_s + 1.0:
            raise InvalidInput(f"audio: ends at {offset + decoded.duration_s:.1f} s, but the segment ends at "
                               f"{last.end:.1f} s; pass the recording this result was made from", field="audio")
        started = time.perf_counter()
        language = normalize_language(result.text_language) or "en"
        asr = self.registry.asr(result.model if result.model in self.registry.available_asr_models() else None)
        job = _Job(TranscribeOptions(), decoded.samples, ProgressTracker(None, STAGES, None), [], {})
        aligner = self._aligner(job, language)  # None without an installed wav2vec2 model: Whisper times them
        local = (local[0], max(local[1], local[0] + 0.05))
        words = align_text(decoded.samples, *local, text, language=language, asr_pipeline=asr.pipeline,
                           aligner=aligner, device=self.registry.device)
        words = tuple(_shifted(word, offset) for word in words)
        logger.info("realigned one segment (%d words, %.1f s of audio) in %.2fs by %s", len(words),
                    local[1] - local[0], time.perf_counter() - started, "wav2vec2" if aligner else "whisper")
        return set_text(result, index, text, words, through=through,
                        joiner=word_joiner(language, timed_by_whisper=aligner is None))

    def snap_split(self, audio: str | Path | np.ndarray | DecodedAudio, result: Result, index: int,
                   word: int) -> Result:
        """`result` with the two words either side of a split (before word `word` of segment `index`, as
        `core.transcript.edit.set_speaker_from` splits; word 0: after the segment before) fitted to the pause
        between them in `audio`: the first part ends where the voice stops and the second starts where it resumes,
        not where the aligner guessed (a split turn ended 1.3 s into the silence after its last word). Unchanged
        when the speech runs on without a pause, a word is untimed or the two are further apart than
        SPLIT_REACH_S."""
        segment = segment_at(result, index)
        if not 0 <= word < len(segment.words) or (word == 0 and (index == 0 or not result.segments[index - 1].words)):
            return result
        left = (index, word - 1) if word else (index - 1, len(result.segments[index - 1].words) - 1)
        before, after = result.segments[left[0]].words[left[1]], segment.words[word]
        if None in (before.start, before.end, after.start, after.end) or not (
                before.start < after.end <= before.start + SPLIT_REACH_S):
            return result
        decoded, offset = self._decode_span(audio, before.start, after.end)
        pause = pause_between(decoded.samples, before.start - offset, after.end - offset)
        if pause is None:
            return result
        stop, resume = pause[0] + offset, pause[1] + offset
        if not before.start < stop <= resume < after.end:
            return result
        segments = list(result.segments)
        moves = ((left, {"end": round(stop, 3)}), ((index, word), {"start": round(resume, 3)}))
        for (position, place), changes in moves:
            words = list(segments[position].words)
            words[place] = dataclasses.replace(words[place], **changes)
            segments[position] = dataclasses.replace(segments[position], words=tuple(words))
        if word == 0:  # a boundary between two segments: they end and start with those words
            segments[index - 1] = dataclasses.replace(segments[index - 1], end=round(stop, 3))
            segments[index] = dataclasses.replace(segments[index], start=round(resume, 3))
        return dataclasses.replace(result, segments=tuple(segments))

    def _decode_span(self, audio: str | Path | np.ndarray | DecodedAudio, start_s: float,
                     end_s: float) -> tuple[DecodedAudio, float]:
        """`start_s`..`end_s` of `audio` and the time its first sample stands at: a file is decoded at that span
        only; samples already in memory are sliced."""
        first = round(start_s * SAMPLE_RATE)
        if isinstance(audio, (str, Path)):
            return decode_span(audio, start_s, end_s, max_bytes=self.settings.max_upload_bytes,
                               max_seconds=self.settings.max_audio_seconds), first / SAMPLE_RATE
        decoded = self._decode(audio)
        stop = first + round((end_s - start_s) * SAMPLE_RATE) if end_s < float("inf") else None
        return DecodedAudio(decoded.samples[first:stop]), first / SAMPLE_RATE

    def _decode(self, audio: str | Path | np.ndarray | DecodedAudio) -> DecodedAudio:
        if isinstance(audio, (str, Path)):  # checks the length while decoding (and from the header when it can)
            return decode_audio(audio, max_bytes=self.settings.max_upload_bytes,
                                max_seconds=self.settings.max_audio_seconds)
        decoded = audio  # decoded by the caller (e.g. to name its own field in errors), or samples
        if isinstance(audio, np.ndarray):
            decoded = DecodedAudio(np.asarray(audio, dtype=np.float32).reshape(-1))
            if decoded.samples.size == 0:
                raise InvalidInput("audio: the array is empty", field="audio")
        check_duration(decoded.duration_s, self.settings.max_audio_seconds, "audio")
        return decoded

    def check_options(self, options: TranscribeOptions) -> None:
        """What the options alone can be refused for (a language that is not Whisper's or that the model cannot
        do, a diarization model that is not installed), so that a front end refuses a job before it fetches the
        audio; the job itself checks the same again."""
        self._language_and_task(self.registry.asr(options.model), options, [])
        if options.diarization:
            self._check_installed_diarization(options.diarization_model)

    def _check_installed_diarization(self, chosen: str | None) -> None:
        installed = self.registry.available_diarization_models()
        if chosen is not None and chosen not in installed:
            raise InvalidInput(f"diarization_model={chosen!r} is not installed; installed: "
                               f"{', '.join(installed) or 'none'}", field="diarization_model")

    def _language_and_task(self, asr: AsrModel, options: TranscribeOptions,
                           warnings: list[str]) -> tuple[str | None, str]:
        language = normalize_language(options.language)
        task = options.task
        if asr.english_only:
            if language not in (None, "en"):
                raise InvalidInput(
                    f"language={language!r}: model {asr.name!r} is English-only; choose a multilingual model "
                    "or language en", field="language")
            if task == "translate":
                warnings.append(f"model {asr.name!r} is English-only: translate has no effect")
                task = "transcribe"
            language = "en"
        return language, task

    # ---- ASR ---------------------------------------------------------------------------------
    def _transcribe(self, asr: AsrModel, job: _Job, language: str, task: str, *, timestamps: bool,
                    words: bool = False, stage: str = "transcribe") -> list[dict]:
        """One batched whisperx pass; with `timestamps`, each VAD chunk splits at whisper's timestamps, with
        `words` its words are timed by cross-attention."""
        started = time.perf_counter()
        job.progress.update(stage, 0.0)
        pipeline = asr.pipeline
        options = job.options
        if not options.enable_vad:
            job.warnings.append("enable_vad=false ignored: WhisperX's batched pipeline always segments with VAD")
        saved = (pipeline.options, dict(pipeline._vad_params), pipeline.suppress_numerals, pipeline.vad_model)
        pipeline.model.between_attempts = job.progress.check_cancelled
        chunks = pipeline.vad_model = PaddedChunks(pipeline.vad_model,  # edge words survive (core/asr/chunks.py)
                                                    check=job.progress.check_cancelled)
        pipeline.options = dataclasses.replace(_asr_options(pipeline.options, options),
                                               without_timestamps=not timestamps, word_timestamps=words)
        pipeline._vad_params = {**pipeline._vad_params, "vad_onset": options.vad_onset,
                                "vad_offset": options.vad_offset}
        pipeline.suppress_numerals = options.suppress_numerals
        stream = None
        if job.on_segments is not None and stage == "transcribe":  # a translation pass is not streamed
            stream = ChunkStream(pipeline, job.on_segments)
        duration_s = len(job.audio) / SAMPLE_RATE
        expected_s = duration_s * self._asr_pace.get(asr.name, ASR_PACE_GUESS.get(self.registry.device, 0.1))
        speech: list[tuple[float, float]] = []
        try:
            # whisperx reports once per batch: paced; one block unless the recording is long (core/asr/blocks.py)
            with stream.attached() if stream else contextlib.nullcontext(), job.progress.paced(stage, expected_s):
                segments = []
                for first, last in asr_blocks(job.audio):
                    offset = first / SAMPLE_RATE
                    if stream is not None:
                        stream.start_block(offset)
                    found = self._run_asr(pipeline, job, job.audio[first:last], language, task,
                                          _block_progress(job.progress.stage_callback(stage), first, last,
                                                          len(job.audio)))
                    segments += shifted(split_timed_segments(found), offset)
                    speech += [(round(start + offset, 3), round(end + offset, 3)) for start, end in chunks.speech]
            self._asr_pace[asr.name] = (time.perf_counter() - started) / max(duration_s, 1.0)
            segments = self._recover_lost_speech(pipeline, job, segments, speech, language, task)
        finally:
            pipeline.options, pipeline._vad_params, pipeline.suppress_numerals, pipeline.vad_model = saved
            pipeline.model.between_attempts = None
        job.speech = speech
        job.progress.update(stage, 1.0)
        job.timings[stage] = round(time.perf_counter() - started, 3)
        return segments

    def _recover_lost_speech(self, pipeline: Any, job: _Job, segments: list[dict], speech: list[tuple[float, float]],
                             language: str, task: str) -> list[dict]:
        """Speech the pass gave no word to, or far too few, decoded again on its own (core/asr/chunks.py): what
        comes back fills the gap, or replaces the few words where it hears more."""
        duration_s = len(job.audio) / SAMPLE_RATE
        fitted = fit_words_to_speech(segments, speech)
        sparse = sparse_speech(speech, fitted, duration_s)
        missed = [chunk for chunk in missed_speech(speech, fitted, duration_s)
                  if not any(item["start"] <= chunk["start"] and chunk["end"] <= item["end"] for item in sparse)]
        chunks = sorted(missed + sparse, key=lambda chunk: chunk["start"])
        if not chunks:
            return segments
        job.progress.check_cancelled()
        pipeline.vad_model = FixedChunks(chunks)
        found = self._run_asr(pipeline, job, job.audio, language, task, lambda _: None)
        recovered = [segment for segment in split_timed_segments(found)
                     if not is_silence(segment, pipeline.options) and plausible(segment, chunks, speech)]
        heard: dict[int, int] = {}
        for segment in recovered:
            chunk = holding_chunk(segment, chunks)
            if chunk is not None:
                heard[id(chunk)] = heard.get(id(chunk), 0) + len(segment.get("words") or str(segment["text"]).split())
        replaced = [chunk for chunk in sparse if heard.get(id(chunk), 0) > words_in(fitted, chunk)]
        recovered = [segment for segment in recovered
                     if (chunk := holding_chunk(segment, chunks)) is None or chunk in missed or chunk in replaced]
        logger.info("re-decoded %d stretches of speech without words and %d with too few: %d segments back, "
                    "%d stretches' words replaced", len(missed), len(sparse), len(recovered), len(replaced))
        if not recovered:
            return segments
        joiner = word_joiner(text_language_of(language, task))
        kept = without_words_in(fitted, replaced, joiner) if replaced else fitted
        return sorted(kept + recovered, key=lambda segment: segment["start"])

    def _run_asr(self, pipeline: Any, job: _Job, audio: np.ndarray, language: str, task: str,
                 on_progress: Callable[[float], None]) -> list[dict]:
        """One whisperx batched call; on CUDA out-of-memory, again with half the batch."""
        batch_size = job.options.batch_size or self.registry.batch_size
        while True:
            try:
                output = pipeline.transcribe(audio, batch_size=batch_size, language=language, task=task,
                                             chunk_size=job.options.chunk_size, progress_callback=on_progress)
                return list(output["segments"])
            except RuntimeError as error:
                if not _is_out_of_memory(error) or batch_size <= 1:
                    raise InferenceError(f"transcription failed: {_short(error)}") from error
                batch_size = max(1, batch_size // 2)
                _free_cuda_memory()
                logger.warning("CUDA out of memory; retrying with batch_size=%d", batch_size)
                job.warnings.append(f"GPU memory ran out; retried with batch_size={batch_size}")

    # ---- alignment ---------------------------------------------------------------------------
    def _aligner(self, job: _Job, language: str) -> tuple[Any, Any] | None:
        """The wav2vec2 model for `language`, or None when word timestamps are off or it is not installed (then
        whisper times the words, and one plain note says so; the reason goes to the log)."""
        if not job.options.align_output:
            return None
        try:
            return self.registry.alignment(language)
        except FeatureUnavailable as unavailable:
            logger.info("no wav2vec2 alignment for %s: %s", language, unavailable.reason)
            job.warnings.append(f"word timings come from Whisper; install the wav2vec2 model for "
                                f"{language_name(language)} for tighter timing")
            return None

    def _align(self, job: _Job, segments: list[dict], aligner: tuple[Any, Any] | None) -> list[dict]:
        if aligner is None or not segments:
            job.progress.skip("align")
            return segments
        started = time.perf_counter()
        import whisperx

        job.progress.update("align", 0.0)
        model, metadata = aligner
        aligned = whisperx.align(segments, model, metadata, job.audio, self.registry.device,
                                 return_char_alignments=False,
                                 progress_callback=job.progress.stage_callback("align"))
        job.progress.update("align", 1.0)
        job.timings["align"] = round(time.perf_counter() - started, 3)
        return with_decoder_statistics(list(aligned["segments"]), segments)

    # ---- diarization -------------------------------------------------------------------------
    def _diarization_pipeline(self, job: _Job) -> Any | None:
        """The job's diarization pipeline (an installed name only, never a path), or None: not asked for, or not
        available (a warning says why)."""
        if not job.options.diarization:
            return None
        chosen = job.options.diarization_model
        self._check_installed_diarization(chosen)
        try:
            return self.registry.diarization(chosen, token=job.options.huggingface_access_token)
        except FeatureUnavailable as unavailable:
            job.warnings.append(unavailable.reason)
            job.progress.skip("diarize")
            return None

    def _share_segmentation(self, asr: AsrModel, diarizer: Any, scope: contextlib.ExitStack) -> None:
        """For this job (until `scope` closes), VAD and diarization share one segmentation pass when their models
        match."""
        if not self.share_segmentation:
            return
        key = (asr.name, str(id(diarizer)))
        if key not in self._shared_segmentation:
            vad, segmentation = vad_inference(asr.pipeline), getattr(diarizer, "_segmentation", None)
            self._shared_segmentation[key] = (SharedSegmentation(vad, segmentation) if can_share(vad, segmentation)
                                              else None)
        shared = self._shared_segmentation[key]
        if shared is not None:
            scope.enter_context(sharing(asr.pipeline, diarizer, shared))

    def _start_diarization(self, job: _Job, pipeline: Any) -> Callable[[], Diarization]:
        """Diarization only needs the audio, so it may run beside ASR + alignment; returns how to get it."""
        if not self.parallel_diarization:
            return lambda: self._diarize(pipeline, job)
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize")
        future = executor.submit(self._diarize, pipeline, job)
        executor.shutdown(wait=False)  # the worker thread ends with the task; nothing else is queued
        return future.result

    def _finish_diarization(self, job: _Job, diarizer: Any, diarization: Callable[[], Diarization],
                            segments: list[dict], language: str) -> tuple[tuple[SpeakerTurn, ...], list[dict]]:
        """Label every word with its speaker, then split segments where the speaker changes, so the transcript
        keeps the turns diarization found (not one label per sentence)."""
        found = diarization()
        started = time.perf_counter()
        asked = job.options.num_speakers or job.options.min_speakers
        stray = strays(found.turns, asked)
        if stray:  # a sliver of someone's speech under a label of its own (core/speakers/strays.py)
            seconds = speech_by_speaker(found.turns)
            logger.info("folded %d stray speaker(s) into their nearest voices (%.1f s of speech)", len(stray),
                        sum(seconds[speaker] for speaker in stray))
            found = Diarization(turns=fold(found.turns, stray), exclusive=fold(found.exclusive, stray),
                                voices={label: voice for label, voice in found.voices.items() if label not in stray})
        joiner = word_joiner(language, timed_by_whisper=job.aligner is None)
        segments = split_at_speaker_changes(assign_word_speakers(segments, found.exclusive), joiner=joiner)
        segments, found = self._check_voices(job, diarizer, segments, found, joiner)
        segments, short = honour_count(segments, found.turns, asked, joiner=joiner)
        if short:
            job.warnings.append(short)
        job.timings["assign"] = round(time.perf_counter() - started, 3)
        return found.turns, segments

    def _check_voices(self, job: _Job, diarizer: Any, segments: list[dict], found: Diarization,
                      joiner: str) -> tuple[list[dict], Diarization]:
        """Short pieces of speech that do not sound like the speaker they were given go to the one they sound like,
        or to a new speaker (`core/speakers/voice_check.py`): interjections the segmentation folded into the voice
        around them."""
        model = embedding_model(diarizer)
        if not found.voices or not self.check_voices or network_name(model) not in CALIBRATED:
            return segments, found
        options = job.options
        segments, moves = check_voices(lambda clips: embed_all(model, clips), job.audio, segments, found.turns,
                                       found.voices, most=options.num_speakers or options.max_speakers)
        if not moves:
            return segments, found
        logger.info("voice check: %d piece(s) moved to another or a new speaker (%.1f s)", len(moves),
                    sum(move.end - move.start for move in moves))
        segments = split_at_speaker_changes(segments, joiner=joiner, settle=False)
        return segments, dataclasses.replace(found, turns=moved_turns(found.turns, moves),
                                             exclusive=moved_turns(found.exclusive, moves))

    # ---- the voice library ----------------------------------------------------------------------
    def _recognize_voices(self, job: _Job, diarizer: Any, result: Result) -> Result:
        """Name the speakers whose voices the library knows, comparing only voiceprints of this pipeline's
        embedding model; voices enrolled with another model are named in one warning saying how to fix it."""
        job.progress.check_cancelled()
        started = time.perf_counter()
        try:
            references = self.voices.references(model_identity(embedding_model(diarizer)))
        except sqlite3.Error as error:  # a damaged or locked library costs the names, never the transcript
            logger.warning("voice library unreadable (%s): voices not recognised", type(error).__name__)
            return dataclasses.replace(result, warnings=(*result.warnings, (
                f"voices were not recognised: the voice library ({self.voices.path}) could not be read "
                f"({error}); the speakers keep their labels")))
        if references.reenrol:
            logger.info("voice library: %d voice(s) of another speaker model, to re-enrol", len(references.reenrol))
            result = dataclasses.replace(result, warnings=(*result.warnings, reenrol_note(references.reenrol)))
        if not references.vectors:
            return result
        matches = recognize(diarizer, references.vectors, job.audio, result.diarization or ())
        job.timings["voices"] = round(time.perf_counter() - started, 3)
        logger.info("voice library: %d of %d speakers recognised", sum(m.name is not None for m in matches.values()),
                    len(matches))
        return result.with_recognized_voices(VoiceMatch(label=label, name=found.name, score=found.similarity)
                                             for label, found in matches.items())

    def voiceprint(self, audio: np.ndarray, *, source: str, turns: tuple[SpeakerTurn, ...] | None = None,
                   label: str | None = None, diarization_model: str | None = None, token: str | None = None,
                   field: str = "audio") -> tuple[Voiceprint, str]:
        """One person's voiceprint (`core.speakers.recognition.voiceprint`) made with the diarization pipeline's
        embedding model, and that model's identity (what the library checks)."""
        with self._run_lock:
            try:
                pipeline = self.registry.diarization(diarization_model, token=token)
            except FeatureUnavailable as unavailable:
                raise InvalidInput(f"voices cannot be enrolled: {unavailable.reason}", field="diarization_model"
                                   ) from None
            print_ = voiceprint(pipeline, audio, source=source, turns=turns, label=label, field=field)
            return print_, model_identity(embedding_model(pipeline))

    def _diarize(self, pipeline: Any, job: _Job) -> Diarization:
        started = time.perf_counter()
        job.progress.update("diarize", 0.0)
        options = job.options
        try:
            found = diarize(pipeline, job.audio, num_speakers=options.num_speakers, min_speakers=options.min_speakers,
                            max_speakers=options.max_speakers, window_s=self.settings.diarization_window_minutes * 60,
                            on_progress=lambda fraction: job.progress.update("diarize", fraction))
        except RuntimeError as error:
            raise InferenceError(f"diarization failed: {_short(error)}") from error
        job.progress.update("diarize", 1.0)
        job.timings["diarize"] = round(time.perf_counter() - started, 3)
        return found


def _leave_cores_to_asr() -> None:
    """On a CPU, diarization's torch work runs beside CTranslate2's decoding, which takes every core: torch keeps
    to half of them. With both at full width the threads wait for each other (OpenMP spins): on a 2-core box under
    load, the diarization's embeddings of a 48 s conversation took 18.8 s of CPU with 2 torch threads and 2.6 s
    with 1 (its segmentation 11.1 s and 2.8 s)."""
    import torch

    torch.set_num_threads(max(1, usable_cores() // 2))


def _word_method(options: TranscribeOptions, aligner: Any, segments: list[dict]) -> str | None:
    """Which method timed the words: "wav2vec2", "whisper", or None (not asked for, or nothing was said)."""
    if not options.align_output or not any(segment.get("words") for segment in segments):
        return None
    return "wav2vec2" if aligner is not None else "whisper"


def _block_progress(callback: Callable[[float], None], first: int, last: int,
                    total: int) -> Callable[[float], None]:
    """A whisperx percent callback for one block of the recording, reported as the whole pass's percent."""
    return lambda percent: callback(100.0 * (first + (last - first) * float(percent) / 100.0) / max(total, 1))


def _asr_options(base: Any, options: TranscribeOptions) -> Any:
    changes: dict[str, Any] = {
        target: getattr(options, source) for source, target in _ASR_OPTION_NAMES.items()
        if getattr(options, source) is not None
    }
    if options.temperature is not None or options.temperature_increment_on_fallback is not None:
        first = options.temperature if options.temperature is not None else base.temperatures[0]
        step = options.temperature_increment_on_fallback
        if step is None:  # whisperx's own schedule's step
            step = base.temperatures[1] - base.temperatures[0] if len(base.temperatures) > 1 else 0.0
        temperatures = np.arange(first, 1.0 + 1e-6, step) if step > 0 else [first]
        changes["temperatures"] = [round(float(value), 3) for value in temperatures]
    if options.suppress_tokens is not None:
        changes["suppress_tokens"] = token_ids(options.suppress_tokens)
    return dataclasses.replace(base, **changes)


def _is_out_of_memory(error: BaseException) -> bool:
    return "out of memory" in str(error).lower()


def _free_cuda_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def _shifted(word: Word, offset_s: float) -> Word:
    """A word timed within a decoded span, moved onto the recording's clock."""
    def moved(value: float | None) -> float | None:
        return None if value is None else round(value + offset_s, 3)

    return dataclasses.replace(word, start=moved(word.start), end=moved(word.end))


DECODER_STATISTICS = ("avg_logprob", "no_speech_prob", "temperature")


def with_decoder_statistics(aligned: list[dict], decoded: list[dict]) -> list[dict]:
    """whisperx's alignment makes new segments (a decoded one may become several sentences) that keep only
    `avg_logprob` of what the decoder said: each gets the statistics of the decoded segment it came from (the one
    holding its middle), and its own `compression_ratio`."""
    from core.asr.timestamps import compression_ratio

    out = []
    for segment in aligned:
        start, end = segment.get("start"), segment.get("end")
        middle = (start + end) / 2 if start is not None and end is not None else start
        source = next((item for item in decoded if middle is not None
                       and item.get("start", 0.0) <= middle <= item.get("end", 0.0)), None)
        filled = dict(segment)
        if source is not None:
            for key in DECODER_STATISTICS:
                if filled.get(key) is None and source.get(key) is not None:
                    filled[key] = source[key]
        filled["compression_ratio"] = compression_ratio(str(filled.get("text", "")).strip())
        out.append(filled)
    return out
