"""Entry point of the image, every mode: `APP_MODE=ui` (default) serves the Gradio app with the OpenAI-compatible
API on the same port, `api` that API alone (a RunPod load-balancing endpoint), `runpod` the RunPod worker.

    python app.py                                          # Gradio (+ /v1) on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT
    APP_MODE=api python app.py                             # the OpenAI-compatible API on PORT (/ping on PORT_HEALTH)
    APP_MODE=runpod python app.py                          # RunPod Serverless worker
    APP_MODE=runpod python app.py --test_input "$(cat test_input.json)"   # RunPod's own flags pass through

Importing this module starts nothing and loads no model; `demo` (for Hugging Face Spaces and `gradio app.py`)
is built on first access. The chosen adapter is imported only once the mode is known.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from core import Settings, WorkerError
from core.logs import configure_logging
from core.service import Service, shared
from core.settings import APP_MODES

logger = logging.getLogger("app")


def check_mode(mode: str) -> None:
    if mode not in APP_MODES:
        raise WorkerError(f"APP_MODE={mode!r} is not valid; use one of: {', '.join(APP_MODES)}")


def run(service: Service) -> None:
    """Hand over to the adapter for the service's `app_mode` (each blocks until the server stops)."""
    if service.settings.app_mode == "runpod":
        import rp_handler

        rp_handler.start(service)  # RunPod reads its own flags (--test_input, --rp_serve_api, ...) from sys.argv
    elif service.settings.app_mode == "api":
        from openai_api.server import serve as serve_api

        serve_api(service)
    else:
        from openai_api.errors import PAGE_EXCEPTION_HANDLERS
        from openai_api.server import gradio_routes
        from ui.server import serve

        serve(service, routes=lambda demo: gradio_routes(demo, service), exception_handlers=PAGE_EXCEPTION_HANDLERS)


def main() -> int:
    configure_logging()
    try:
        settings = Settings.from_env()
        check_mode(settings.app_mode)
        service = shared(settings)
        service.log_startup()
        run(service)
    except WorkerError as error:
        logger.error("%s", error.message)
        return 2
    return 0


def __getattr__(name: str) -> Any:
    """Lazy `demo` for Hugging Face Spaces / `gradio app.py`: built on first access, then cached."""
    if name != "demo":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    configure_logging()
    from ui.server import create_demo

    demo = create_demo(shared())
    globals()["demo"] = demo
    return demo


if __name__ == "__main__":
    sys.exit(main())
