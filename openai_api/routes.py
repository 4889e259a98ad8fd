"""The endpoints: `POST /v1/audio/transcriptions`, `POST /v1/audio/translations`, `GET /v1/models` (and one
model), `WebSocket /v1/realtime` (live transcription sessions: `openai_api/realtime.py`) and `GET /health` on the
guarded router, whose dependency checks the caller (`openai_api.auth`) before any handler runs or any WebSocket
is accepted; `GET /ping` (readiness, nothing else) alone on the public one. Every refusal is OpenAI's error
object (`openai_api.errors`), made in one place (`OpenAIRoute`) and decided in the order a client can act on
it: credentials (401), loading (503), size (413), fields (400), model (404), queue (429)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from core.errors import WorkerError
from core.service import Service
from core.transcript.result import Segment
from openai_api import jobs, responses
from openai_api.auth import Access
from openai_api.errors import ApiError, ClientGone, from_worker_error
from openai_api.form import ApiRequest, parse_request, read_form
from openai_api.jobs import Job, SharedQueue
from openai_api.realtime import realtime

logger = logging.getLogger(__name__)

# OpenAI's transcription model names: each means the default model here (docs/openai-api.md).
OPENAI_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
LOADING_RETRY_AFTER_S = 10


class SpeechApi:
    """What the endpoints share: the service, the queue, and whether the models are loaded."""

    def __init__(self, service: Service, queue: SharedQueue, *, ready: threading.Event | None = None) -> None:
        self.service = service
        self.queue = queue
        self.ready = ready if ready is not None else _set_event()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=queue.max_size + 2,
                                                              thread_name_prefix="openai-job")

    def check_ready(self) -> None:
        if not self.ready.is_set():
            raise ApiError(503, "the models are still loading; retry shortly", kind="server_error",
                           code="model_loading", headers={"Retry-After": str(LOADING_RETRY_AFTER_S)})

    def resolve_model(self, name: str | None) -> str:
        """An installed model by any spelling, or one of OpenAI's names (→ the default); 404 otherwise."""
        if name is None or not name.strip() or _DATED.sub("", name.strip().lower()) in OPENAI_MODELS:
            return self.service.default_model
        try:
            return self.service.resolve_model(name)
        except WorkerError as error:
            raise from_worker_error(error) from None


class OpenAIRoute(APIRoute):
    """The one place refusals become OpenAI's error object, whether a route's dependency (the access check) or
    its handler raised them."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as error:
                return error.response()
            except WorkerError as error:
                return from_worker_error(error).response()
            except ClientGone:
                return Response(status_code=499)
            except (HTTPException, RequestValidationError):
                raise  # the framework's own refusals, answered by the app's handlers
            except Exception as error:  # a bug: short for the client, in full in the log (no request content in it)
                logger.exception("openai request failed")
                return ApiError(500, f"internal error: {type(error).__name__}", kind="server_error",
                                code="internal_error").response()

        return answer


def create_routers(api: SpeechApi, access: Access) -> tuple[APIRouter, APIRouter]:
    """(guarded, public). Every route of the API is on `guarded`, whose dependency runs `access` first, so a route
    added to it later (a WebSocket `/v1/realtime` too) needs no check of its own; `public` holds `/ping` alone,
    which load balancers call without credentials and which says only whether the models are loaded."""
    guarded = APIRouter(dependencies=[Depends(access)], route_class=OpenAIRoute)

    @guarded.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        return await _audio(api, request, "transcribe")

    @guarded.post("/v1/audio/translations")
    async def translations(request: Request) -> Response:
        return await _audio(api, request, "translate")

    @guarded.get("/v1/models")
    async def models() -> Response:
        return JSONResponse({"object": "list", "data": [_model(name) for name in _model_names(api)]})

    @guarded.get("/v1/models/{name:path}")
    async def model(name: str) -> Response:
        if name not in _model_names(api):
            raise ApiError(404, f"model {name[:80]!r} is not installed; GET /v1/models lists them",
                           param="model", code="model_not_found")
        return JSONResponse(_model(name))

    @guarded.get("/health")
    async def health() -> Response:
        ready = api.ready.is_set()
        return JSONResponse({"status": "ok" if ready else "loading", "default_model": api.service.default_model,
                             "queue": {"running": api.service.jobs_in_progress > 0,
                                       "waiting": api.queue.waiting(), "max": api.queue.max_size},
                             "live": {"sessions": api.service.live.sessions, "max": api.service.live.max_sessions}},
                            status_code=200 if ready else 503)

    @guarded.websocket("/v1/realtime")
    async def realtime_session(websocket: WebSocket) -> None:
        await realtime(api, websocket)

    public = APIRouter(route_class=OpenAIRoute)
    public.add_api_route("/ping", ping(api.ready), methods=["GET"])
    return guarded, public


def ping(ready: threading.Event) -> Callable[[], Awaitable[Response]]:
    """RunPod load balancing's health check: 200 when ready, 204 while the models load."""
    async def answer() -> Response:
        return JSONResponse({"status": "healthy"}) if ready.is_set() else Response(status_code=204)

    return answer


async def _audio(api: SpeechApi, request: Request, task: str) -> Response:
    api.check_ready()
    settings = api.service.settings
    form, reader = await read_form(request, settings.max_upload_bytes)
    try:
        parsed = _with_model(api, parse_request(form, task, settings.max_upload_bytes))
        job = Job(parsed, api.queue.admit())
    except BaseException:
        await form.close()
        raise
    # From here the job owns the upload (its thread closes it) and its queue ticket (released when it runs).
    try:
        if parsed.stream:
            return await _stream(api, job)
        result, names = await jobs.until_done(reader, jobs.start(api.service, job, api.executor), job)
    except WorkerError as error:
        raise from_worker_error(error, parsed.fields) from None
    return responses.body(result, parsed, names)


def _with_model(api: SpeechApi, parsed: ApiRequest) -> ApiRequest:
    options = dataclasses.replace(parsed.options, model=api.resolve_model(parsed.options.model))
    return dataclasses.replace(parsed, options=options)


async def _stream(api: SpeechApi, job: Job) -> StreamingResponse:
    """Text deltas as segments finish, then the whole text. Bad media is refused (400) before the stream starts;
    a later error is an `error` event. When the client disconnects, Starlette cancels the generator, and its
    `finally` cancels the job."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[tuple[Segment, ...]] = asyncio.Queue()
    job.on_segments = lambda segments: loop.call_soon_threadsafe(pieces.put_nowait, segments)
    future = jobs.start(api.service, job, api.executor)  # started now, so it runs (and ends) whatever the client does
    await jobs.decoded(job, future)

    async def events() -> AsyncIterator[str]:
        first, sent = True, []
        try:
            while not (future.done() and pieces.empty()):
                getter = asyncio.ensure_future(pieces.get())
                done, _ = await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    continue
                for delta in responses.deltas(getter.result(), first):
                    first = False
                    sent.append(delta)
                    yield responses.delta_event(delta)
            try:
                result, _names = future.result()
            except WorkerError as error:
                yield responses.event({"error": from_worker_error(error, job.request.fields).body()})
                return
            rest = responses.rest_of(result.text, "".join(sent))
            if rest:  # speech found after the deltas (a second look at what the first pass missed), at the end
                yield responses.delta_event(rest)
            yield responses.done_event(result.text)
        finally:
            if not future.done():
                jobs.abandon(job, future)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _model_names(api: SpeechApi) -> list[str]:
    return [*api.service.models(), *OPENAI_MODELS]


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "whisperx-worker"}


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
