"""What the page's events do, as small functions of values (no layout here).

The Transcribe button and the `/transcribe` API share `run_job`; errors reach the user in one place
(`user_errors`): a `WorkerError` as its own message, anything else as a short generic one (logged in full).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import logging
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from core import ProgressCallback, Result, TranscribeOptions, WorkerError
from core.errors import InvalidInput
from core.formats import Layout, render, response
from core.service import Service
from ui.controls import ControlSpec, to_options
from ui.render import render_view

logger = logging.getLogger(__name__)

STAGE_LABELS = {
    "decode": "Decoding audio",
    "transcribe": "Transcribing",
    "align": "Aligning words",
    "diarize": "Identifying speakers",
    "write": "Writing outputs",
}
GENERIC_ERROR = "Something went wrong while processing this file; the details are in the server log."
SESSION_TTL_S = 6 * 3600


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """The UI's one error mapping: readable message, no traceback; the server keeps serving."""
    try:
        yield
    except gr.Error:
        raise
    except WorkerError as error:
        logger.info("request refused: %s", error.message)
        raise gr.Error(error.message, title="Cannot transcribe", print_exception=False) from None
    except Exception:
        logger.exception("unexpected error while handling a request")
        raise gr.Error(GENERIC_ERROR, print_exception=False) from None


def gradio_progress(progress: Any) -> ProgressCallback:
    """Adapt the engine's `(stage, fraction)` events to `gr.Progress`, from whichever thread sends them
    (diarization may run beside ASR on a GPU; gr.Progress finds its event through context variables)."""
    context = contextvars.copy_context()
    lock = threading.Lock()

    def on_progress(stage: str, fraction: float) -> None:
        with lock:
            context.run(progress, fraction, desc=STAGE_LABELS.get(stage, stage))

    return on_progress


def pick_audio(upload: str | None, recording: str | None) -> str:
    """The uploaded file wins over a recording; neither is a user error."""
    path = upload or recording
    if not path:
        raise InvalidInput("Upload an audio or video file, or record from the microphone, first.", field="audio")
    return str(path)


def run_job(service: Service, audio_path: str, values: Mapping[str, Any],
            on_progress: ProgressCallback | None = None) -> tuple[Result, TranscribeOptions]:
    """The one transcription path of the UI and the API: widget values → options → engine."""
    options = to_options(values)
    logger.info("job: %s, options %s", _describe_file(audio_path), options.to_mapping())
    result = service.engine.transcribe(audio_path, options, on_progress=on_progress)
    return result, options


def _describe_file(path: str) -> str:
    """Size and type, not the name: a file name is the user's content too."""
    file = Path(path)
    size = file.stat().st_size if file.is_file() else 0
    return f"{file.suffix or 'no suffix'} file of {size} bytes"


def file_url(path: str) -> str:
    """Gradio serves its upload/cache files at `gradio_api/file=`; relative, so a root path prefix works, and
    percent-encoded, so a name with `#`, `?` or `%` still reaches the file."""
    return f"gradio_api/file={urllib.parse.quote(path)}"


@dataclasses.dataclass
class DownloadStore:
    """Per-session folders of download files; a new job replaces the session's old files, and folders of
    sessions idle longer than `ttl_s` are removed."""

    root: Path
    ttl_s: float = SESSION_TTL_S

    def job_dir(self, session: str | None) -> Path:
        session_dir = self.root / _safe_name(session or "anonymous")
        self._prune(session_dir)
        target = session_dir / uuid.uuid4().hex[:12]
        target.mkdir(parents=True)
        return target

    def _prune(self, session_dir: Path) -> None:
        now = time.time()
        if session_dir.is_dir():
            for old in session_dir.iterdir():
                shutil.rmtree(old, ignore_errors=True)
        if self.root.is_dir():
            for other in self.root.iterdir():
                if other != session_dir and now - other.stat().st_mtime > self.ttl_s:
                    shutil.rmtree(other, ignore_errors=True)


def _safe_name(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum() or ch in "-_")[:64] or "anonymous"


def write_downloads(result: Result, options: TranscribeOptions, stem: str, directory: Path) -> list[str]:
    """`<stem>.json` (the result object) plus one file per other chosen format."""
    directory.mkdir(parents=True, exist_ok=True)
    layout = Layout.of(options, uri=stem)
    formats = ["json", *(fmt for fmt in options.output_formats if fmt != "json")]
    paths = []
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        path.write_text(render(result, fmt, layout), encoding="utf-8")
        paths.append(str(path))
    return paths


def renamed(state: Mapping[str, Any]) -> Result:
    """The session's result with its speaker names applied (the data; every download is rendered from it)."""
    return Result.from_dict(state["result"]).with_speaker_names(state.get("names", {}))


def speaker_choices(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(shown name, original label) for the rename dropdown."""
    names = state.get("names", {})
    labels = state["result"].get("speakers") or []
    return [(names.get(label) or label, label) for label in labels]


def set_speaker_name(state: Mapping[str, Any], label: str | None, name: str | None) -> dict[str, Any]:
    """A new state with `label` shown as `name` (an empty name restores the original label)."""
    if not label or label not in (state["result"].get("speakers") or []):
        raise InvalidInput("Choose a speaker to rename.", field="speaker")
    names = dict(state.get("names", {}))
    cleaned = (name or "").strip()
    if cleaned:
        names[label] = cleaned
    else:
        names.pop(label, None)
    return {**state, "names": names}


class Handlers:
    """Event functions bound to the engine and the download folder; `ui.layout` wires them."""

    def __init__(self, service: Service, downloads: DownloadStore) -> None:
        self.service = service
        self.downloads = downloads

    # ---- Transcribe button -------------------------------------------------------------------
    def transcribe_view(self, upload: str | None, recording: str | None, values: Mapping[str, Any],
                        session: str | None, progress: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """Run a job for the page; returns the new session state and the panel's outputs."""
        with user_errors():
            audio_path = pick_audio(upload, recording)
            progress(0.0, desc="Waiting for the model")
            result, options = run_job(self.service, audio_path, values, gradio_progress(progress))
            state = {"result": result.to_dict(), "options": options.to_mapping(), "names": {},
                     "stem": Path(audio_path).stem, "audio_url": file_url(audio_path)}
            for warning in result.warnings:
                gr.Warning(warning)
            return state, self.present(state, session, result)

    # ---- rename ------------------------------------------------------------------------------
    def rename(self, state: Mapping[str, Any] | None, label: str | None, name: str | None,
               session: str | None) -> tuple[dict[str, Any], tuple[Any, ...]]:
        with user_errors():
            if not state:
                raise InvalidInput("Transcribe a file first, then rename its speakers.", field="speaker")
            new_state = set_speaker_name(state, label, name)
            return new_state, self.present(new_state, session, renamed(new_state), selected=label)

    def present(self, state: Mapping[str, Any], session: str | None, result: Result,
                selected: str | None = None) -> tuple[str, list[str], dict[str, Any], Any]:
        """(view HTML, download paths, result dict, rename dropdown update) for one state; the dropdown keeps
        the speaker just renamed selected, else the first one."""
        options = TranscribeOptions.from_mapping(state["options"])
        files = write_downloads(result, options, state["stem"], self.downloads.job_dir(session))
        choices = speaker_choices(state)
        labels = [label for _, label in choices]
        value = selected if selected in labels else (labels[0] if labels else None)
        dropdown = gr.update(choices=choices, value=value, interactive=bool(choices))
        return (render_view(result, state.get("audio_url")), files, response(result, options, uri=state["stem"]),
                dropdown)

    # ---- API ---------------------------------------------------------------------------------
    def transcribe_api(self, audio: str | None, values: Mapping[str, Any], progress: Any) -> dict[str, Any]:
        """`/transcribe`: the job's response object (README.md, "Result"), the same as the RunPod worker's output."""
        with user_errors():
            if not audio:
                raise InvalidInput("audio: pass a file, e.g. handle_file('talk.wav')", field="audio")
            result, options = run_job(self.service, str(audio), values, gradio_progress(progress))
            return response(result, options, uri=Path(str(audio)).stem)

    def api_function(self, specs: Sequence[ControlSpec]) -> Callable[..., dict[str, Any]]:
        """`transcribe_api` with a signature naming every option and its default, which Gradio turns into the
        endpoint's documented parameters (so `gradio_client` callers may pass them by keyword)."""
        names = [spec.name for spec in specs]

        def transcribe(*args: Any) -> dict[str, Any]:
            audio, values, progress = args[0], dict(zip(names, args[1:-1], strict=True)), args[-1]
            return self.transcribe_api(audio, values, progress)

        transcribe.__signature__ = _signature(specs)  # type: ignore[attr-defined]
        transcribe.__doc__ = "Transcribe (and align / diarize) one audio or video file; returns the result object."
        return transcribe


def _signature(specs: Sequence[ControlSpec]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("audio", kind)]
    params += [inspect.Parameter(spec.name, kind, default=spec.api_default) for spec in specs]
    params.append(inspect.Parameter("progress", kind, default=gr.Progress()))
    return inspect.Signature(params)
