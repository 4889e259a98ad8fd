"""Running an API request as a job on the process's one engine: the queue limit shared with the web page, the
upload and known speakers decoded in a per-job directory, and a job cancelled when its client goes away.

One queue for both front ends: the engine runs one job at a time (its run lock), and `SharedQueue` counts every
job waiting for it — the page's jobs still in Gradio's queue, API jobs admitted but not yet in the engine, and
jobs in the engine waiting for the running one — against one limit, for the API (429) and the page (Gradio's
"queue is full") alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from core.errors import Cancelled
from core.media.decode import decode_audio
from core.media.fetch import Limits, fetch_source, job_directory
from core.service import Service
from core.transcript.result import Result, SegmentsCallback
from openai_api.errors import ApiError, ClientGone
from openai_api.form import ApiRequest

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 30  # what a refused client is told to wait (Retry-After)
DISCONNECT_POLL_S = 0.25  # how often a waiting request checks that its client is still there


class Ticket:
    """An admitted API job's place in the shared queue until the engine takes it (then the engine counts it)."""

    def __init__(self, queue: SharedQueue) -> None:
        self._queue = queue
        self._held = True

    def release(self) -> None:
        with self._queue.lock:
            if self._held:
                self._held = False
                self._queue.reserved -= 1


class SharedQueue:
    """The one limit on waiting jobs, over the page's queue and the API's (see the module's docstring)."""

    def __init__(self, service: Service, max_size: int, page_waiting: Callable[[], int] = lambda: 0) -> None:
        self.service = service
        self.max_size = max_size
        self.page_waiting = page_waiting
        self.reserved = 0
        self.lock = threading.Lock()

    def waiting(self) -> int:
        running_or_waiting = self.service.jobs_in_progress
        return self.page_waiting() + self.reserved + max(running_or_waiting - 1, 0)

    def full(self) -> bool:
        return self.waiting() >= self.max_size

    def admit(self) -> Ticket:
        with self.lock:
            if self.full():
                raise ApiError(429, f"the queue is full ({self.max_size} jobs waiting, web page and API together); "
                               f"retry in {RETRY_AFTER_S} s", code="queue_full", kind="rate_limit_error",
                               headers={"Retry-After": str(RETRY_AFTER_S)})
            self.reserved += 1
        return Ticket(self)

    def guard(self, gradio_queue: Any) -> None:
        """Make the page's queue refuse a job when API jobs fill the shared limit, with Gradio's own "queue is
        full" answer (it checks only its own length). Wraps `Queue.push`, whose reply shape is Gradio's."""
        push = gradio_queue.push

        async def shared_push(body: Any, request: Any, username: Any) -> Any:
            if self.full():
                return False, f"Queue is full. Max size is {self.max_size} and size is {self.waiting()}.", "queue_full"
            return await push(body, request, username)

        gradio_queue.push = shared_push


@dataclasses.dataclass
class Job:
    """One request's run: its cancel switch and, for streams, where finished segments go."""

    request: ApiRequest
    ticket: Ticket
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    on_segments: SegmentsCallback | None = None
    # Done once the upload and the known speakers are decoded: a stream answers 200 only after that, so bad
    # media is still a plain 400.
    decoded: concurrent.futures.Future = dataclasses.field(default_factory=concurrent.futures.Future)


def run(service: Service, job: Job) -> tuple[Result, dict[str, str]]:
    """In a worker thread: decode the upload and the known speakers (errors name `file` and
    `known_speaker_references[i]`), transcribe, name the speakers. Files live in the job's own directory."""
    settings, request = service.settings, job.request
    started = time.perf_counter()
    try:
        with job_directory() as directory:
            path = directory / ("upload" + _suffix(request.upload.filename))
            request.upload.file.seek(0)
            with path.open("wb") as target:
                shutil.copyfileobj(request.upload.file, target)
            audio = decode_audio(path, max_bytes=settings.max_upload_bytes, max_seconds=settings.max_audio_seconds,
                                 label="file")
            clips = _known_voices(request, directory, settings.max_upload_bytes)
            job.decoded.set_result(None)

            def progress(_stage: str, _fraction: float) -> None:
                # The engine counts a job from its first progress event on (before it waits for the running
                # job): the ticket goes then, or a job waiting in the engine would be counted twice.
                job.ticket.release()

            result = service.transcribe(audio, request.options, on_progress=progress, cancel=job.cancel,
                                        on_segments=job.on_segments)
            names, warnings = service.name_speakers(
                result, audio.samples, clips, token=request.options.huggingface_access_token,
                diarization_model=request.options.diarization_model)
    finally:
        job.ticket.release()
        request.upload.file.close()  # the job owns the upload from admission on (a spooled temporary file)
    logger.info("openai %s: %.1f s of audio, %s, in %.2f s", request.options.task, result.duration,
                request.response_format, time.perf_counter() - started)
    if warnings:
        logger.info("openai job warnings: %d", len(warnings))
    return dataclasses.replace(result, warnings=(*result.warnings, *warnings)), names


def _known_voices(request: ApiRequest, directory: Any, max_bytes: int) -> dict[str, list]:
    clips: dict[str, list] = {}
    for index, (name, reference) in enumerate(request.speakers):
        field = f"known_speaker_references[{index}]"
        media = fetch_source(field, reference, directory, Limits(max_bytes=max_bytes), accept=("data",),
                             stem=f"speaker-{index}", hint="; give a data URL (data:audio/wav;base64,...)")
        clips[name] = [decode_audio(media.path, max_bytes=max_bytes, label=field).samples]
    return clips


def _suffix(filename: str | None) -> str:
    """The upload's extension when it is a plain one (ffmpeg reads by content anyway)."""
    suffix = "." + (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


async def decoded(job: Job, future: asyncio.Future) -> None:
    """Wait until the job has decoded its media, or has failed doing so (then raise its error)."""
    await asyncio.wait({asyncio.wrap_future(job.decoded), future}, return_when=asyncio.FIRST_COMPLETED)
    if not job.decoded.done():
        future.result()


async def until_done(request: Request, future: asyncio.Future, job: Job) -> Any:
    """Wait for the job's thread; if the client disconnects meanwhile, cancel the job (the engine stops at its
    next step), wait for it to stop, and raise `ClientGone`."""
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=DISCONNECT_POLL_S)
            if done:
                return future.result()
            if await request.is_disconnected():
                abandon(job, future)
                await asyncio.wait({future})
                raise ClientGone
    except asyncio.CancelledError:
        job.cancel.set()
        raise


def abandon(job: Job, future: asyncio.Future) -> None:
    """The client left: cancel its job (the engine stops at its next step) and log how it ended."""
    job.cancel.set()

    def outcome(done: asyncio.Future) -> None:
        error = None if done.cancelled() else done.exception()
        ended = "stopped" if isinstance(error, Cancelled) else "had finished" if error is None else type(error).__name__
        logger.info("openai client disconnected: job cancelled (%s)", ended)

    future.add_done_callback(outcome)


def start(service: Service, job: Job, executor: concurrent.futures.Executor) -> asyncio.Future:
    return asyncio.get_running_loop().run_in_executor(executor, run, service, job)

