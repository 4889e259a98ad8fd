"""Gradio entry points: `create_demo()` (no model loads; for `app.py`'s lazy `demo`) and `serve()`.

Every event uses the process's one `core.service.Service`, so models load once per process: at start-up when
`PRELOAD=1`, otherwise on the first job. With `UI_AUTH` the login covers the whole port: Gradio checks it on its
own routes, `openai_api.auth` on the API's, and the few Gradio routes that answer without it and that this page
never calls are refused before Gradio sees them (`UNUSED_GRADIO_ROUTES`; tests/test_route_auth.py requests every
route and lists what stays public, and why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core import Settings
from core.service import Service, shared
from core.settings import DEFAULT_MAX_QUEUE, is_loopback
from ui.layout import PAGE_CSS, build_demo, theme

logger = logging.getLogger(__name__)

QUEUE_MAX_SIZE = DEFAULT_MAX_QUEUE  # waiting jobs beyond MAX_QUEUE are refused with Gradio's "queue is full"
QUEUE_POLL_S = 0.05  # how often Gradio's queue looks for a new event (its own pace on Windows); see quiet_when_idle
PROGRESS_POLL_S = 0.1  # how often it sends a running job's progress
DEFAULT_CONCURRENCY = 1  # one GPU-bound job at a time; the engine serialises jobs anyway
# Gradio routes (path prefixes) that answer without its login and that this page never calls: its monitoring
# summary (per-event counts and timings), deep links, custom components' files, media streams, the vibe editor.
UNUSED_GRADIO_ROUTES = ("/monitoring/summary", "/gradio_api/deep_link", "/gradio_api/custom_component/",
                        "/gradio_api/stream/", "/gradio_api/vibe-", "/gradio_api/undo-vibe-edit")


def create_demo(service: Service | Settings | None = None) -> gr.Blocks:
    """The page with its queue configured; loads no model. Takes the process's service (or settings to make one)."""
    if not isinstance(service, Service):
        service = Service(service) if service is not None else shared()
    demo = build_demo(service)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=service.settings.max_queue)
    quiet_when_idle(demo)
    return demo


def quiet_when_idle(demo: gr.Blocks) -> None:
    """Gradio's queue looks for new events every millisecond and for progress every 10 ms, whether or not
    anything is queued: an idle server spent 3–6 % of a core on it. Its own Windows pace (50 ms, 100 ms) costs a
    job at most 50 ms to start and keeps progress at ten updates a second, which the page shows no faster."""
    queue = demo._queue
    queue.sleep_when_free = max(queue.sleep_when_free, QUEUE_POLL_S)
    queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, PROGRESS_POLL_S)


def serve(service: Service, *, routes: Callable[[gr.Blocks], Sequence[Any]] | None = None,
          exception_handlers: dict[Any, Any] | None = None) -> None:
    """Check and preload the default models (as every front end does), then serve until stopped (blocks).
    `routes(demo)` gives further HTTP routes for the same server (app.py: the OpenAI-compatible API), made once
    the page's queue exists and added to Gradio's FastAPI app as it is created, with `exception_handlers` for
    them."""
    settings = service.settings
    demo = create_demo(service)
    extra = list(routes(demo)) if routes is not None else []
    service.start()
    logger.info("serving the UI on %s:%d", settings.server_name, settings.server_port)
    if not settings.ui_auth and not is_loopback(settings.server_name):  # API_KEYS guard /v1 only, not the page
        logger.warning("the web page and its Gradio API are open to anyone who can reach %s: set UI_AUTH to "
                       "require a sign-in", settings.server_name)
    demo.launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        auth=list(settings.ui_auth) or None,
        auth_message="Sign in to use the transcription service." if settings.ui_auth else None,
        max_file_size=f"{settings.max_upload_mb}mb",
        show_error=False,
        theme=theme(),
        css=PAGE_CSS,
        # FastAPI's own schema (`/openapi.json`) would list every route to anyone; Gradio's API description is
        # at /gradio_api/info, behind the login
        app_kwargs={"routes": extra, "openapi_url": None, "exception_handlers": dict(exception_handlers or {}),
                    "middleware": [Middleware(Unserved, prefixes=UNUSED_GRADIO_ROUTES)]},
    )


class Unserved:
    """Refuses (403) HTTP requests whose path starts with one of `prefixes`, before the app sees them."""

    def __init__(self, app: ASGIApp, prefixes: Sequence[str]) -> None:
        self.app, self.prefixes = app, tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        if scope["type"] == "http" and path.removeprefix(root).startswith(self.prefixes):
            await PlainTextResponse("not served by this app", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
