"""The engine: decode once → transcribe → align → diarize → assign speakers, as one `Result` (plain data; the front
ends render formats from it with `core.transcript.formats`)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.advisories import no_speech_warning, option_warnings
from core.asr.language_detection import detect
from core.asr.languages import language_name, normalize_language, word_joiner
from core.asr.streaming import ChunkStream, SegmentsCallback
from core.asr.timestamps import split_timed_segments
from core.asr.translation import translated_segments
from core.errors import InferenceError, InvalidInput
from core.media.decode import DecodedAudio, check_duration, decode_audio
from core.models.memory import release_memory
from core.models.registry import AsrModel, FeatureUnavailable, ModelRegistry
from core.options import TranscribeOptions, token_ids
from core.progress import STAGES, ProgressCallback, ProgressTracker
from core.settings import Settings
from core.speakers.diarization import Diarization, assign_word_speakers, diarize
from core.speakers.shared_segmentation import SharedSegmentation, can_share, sharing, vad_inference
from core.speakers.word_labels import split_at_speaker_changes
from core.transcript.result import Result, SpeakerTurn, segments_from_whisperx

logger = logging.getLogger(__name__)

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
    on_segments: SegmentsCallback | None = None


class Engine:
    """Runs jobs on models from one `ModelRegistry`. One job at a time per process (GPU-bound)."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None, *,
                 parallel_diarization: bool = True, share_segmentation: bool = True) -> None:
        self.settings = settings
        self.registry = registry or ModelRegistry(settings)
        # Diarization needs only the audio, so it runs beside ASR + alignment. Same output either way; even on
        # 2 CPU cores it pays (30 s clip: 3.4 s sequential → 2.0 s concurrent, `python -m bench --parts engine`).
        self.parallel_diarization = parallel_diarization
        # VAD and diarization run the same segmentation model when the weights match: once serves both (README
        # "Performance"; core/speakers/shared_segmentation.py). Outputs are unchanged.
        self.share_segmentation = share_segmentation
        self._shared_segmentation: dict[tuple[str, str], SharedSegmentation | None] = {}
        self._run_lock = threading.Lock()

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
        try:
            return self._run(audio, options, on_progress, cancel, on_segments)
        finally:
            release_memory()  # the job's buffers are freed by now: give them back to the OS (core/models/memory.py)

    def _run(self, audio: str | Path | np.ndarray, options: TranscribeOptions | None,
             on_progress: ProgressCallback | None, cancel: threading.Event | None,
             on_segments: SegmentsCallback | None = None) -> Result:
        options = options or TranscribeOptions()
        started = time.perf_counter()
        wanted = {"align": options.align_output, "diarize": options.diarization, "translate": options.translate}
        stages = tuple(stage for stage in STAGES if wanted.get(stage, True))
        progress = ProgressTracker(on_progress, stages, cancel)
        progress.update("decode", 0.0)
        decoded = self._decode(audio)
        timings = {"decode": round(time.perf_counter() - started, 3)}
        progress.update("decode", 1.0)
        job = _Job(options, decoded.samples, progress, [*decoded.warnings, *option_warnings(options)], timings,
                   on_segments)
        with self._run_lock, contextlib.ExitStack() as job_scope:
            progress.check_cancelled()  # stopped while waiting for the previous job
            asr = self.registry.asr(options.model)
            language, task = self._language_and_task(asr, options, job.warnings)
            diarizer = self._diarization_pipeline(job)
            if diarizer is not None:
                self._share_segmentation(asr, diarizer, job_scope)
            diarization = self._start_diarization(job, diarizer) if diarizer is not None else None
            try:
                probability = None
                if language is None:
                    job.progress.update("transcribe", 0.0)
                    detected = detect(asr.pipeline, job.audio, min_probability=options.language_detection_min_prob,
                                      max_tries=options.language_detection_max_tries)
                    language, probability = detected.language, detected.probability
                aligner = self._aligner(job, "en" if task == "translate" else language)
                # Without wav2vec2, keep whisper's own timing: sentence pieces from its timestamp tokens, and
                # (when words are asked for) word timings from its cross-attention.
                whisper_words = options.align_output and aligner is None
                segments = self._transcribe(asr, job, language, task, timestamps=aligner is None,
                                            words=whisper_words)
                segments = self._align(job, segments, aligner)
                turns = None
                if diarization is not None:
                    turns, segments = self._finish_diarization(job, diarization, segments, language)
                translation = translated_segments(self, asr, job, language, task, segments)
            except BaseException:
                if diarization is not None:  # the next job must not start beside a diarization still running
                    progress.stop()
                    with contextlib.suppress(BaseException):
                        diarization()
                raise
        if not segments:
            job.warnings.append(no_speech_warning(decoded.duration_s))
        result = Result(
            segments=segments_from_whisperx(segments),
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
        ).with_speakers_in_order()
        timings["total"] = round(time.perf_counter() - started, 3)
        progress.update("write", 1.0)
        logger.info("job done: %.1fs audio in %.2fs (%s)", decoded.duration_s, timings["total"],
                    ", ".join(f"{k}={v}" for k, v in timings.items()))
        return dataclasses.replace(result, timings=timings)

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
        saved = (pipeline.options, dict(pipeline._vad_params), pipeline.suppress_numerals)
        pipeline.options = dataclasses.replace(_asr_options(pipeline.options, options),
                                               without_timestamps=not timestamps, word_timestamps=words)
        pipeline._vad_params = {**pipeline._vad_params, "vad_onset": options.vad_onset,
                                "vad_offset": options.vad_offset}
        pipeline.suppress_numerals = options.suppress_numerals
        streaming = contextlib.nullcontext()
        if job.on_segments is not None and stage == "transcribe":  # a translation pass is not streamed
            streaming = ChunkStream(pipeline, job.on_segments, chunk_size=options.chunk_size).attached()
        try:
            with streaming:
                segments = self._run_asr(pipeline, job, job.audio, language, task,
                                         job.progress.stage_callback(stage))
        finally:
            pipeline.options, pipeline._vad_params, pipeline.suppress_numerals = saved
        job.progress.update(stage, 1.0)
        job.timings[stage] = round(time.perf_counter() - started, 3)
        return split_timed_segments(segments)

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
        return list(aligned["segments"])

    # ---- diarization -------------------------------------------------------------------------
    def _diarization_pipeline(self, job: _Job) -> Any | None:
        """The job's diarization pipeline (an installed name only, never a path), or None: not asked for, or not
        available (a warning says why)."""
        if not job.options.diarization:
            return None
        chosen = job.options.diarization_model
        installed = self.registry.available_diarization_models()
        if chosen is not None and chosen not in installed:
            raise InvalidInput(f"diarization_model={chosen!r} is not installed; installed: "
                               f"{', '.join(installed) or 'none'}", field="diarization_model")
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

    def _finish_diarization(self, job: _Job, diarization: Callable[[], Diarization], segments: list[dict],
                            language: str) -> tuple[tuple[SpeakerTurn, ...], list[dict]]:
        """Label every word with its speaker, then split segments where the speaker changes, so the transcript
        keeps the turns diarization found (not one label per sentence)."""
        found = diarization()
        started = time.perf_counter()
        segments = split_at_speaker_changes(assign_word_speakers(segments, found.exclusive),
                                            joiner=word_joiner(language))
        job.timings["assign"] = round(time.perf_counter() - started, 3)
        return found.turns, segments

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


def _word_method(options: TranscribeOptions, aligner: Any, segments: list[dict]) -> str | None:
    """Which method timed the words: "wav2vec2", "whisper", or None (not asked for, or nothing was said)."""
    if not options.align_output or not any(segment.get("words") for segment in segments):
        return None
    return "wav2vec2" if aligner is not None else "whisper"


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
