"""RunPod Serverless worker on the shared engine, drop-in for both common workers' clients.

`handler(job)`: validate the whole input (`rp_worker.inputs`) → fetch the audio (and any speaker samples) into a
per-job directory → decode → `core` → the response both peers' clients read (`rp_worker.outputs`), with errors
mapped to `{"error": ...}` in one place (`handle`). Models load in `start()`, before the worker takes jobs, so
the first job is warm; importing this module loads nothing.

    python rp_handler.py                                   # on RunPod
    python rp_handler.py --rp_serve_api --rp_api_port 8000 # local test server (POST /runsync)
    python rp_handler.py --test_input "$(cat test_input.json)"
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from core import WorkerError
from core.errors import check_cancelled, finished_part
from core.logs import configure_logging
from core.media.decode import decode_audio
from core.media.fetch import Limits, MediaFile, fetch_source, job_directory
from core.service import Service, shared
from core.transcript.result import Segment, SegmentsCallback
from rp_worker.inputs import AUDIO_FIELDS, AUDIO_HINTS, parse_input
from rp_worker.outputs import runpod_output
from rp_worker.progress import OrderedSender, ProgressReporter, ProgressSink, log_progress, runpod_progress
from rp_worker.speakers import fetch_samples, name_speakers, remember_samples, request_warnings

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 15 * 1024 * 1024  # RunPod refuses results over ~20 MB; stay clear of it
LOCAL_FLAGS = ("--rp_serve_api", "--test_input")  # runpod's own CLI flags for running without RunPod
# The SDK logs every handler output (transcripts) at DEBUG, its default level: never below INFO here.
SDK_LOG_LEVEL = "INFO"
_QUIET_ENOUGH = ("INFO", "WARN", "ERROR")

_service: Service | None = None
_progress_sink: ProgressSink = log_progress


# ---- start-up -------------------------------------------------------------------------------------
def get_service() -> Service:
    """The process's service (`core.service.shared`, the one `app.py` started when it runs this mode)."""
    return _service or shared()


# ---- the handler ----------------------------------------------------------------------------------
async def handler(job: Mapping[str, Any]) -> dict[str, Any]:
    """RunPod entry point: one job in, the result (or `{"error": ...}`) out; never raises. The job runs in a thread,
    so the worker's event loop stays free for RunPod's heartbeats and stop signals. A stopped job (the SDK cancels
    this coroutine: a `/cancel`, the endpoint's execution timeout) ends at its next step and returns what it had
    finished, marked `"partial": true` with a warning saying up to where."""
    cancel = threading.Event()
    running = asyncio.get_running_loop().run_in_executor(None, lambda: handle(job, cancel=cancel))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        cancel.set()
        logger.info("job %s stopped: returning what was finished", _job_id(job))
        return await asyncio.shield(running)


async def stream_handler(job: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """RunPod generator entry point (`RUNPOD_STREAM=1`): finished segments while the job runs, then the result.
    An async generator that waits for each item off the event loop, so the worker's loop stays free for RunPod's
    heartbeats and stop signals (the SDK iterates a plain generator on its loop); a stopped or abandoned stream
    stops the job at its next step."""
    run = _StreamedJob(job)
    try:
        while not isinstance(item := await asyncio.to_thread(run.items.get), _Final):
            yield item
        yield item.output
    finally:
        run.cancel.set()
        await asyncio.to_thread(run.worker.join)


class _StreamedJob:
    """One job running in its own thread, its finished segments and then its result (`_Final`) in `items`."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        self.items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.cancel = threading.Event()

        def on_segments(segments: Sequence[Segment]) -> None:
            self.items.put({"partial": True, "segments": [segment.to_dict() for segment in segments]})

        def run() -> None:
            self.items.put(_Final(handle(job, on_segments=on_segments, cancel=self.cancel)))

        self.worker = threading.Thread(target=run, name=f"job-{_job_id(job)}", daemon=True)
        self.worker.start()


@dataclasses.dataclass(frozen=True)
class _Final:
    output: dict[str, Any]


def handle(job: Mapping[str, Any], service: Service | None = None, *, sink: ProgressSink | None = None,
           on_segments: SegmentsCallback | None = None, cancel: threading.Event | None = None) -> dict[str, Any]:
    """The one place errors become `{"error": ...}`; the worker keeps serving after any job. Progress goes out
    in order and is closed before the result is returned, so no update arrives after it."""
    sender = OrderedSender(sink or _progress_sink)
    started, outcome = time.perf_counter(), "failed"
    try:
        output = fit_result(run_job(job, service or get_service(), ProgressReporter(job, sender),
                                    on_segments=on_segments, cancel=cancel))
        outcome = "stopped, partial result" if output.get("partial") else "done"
        return output
    except WorkerError as error:
        outcome = f"refused ({type(error).__name__}, field {error.field or '-'})"  # the message may quote input
        return {"error": error.message}
    except Exception as error:  # any other exception is a bug: report it short, log it in full
        logger.exception("job %s failed", _job_id(job))
        return {"error": f"internal error: {type(error).__name__}: {_short(error)}"}
    finally:
        sender.close()
        logger.info("job %s %s in %.2fs", _job_id(job), outcome, time.perf_counter() - started)


def run_job(job: Mapping[str, Any], service: Service, progress: ProgressReporter, *,
            on_segments: SegmentsCallback | None = None,
            cancel: threading.Event | None = None) -> dict[str, Any]:
    """Validate everything, then fetch and transcribe; the job's files vanish with its directory."""
    request = parse_input(job.get("input") if isinstance(job, Mapping) else None)
    # Only installed models, by any spelling, and refused before anything is downloaded.
    options = dataclasses.replace(request.options, model=service.check_model(request.options.model))
    service.check_options(options)  # the language for that model, the diarization model: before any download
    settings = service.settings
    limits = Limits(max_bytes=settings.max_upload_bytes, allow_private=settings.allow_private_urls,
                    total_timeout_s=settings.download_timeout_s)
    timings: dict[str, float] = {}
    with job_directory() as directory:
        progress("fetch", 0.0)
        began = time.perf_counter()
        media: MediaFile = fetch_source(request.field, request.source, directory, limits,
                                        accept=AUDIO_FIELDS[request.field], hint=AUDIO_HINTS.get(request.field, ""),
                                        cancel=cancel)
        timings["fetch"], began = _since(began)
        check_cancelled(cancel)
        audio = decode_audio(media.path, max_bytes=settings.max_upload_bytes, max_seconds=settings.max_audio_seconds,
                             label=request.field)
        timings["decode"], began = _since(began)
        samples = fetch_samples(request, directory, limits, settings.max_audio_seconds, cancel)  # before the long part
        check_cancelled(cancel)
        remember_samples(service, request, samples)  # into the voice library, so this job recognises them too
        if samples:
            timings["speaker_samples"], _ = _since(began)
        result = finished_part(lambda: service.transcribe(audio, options, on_progress=progress,
                                                          on_segments=on_segments, cancel=cancel))
        began = time.perf_counter()
        names, speaker_warnings = name_speakers(service, request, result, audio, samples)
        if samples:
            timings["speaker_verification"], _ = _since(began)
    result = dataclasses.replace(
        result, timings={**result.timings, **timings},
        warnings=(*result.warnings, *request_warnings(request), *speaker_warnings))
    return runpod_output(result, options, uri=Path(media.name).stem, names=names)


# ---- result size --------------------------------------------------------------------------------
def fit_result(result: dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    """Keep the JSON under RunPod's result limit: drop word lists, then the largest `outputs`, and say so."""
    limit = MAX_RESULT_BYTES if limit is None else limit
    if _json_size(result) <= limit:
        return result
    result = dict(result)
    dropped: list[str] = []
    if any(segment.get("words") for segment in result.get("segments", ())) or result.get("word_timestamps"):
        result["segments"] = [{**segment, "words": []} for segment in result.get("segments", ())]
        result.pop("word_timestamps", None)
        dropped.append("per-word timestamps (segments[].words, word_timestamps)")
    outputs = dict(result.get("outputs") or {})
    for name in sorted(outputs, key=lambda key: len(outputs[key]), reverse=True):
        if _json_size(result) <= limit:
            break
        del outputs[name]
        result["outputs"] = dict(outputs)
        dropped.append(f"outputs.{name}")
    for key in ("translation_segments", "diarization", "transcription", "translation", "segments"):
        if _json_size(result) <= limit:
            break
        if result.get(key):
            result[key] = "" if key in ("transcription", "translation") else []
            dropped.append(key)
    megabytes = limit / 2**20
    result["warnings"] = [*result.get("warnings", ()),
                          f"the result exceeded the {megabytes:.1f} MB response limit; dropped: {', '.join(dropped)}"]
    return result


def _json_size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False).encode("utf-8"))


# ---- entry point ---------------------------------------------------------------------------------
def quiet_sdk_logs(environ: dict[str, str] | None = None) -> str:
    """Set the SDK's log level (read once, when `runpod` is imported) to INFO unless it is already INFO or
    quieter: at DEBUG it logs every handler output, i.e. the transcripts. Returns the level in force."""
    environ = os.environ if environ is None else environ
    level = (environ.get("RUNPOD_LOG_LEVEL") or environ.get("RUNPOD_DEBUG_LEVEL") or "").strip().upper()
    if level not in _QUIET_ENOUGH:
        level = SDK_LOG_LEVEL
    environ["RUNPOD_LOG_LEVEL"] = environ["RUNPOD_DEBUG_LEVEL"] = level
    return level


def start(service: Service | None = None, argv: list[str] | None = None) -> None:
    """Check and load models, then hand over to RunPod (which reads its own flags, e.g. --rp_serve_api, from
    sys.argv)."""
    global _progress_sink, _service
    configure_logging()
    quiet_sdk_logs()
    argv = sys.argv if argv is None else argv
    _force_sdk_log_level(argv)
    local = any(arg.split("=", 1)[0] in LOCAL_FLAGS for arg in argv[1:])
    _progress_sink = log_progress if local else runpod_progress
    try:
        _service = service or shared()
        _service.start()
    except WorkerError as error:
        logger.error("worker cannot start: %s", error.message)
        raise SystemExit(1) from None
    import runpod

    if _service.settings.runpod_stream:  # `/stream` gives finished segments; `/run`, `/runsync` the aggregate
        runpod.serverless.start({"handler": stream_handler, "return_aggregate_stream": True})
    else:
        runpod.serverless.start({"handler": handler})


def _force_sdk_log_level(argv: list[str]) -> None:
    """`--rp_log_level DEBUG` would undo `quiet_sdk_logs`: raise it to INFO in place."""
    for index, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name != "--rp_log_level":
            continue
        if value and value.upper() not in _QUIET_ENOUGH:
            argv[index] = f"--rp_log_level={SDK_LOG_LEVEL}"
        elif not value and index + 1 < len(argv) and argv[index + 1].upper() not in _QUIET_ENOUGH:
            argv[index + 1] = SDK_LOG_LEVEL


def _since(began: float) -> tuple[float, float]:
    """(seconds since `began`, rounded; now): for stage timings measured one after another."""
    now = time.perf_counter()
    return round(now - began, 3), now


def _job_id(job: Any) -> str:
    return str(job.get("id", "?")) if isinstance(job, Mapping) else "?"


def _short(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else "(no message)"


if __name__ == "__main__":
    start()
