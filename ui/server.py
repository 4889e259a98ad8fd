"""Gradio entry points: `create_demo()` (no model loads; for `app.py`'s lazy `demo`) and `serve()`.

The engine is created on first use and shared by every event, so models load once per process: at start-up
when `PRELOAD=1`, otherwise on the first job.
"""

from __future__ import annotations

import logging
import threading

import gradio as gr

from core import Settings
from core.pipeline import Engine
from ui.layout import build_demo

logger = logging.getLogger(__name__)

QUEUE_MAX_SIZE = 32  # waiting jobs beyond this are refused with Gradio's "queue is full" message
DEFAULT_CONCURRENCY = 1  # one GPU-bound job at a time; the engine serialises jobs anyway


class LazyEngine:
    """Creates the `Engine` on first call (the registry, not the models), once, thread-safely."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine


def create_demo(settings: Settings | None = None, engine_provider: LazyEngine | None = None) -> gr.Blocks:
    """The page with its queue configured; loads no model."""
    settings = settings or Settings.from_env()
    demo = build_demo(engine_provider or LazyEngine(settings), settings)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    return demo


def serve(settings: Settings) -> None:
    """Preload the default models when asked, then serve until stopped (blocks)."""
    engine = LazyEngine(settings)
    demo = create_demo(settings, engine)
    if settings.preload:
        logger.info("preloaded: %s", ", ".join(engine().registry.preload()))
    logger.info("serving the UI on %s:%d", settings.server_name, settings.server_port)
    demo.launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        auth=list(settings.ui_auth) or None,
        auth_message="Sign in to use the transcription service." if settings.ui_auth else None,
        max_file_size=f"{settings.max_upload_mb}mb",
        show_error=False,
        theme=gr.themes.Soft(),
    )
