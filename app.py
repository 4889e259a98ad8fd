"""Entry point of the image, both modes: `APP_MODE=ui` (default) serves the Gradio app, `runpod` the RunPod worker.

    python app.py                                          # Gradio on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT
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
from core.config import APP_MODES

logger = logging.getLogger("app")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """The one place logging is configured (adapters' own `basicConfig` calls then do nothing)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)


def check_mode(mode: str) -> None:
    if mode not in APP_MODES:
        raise WorkerError(f"APP_MODE={mode!r} is not valid; use one of: {', '.join(APP_MODES)}")


def log_startup(settings: Settings) -> None:
    """Mode, hardware and what MODELS_DIR holds, so a misbuilt image shows in the first lines of the log."""
    from core.models_dir import MANIFEST_NAME, Manifest
    from core.registry import resolve_compute_type, resolve_device

    device = resolve_device(settings.device)
    compute_type = resolve_compute_type(settings.compute_type, device)
    logger.info("APP_MODE=%s device=%s compute_type=%s MODELS_DIR=%s", settings.app_mode, device, compute_type,
                settings.models_dir)
    manifest = Manifest.load(settings.models_dir)
    if not (settings.models_dir / MANIFEST_NAME).is_file():
        logger.warning("no %s in MODELS_DIR=%s: build one with `python -m builder --models-dir %s`",
                       MANIFEST_NAME, settings.models_dir, settings.models_dir)
        return
    logger.info("models (profile %s): asr=%s alignment=%s diarization=%s defaults=%s", manifest.profile or "?",
                _names(manifest.asr), _names(manifest.alignment), _names(manifest.diarization),
                dict(manifest.defaults))


def _names(entries: Any) -> str:
    return ",".join(entries) or "none"


def run(settings: Settings) -> None:
    """Hand over to the adapter for `settings.app_mode` (each blocks until the server stops)."""
    if settings.app_mode == "runpod":
        import rp_handler

        rp_handler.start()  # RunPod reads its own flags (--test_input, --rp_serve_api, ...) from sys.argv
    else:
        from ui.server import serve

        serve(settings)


def main() -> int:
    configure_logging()
    try:
        settings = Settings.from_env()
        check_mode(settings.app_mode)
        log_startup(settings)
    except WorkerError as error:
        logger.error("%s", error.message)
        return 2
    run(settings)
    return 0


def __getattr__(name: str) -> Any:
    """Lazy `demo` for Hugging Face Spaces / `gradio app.py`: built on first access, then cached."""
    if name != "demo":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    configure_logging()
    from ui.server import create_demo

    demo = create_demo()
    globals()["demo"] = demo
    return demo


if __name__ == "__main__":
    sys.exit(main())
