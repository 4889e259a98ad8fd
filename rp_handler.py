"""RunPod Serverless worker on the shared engine, drop-in for both common workers' clients.

`handler(job)`: validate the whole input → fetch the audio into a per-job directory → `core` → `Result.to_dict()`,
with errors mapped to `{"error": ...}` in one place (`handle`). Models load in `start()`, before the worker takes
jobs, so the first job is warm; importing this module loads nothing.

    python rp_handler.py                                   # on RunPod
    python rp_handler.py --rp_serve_api --rp_api_port 8000 # local test server (POST /runsync)
    python rp_handler.py --test_input "$(cat test_input.json)"
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core import InvalidInput, TranscribeOptions, WorkerError
from core.formats import response
from core.logs import configure_logging
from core.media_source import AUDIO_FIELDS, Limits, MediaFile, fetch_source, job_directory
from core.options import accepted_keys
from core.service import Service, shared

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 15 * 1024 * 1024  # RunPod refuses results over ~20 MB; stay clear of it
PROGRESS_INTERVAL_S = 0.5
TOKEN_FIELD = "huggingface_access_token"
LOCAL_FLAGS = ("--rp_serve_api", "--test_input")  # runpod's own CLI flags for running without RunPod

ProgressSink = Callable[[Mapping[str, Any], str], None]

_service: Service | None = None


# ---- start-up -------------------------------------------------------------------------------------
def get_service() -> Service:
    """The process's service (`core.service.shared`, the one `app.py` started when it runs this mode)."""
    return _service or shared()


# ---- the handler ----------------------------------------------------------------------------------
def handler(job: Mapping[str, Any]) -> dict[str, Any]:
    """RunPod entry point: one job in, the result (or `{"error": ...}`) out; never raises."""
    return handle(job)


def handle(job: Mapping[str, Any], service: Service | None = None, *,
           sink: ProgressSink | None = None) -> dict[str, Any]:
    """The one place errors become `{"error": ...}`; the worker keeps serving after any job."""
    try:
        return fit_result(run_job(job, service or get_service(), sink or _progress_sink))
    except WorkerError as error:
        return {"error": error.message}
    except Exception as error:  # any other exception is a bug: report it short, log it in full
        logger.exception("job %s failed", _job_id(job))
        return {"error": f"internal error: {type(error).__name__}: {_short(error)}"}


def run_job(job: Mapping[str, Any], service: Service, sink: ProgressSink) -> dict[str, Any]:
    """Validate everything, then fetch the audio and transcribe; the job's files vanish with its directory."""
    field, source, options = parse_input(job.get("input") if isinstance(job, Mapping) else None)
    service.check_model(options.model)  # an unknown model is refused before anything is downloaded
    settings = service.settings
    limits = Limits(max_bytes=settings.max_upload_bytes, allow_private=settings.allow_private_urls)
    progress = ProgressReporter(job, sink)
    with job_directory() as directory:
        progress("fetch", 0.0)
        media: MediaFile = fetch_source(field, source, directory, limits)
        result = service.engine.transcribe(media.path, options, on_progress=progress)
    return response(result, options, uri=Path(media.name).stem)


def parse_input(payload: Any) -> tuple[str, str, TranscribeOptions]:
    """`job["input"]` → (audio field, its value, options); every refusal names the field and what is accepted."""
    if not isinstance(payload, Mapping):
        raise InvalidInput('input must be a JSON object, e.g. {"input": {"audio": "https://…/talk.mp3"}}')
    accepted = accepted_keys() | set(AUDIO_FIELDS)
    for key in payload:
        if key not in accepted:
            raise InvalidInput(f"unknown field {key!r}; accepted: {', '.join(sorted(accepted))}", field=key)
    sources = [key for key in AUDIO_FIELDS if payload.get(key) not in (None, "")]
    if len(sources) != 1:
        given = f"got {len(sources)} ({', '.join(sources)})" if sources else "got none"
        raise InvalidInput(f"exactly one audio source is required: one of {', '.join(AUDIO_FIELDS)}; {given}",
                           field=sources[1] if len(sources) > 1 else "audio")
    field = sources[0]
    if not isinstance(payload[field], str):
        raise InvalidInput(f"{field} must be a string (URL, data: URI or base64), got {type(payload[field]).__name__}",
                           field=field)
    token = payload.get(TOKEN_FIELD)
    if token is not None and not isinstance(token, str):  # checked here so no message can echo the token
        raise InvalidInput(f"{TOKEN_FIELD} must be a string", field=TOKEN_FIELD)
    options = TranscribeOptions.from_mapping({k: v for k, v in payload.items() if k not in AUDIO_FIELDS})
    return field, payload[field], options


# ---- result size --------------------------------------------------------------------------------
def fit_result(result: dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    """Keep the JSON under RunPod's result limit: drop word lists, then the largest `outputs`, and say so."""
    limit = MAX_RESULT_BYTES if limit is None else limit
    if _json_size(result) <= limit:
        return result
    result = dict(result)
    dropped: list[str] = []
    if any(segment.get("words") for segment in result.get("segments", ())):
        result["segments"] = [{**segment, "words": []} for segment in result["segments"]]
        dropped.append("per-word timestamps (segments[].words)")
    outputs = dict(result.get("outputs") or {})
    for name in sorted(outputs, key=lambda key: len(outputs[key]), reverse=True):
        if _json_size(result) <= limit:
            break
        del outputs[name]
        result["outputs"] = dict(outputs)
        dropped.append(f"outputs.{name}")
    for key in ("diarization", "transcription", "segments"):
        if _json_size(result) <= limit:
            break
        if result.get(key):
            result[key] = [] if key != "transcription" else ""
            dropped.append(key)
    megabytes = limit / 2**20
    result["warnings"] = [*result.get("warnings", ()),
                          f"the result exceeded the {megabytes:.1f} MB response limit; dropped: {', '.join(dropped)}"]
    return result


def _json_size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False).encode("utf-8"))


# ---- progress ------------------------------------------------------------------------------------
class ProgressReporter:
    """Forwards engine progress to RunPod at most every PROGRESS_INTERVAL_S, and at once on a new stage."""

    def __init__(self, job: Mapping[str, Any], sink: ProgressSink, *,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self._job, self._sink, self._clock, self._interval_s = job, sink, clock, interval_s
        self._stage: str | None = None
        self._last_sent = float("-inf")

    def __call__(self, stage: str, fraction: float) -> None:
        now = self._clock()
        if stage == self._stage and now - self._last_sent < self._interval_s:
            return
        self._stage, self._last_sent = stage, now
        try:
            self._sink(self._job, f"{stage} {round(fraction * 100)}%")
        except Exception:  # progress is best effort: it must never fail the job
            logger.warning("progress update failed", exc_info=True)


def log_progress(job: Mapping[str, Any], message: str) -> None:
    """Local runs (test server, --test_input) have no RunPod API to report to: log instead."""
    logger.info("job %s progress: %s", _job_id(job), message)


def runpod_progress(job: Mapping[str, Any], message: str) -> None:
    import runpod

    runpod.serverless.progress_update(dict(job), message)


_progress_sink: ProgressSink = log_progress


# ---- entry point ---------------------------------------------------------------------------------
def start(service: Service | None = None, argv: list[str] | None = None) -> None:
    """Check and load models, then hand over to RunPod (which reads its own flags, e.g. --rp_serve_api, from
    sys.argv)."""
    global _progress_sink, _service
    configure_logging()
    argv = sys.argv if argv is None else argv
    local = any(arg.split("=", 1)[0] in LOCAL_FLAGS for arg in argv[1:])
    _progress_sink = log_progress if local else runpod_progress
    try:
        _service = service or shared()
        _service.start()
    except WorkerError as error:
        logger.error("worker cannot start: %s", error.message)
        raise SystemExit(1) from None
    import runpod

    runpod.serverless.start({"handler": handler})


def _job_id(job: Any) -> str:
    return str(job.get("id", "?")) if isinstance(job, Mapping) else "?"


def _short(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else "(no message)"


if __name__ == "__main__":
    start()
