"""Serving the API: on the web app's Gradio server (`gradio_routes`, `APP_MODE=ui`: same port, same engine, one
queue with the page) or alone (`serve`, `APP_MODE=api`: the API on `PORT`, RunPod load balancing's `/ping` on
`PORT_HEALTH` too, answering 204 until the models are loaded). Both modes guard the API with the same policy
(`openai_api.auth.Access`), decided here once from the settings and stated in the start-up log."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from core.errors import WorkerError
from core.service import Service
from openai_api.auth import Access, log_access
from openai_api.errors import API_EXCEPTION_HANDLERS
from openai_api.jobs import SharedQueue
from openai_api.routes import SpeechApi, create_routers, ping

logger = logging.getLogger(__name__)


def gradio_routes(demo: Any, service: Service) -> list[BaseRoute]:
    """The API's routes for a Gradio app whose queue is configured (`demo.queue(...)` called): its jobs and the
    page's count against the page's queue limit together (`SharedQueue`). Pass them as
    `launch(app_kwargs={"routes": ...})`."""
    gradio_queue = demo._queue  # Gradio's queue object: its length and `push` are what its own routes use
    queue = SharedQueue(service, gradio_queue.max_size or service.settings.max_queue,
                        page_waiting=lambda: len(gradio_queue))
    queue.guard(gradio_queue)
    access = Access.from_settings(service.settings, page_session=lambda connection: _page_user(demo, connection))
    log_access(access, service.settings.server_name)
    return [route for router in create_routers(SpeechApi(service, queue), access) for route in router.routes]


def _page_user(demo: Any, connection: HTTPConnection) -> str | None:
    """The page user signed in with this connection's cookies, looked up as Gradio's own routes do (its login
    sets `access-token-<cookie_id>`, or the `-unsecure-` one over plain HTTP, to a token it keeps)."""
    app = getattr(demo, "server_app", None)
    if app is None or not getattr(app, "tokens", None):
        return None
    cookies = connection.cookies
    token = cookies.get(f"access-token-{app.cookie_id}") or cookies.get(f"access-token-unsecure-{app.cookie_id}")
    return app.tokens.get(token) if token else None


def create_app(service: Service, ready: threading.Event, access: Access | None = None) -> FastAPI:
    """The API alone; unknown paths and methods get OpenAI's error object too. `access`: the policy (default:
    decided from the service's settings)."""
    app = FastAPI(title="whisperx-worker OpenAI-compatible API", docs_url=None, redoc_url=None, openapi_url=None,
                  exception_handlers=dict(API_EXCEPTION_HANDLERS))
    api = SpeechApi(service, SharedQueue(service, service.settings.max_queue), ready=ready)
    for router in create_routers(api, access or Access.from_settings(service.settings)):
        app.include_router(router)

    return app


def serve(service: Service) -> None:
    """`APP_MODE=api`: bind at once (so RunPod sees 204 while loading), load the models, then answer 200 on
    `/ping`; a start-up failure ends the process. Blocks until stopped."""
    import uvicorn

    settings = service.settings
    service.check_default_model()  # a misbuilt image fails here, before binding
    ready = threading.Event()
    access = Access.from_settings(settings)
    app = create_app(service, ready, access)
    servers = [uvicorn.Server(uvicorn.Config(app, host=settings.server_name, port=settings.port, log_level="warning",
                                             access_log=False))]
    if settings.port_health not in (None, settings.port):
        health = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        health.add_api_route("/ping", ping(ready), methods=["GET"])
        servers.append(uvicorn.Server(uvicorn.Config(health, host=settings.server_name, port=settings.port_health,
                                                     log_level="warning", access_log=False)))
    log_access(access, settings.server_name)
    logger.info("serving the OpenAI-compatible API on %s:%d (health: port %d)", settings.server_name, settings.port,
                settings.port_health or settings.port)
    asyncio.run(_run(service, servers, ready))


async def _run(service: Service, servers: list[Any], ready: threading.Event) -> None:
    failed = threading.Event()

    async def load() -> None:
        try:
            await asyncio.to_thread(service.start)
        except WorkerError as error:
            logger.error("cannot start: %s", error.message)
            failed.set()
            for server in servers:
                server.should_exit = True
            return
        ready.set()
        logger.info("ready: /ping answers 200")

    loading = asyncio.ensure_future(load())
    await asyncio.gather(*(server.serve() for server in servers))
    loading.cancel()
    if failed.is_set():
        raise SystemExit(1)
