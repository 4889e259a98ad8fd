"""Gradio entry points: `create_demo()` (no model loads; for `app.py`'s lazy `demo`) and `serve()`.

Every event uses the process's one `core.service.Service`, so models load once per process: at start-up when
`PRELOAD=1`, otherwise on the first job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from core import Settings
from core.service import Service, shared
from core.settings import DEFAULT_MAX_QUEUE
from ui.layout import PAGE_CSS, build_demo, theme

logger = logging.getLogger(__name__)

QUEUE_MAX_SIZE = DEFAULT_MAX_QUEUE  # waiting jobs beyond MAX_QUEUE are refused with Gradio's "queue is full"
DEFAULT_CONCURRENCY = 1  # one GPU-bound job at a time; the engine serialises jobs anyway


def create_demo(service: Service | Settings | None = None) -> gr.Blocks:
    """The page with its queue configured; loads no model. Takes the process's service (or settings to make one)."""
    if not isinstance(service, Service):
        service = Service(service) if service is not None else shared()
    demo = build_demo(service)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=service.settings.max_queue)
    return demo


def serve(service: Service, *, routes: Callable[[gr.Blocks], Sequence[Any]] | None = None) -> None:
    """Check and preload the default models (as every front end does), then serve until stopped (blocks).
    `routes(demo)` gives further HTTP routes for the same server (app.py: the OpenAI-compatible API), made once
    the page's queue exists and added to Gradio's FastAPI app as it is created."""
    settings = service.settings
    demo = create_demo(service)
    extra = list(routes(demo)) if routes is not None else []
    service.start()
    logger.info("serving the UI on %s:%d", settings.server_name, settings.server_port)
    demo.launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        auth=list(settings.ui_auth) or None,
        auth_message="Sign in to use the transcription service." if settings.ui_auth else None,
        max_file_size=f"{settings.max_upload_mb}mb",
        show_error=False,
        theme=theme(),
        css=PAGE_CSS,
        app_kwargs={"routes": extra} if extra else None,
    )
