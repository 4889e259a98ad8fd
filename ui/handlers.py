"""What the page's events do, as small functions of values (no layout here).

The page runs a batch (`Handlers.run_batch`, a generator: one card per file or link, Stop between stages); the
`/transcribe` API runs one file. Both go through `run_job`. Errors reach the user in one place
(`ui.errors.user_errors`). Transcript corrections are `ui.editor`'s, on the panel these handlers draw; a file's
item in the state (names, history, recording) is `ui.items`'s.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from core import ProgressCallback, Result, TranscribeOptions, WorkerError
from core.errors import Cancelled, InvalidInput, finished_part
from core.media.fetch import Limits, job_directory
from core.service import Service
from core.transcript.formats import Layout, render, response
from core.transcript.result import Segment, SegmentsCallback
from ui import batch
from ui.cards import render_cards
from ui.controls import ControlSpec, to_options
from ui.errors import error_toast, on_screen, user_errors
from ui.items import (
    changed,
    file_url,
    has_result,
    merge_offer,
    new_item,
    renamed,
    set_speaker_name,
    shown_names,
    speaker_choices,
)
from ui.live import LiveJob, render_live
from ui.progress import ProgressLine, gradio_progress
from ui.render import format_time, render_empty, render_view

logger = logging.getLogger(__name__)

SESSION_TTL_S = 6 * 3600
WORKING_TEXT = "Working… the transcript of the first finished file appears here."
SPEAKER_OPTIONS = ("num_speakers", "min_speakers", "max_speakers")
PANEL_SIZE = 8  # (state, cards, pick, view, files, zip, json, speaker)


def named(name: str, message: str) -> str:
    """`message` about the file `name`, naming it once (most refusals of a file already start with its name)."""
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def pick_audio(upload: str | None, recording: str | None) -> str:
    """The uploaded file wins over a recording; neither is a user error."""
    path = upload or recording
    if not path:
        raise InvalidInput("Upload an audio or video file, or record from the microphone, first.", field="audio")
    return str(path)


def run_job(service: Service, audio_path: str, values: Mapping[str, Any] | TranscribeOptions,
            on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
            on_segments: SegmentsCallback | None = None) -> tuple[Result, TranscribeOptions]:
    """The one transcription path of the UI and the API: widget values → options → the service's engine."""
    options = values if isinstance(values, TranscribeOptions) else to_options(values)
    logger.info("job: %s, options %s", _describe_file(audio_path), _loggable(options.to_mapping()))
    result = service.transcribe(audio_path, options, on_progress=on_progress, cancel=cancel, on_segments=on_segments)
    return result, options


USER_TEXT_OPTIONS = ("initial_prompt", "hotwords")  # the user's own words (names, terms): never logged as they are


def _loggable(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Options for the log: text the user typed is given by its length only."""
    return {key: (f"<{len(value)} characters>" if key in USER_TEXT_OPTIONS and isinstance(value, str) else value)
            for key, value in mapping.items()}


def _describe_file(path: str) -> str:
    """Size and type, not the name: a file name is the user's content too."""
    file = Path(path)
    size = file.stat().st_size if file.is_file() else 0
    return f"{file.suffix or 'no suffix'} file of {size} bytes"


@dataclasses.dataclass
class DownloadStore:
    """Per-session folders of download files (and fetched links' media, so the player can play them); a new
    batch replaces the session's old files, and folders of sessions idle longer than `ttl_s` are removed."""

    root: Path
    ttl_s: float = SESSION_TTL_S

    def job_dir(self, session: str | None) -> Path:
        session_dir = self.root / _safe_name(session or "anonymous")
        self._prune(session_dir)
        target = session_dir / uuid.uuid4().hex[:12]
        target.mkdir(parents=True)
        return target

    def side_dir(self, session: str | None, kind: str) -> Path:
        """A fresh folder for a download beside the transcript's (a voice library export): the session's
        transcript files stay; only its earlier `kind` folders go."""
        session_dir = self.root / _safe_name(session or "anonymous")
        if session_dir.is_dir():
            for old in session_dir.glob(f"{kind}-*"):
                shutil.rmtree(old, ignore_errors=True)
        target = session_dir / f"{kind}-{uuid.uuid4().hex[:12]}"
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


def queue_note(ahead: int) -> str:
    """Where a new batch stands when Transcribe is pressed (one job runs at a time)."""
    if not ahead:
        return "Starting…"
    if ahead == 1:
        return "In the queue: 1 job ahead of yours; yours starts when it finishes."
    return f"In the queue: {ahead} jobs ahead of yours; yours starts when they finish."


class Handlers:
    """Event functions bound to the service, the download folder and the stop requests; `ui.layout` wires them."""

    def __init__(self, service: Service, downloads: DownloadStore, labels: Mapping[str, str] | None = None) -> None:
        self.service = service
        self.downloads = downloads
        self.labels = dict(labels or {})
        self.stops = batch.Stops()

    @property
    def limits(self) -> Limits:
        """The RunPod worker's limits for fetched links (ALLOW_PRIVATE_URLS is the tests' loopback switch)."""
        settings = self.service.settings
        return Limits(max_bytes=settings.max_upload_bytes, allow_private=settings.allow_private_urls,
                      total_timeout_s=settings.download_timeout_s)

    # ---- Transcribe and Stop -----------------------------------------------------------------
    def arm(self, session: str | None, uploads: Any = None, links: str | None = None, recording: str | None = None,
            values: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
        """Runs at the click, before the job is queued: a stop request can reach it from now on, and the
        previous batch's transcript and downloads leave the screen at once (never shown under a new name). A
        queued job's view says so (Gradio's strip has nothing to say until the job starts). Inputs that will be
        refused (nothing to transcribe, an option mistyped) leave the shown transcript and its corrections as
        they are: the job that follows says what is wrong."""
        if values is not None:
            try:
                self._inputs(uploads, links, recording, values)
            except WorkerError:  # the job that follows says what is wrong (and logs it)
                return self.unchanged()
        ahead = self.stops.armed()
        self.stops.arm(session)
        return self.cleared(queue_note(ahead), queue_note(ahead) if ahead else WORKING_TEXT)

    def cleared(self, note: str, view_text: str = WORKING_TEXT, field: str | None = None) -> tuple[Any, ...]:
        """(state, cards, pick, view, files, zip, json, speaker) with nothing from an earlier batch."""
        return (None, render_cards([], note, field), gr.update(choices=[], value=None, visible=False),
                render_empty(view_text), gr.update(value=None, visible=False), gr.update(value=None, visible=False),
                None,
                gr.update(choices=[], value=None, interactive=False))

    def stop(self, session: str | None) -> str:
        stopped = self.stops.stop(session)
        return "Stopping at the next step…" if stopped else "Nothing is running."

    def run_batch(self, uploads: Any, links: str | None, recording: str | None, values: Mapping[str, Any],
                  session: str | None, progress: Any) -> Iterator[tuple[Any, ...]]:
        """Every file and link in turn, one card each; yields the panel after each step. A failed file does not
        stop the others; Stop ends the running one at its next step and skips the rest. The progress strip,
        blanked by Gradio at each update of the panel, shows its last text again at once."""
        line = ProgressLine(progress)
        panels = self._batch(uploads, links, recording, values, session, line)
        try:
            for panel in panels:
                yield panel
                line.again()
        finally:
            panels.close()

    def _batch(self, uploads: Any, links: str | None, recording: str | None, values: Mapping[str, Any],
               session: str | None, line: ProgressLine) -> Iterator[tuple[Any, ...]]:
        cancel = self.stops.latest(session)
        try:
            try:
                options, sources = self._inputs(uploads, links, recording, values)
            except WorkerError as refusal:  # a toast and the note (marking the field); the shown transcript stays
                logger.info("request refused: %s (field %s)", type(refusal).__name__, refusal.field or "-")
                message = on_screen(refusal.message, self.labels)
                error_toast(message)
                cards = render_cards([], message, refusal.field)
                yield (gr.skip(), cards, *(gr.skip() for _ in range(PANEL_SIZE - 2)))
                return
            state = {"items": [new_item(source) for source in sources], "current": None,
                     "dir": str(self.downloads.job_dir(session)), "zip": None}
            yield self.panel(state, session)
            total = len(sources)
            for index, source in enumerate(sources):
                item = state["items"][index]
                if cancel.is_set():
                    item["status"] = "stopped"
                    continue
                item["status"] = "running"
                yield self.panel(state, session)
                prefix = f"{source.name} ({index + 1} of {total}): " if total > 1 else f"{source.name}: "
                on_progress = line.for_file(prefix, (index / total, 1 / total))
                for live in self._run_one(state, index, source, options, on_progress, cancel):
                    yield self.panel(state, session, live=live)
                line.clear()
                yield self.panel(state, session)
            yield self.panel(state, session)  # the cards' final states, those skipped by Stop included
            for item in state["items"]:  # failures toast, as errors; notes stay in the view's notes box
                if item["status"] == "error":
                    error_toast(named(item["name"], item["message"]) if total > 1 else item["message"])
        finally:
            self.stops.release(session, cancel)

    @staticmethod
    def _inputs(uploads: Any, links: str | None, recording: str | None,
                values: Mapping[str, Any]) -> tuple[TranscribeOptions, list[batch.Source]]:
        """A batch's options and sources, or the `WorkerError` that refuses it before any file runs (no model, no
        network: cheap enough to ask at the click too)."""
        return to_options(_without_speaker_counts(values)), batch.collect_sources(uploads, links, recording)

    def _run_one(self, state: dict[str, Any], index: int, source: batch.Source, options: TranscribeOptions,
                 on_progress: ProgressCallback, cancel: threading.Event) -> Iterator[tuple[Segment, ...]]:
        """One file; yields the segments finished so far while it runs (`ui/live.py`), then updates its item."""
        item = state["items"][index]
        folder = Path(state["dir"])
        try:
            with user_errors(self.labels):
                try:
                    job = LiveJob(lambda on_segments: self._transcribe_source(
                        source, options, on_progress, cancel, folder, index, on_segments), cancel=cancel)
                    yield from job
                    result, audio = job.result
                except Cancelled:
                    item.update(status="stopped", message="Stopped before it finished.")
                    return
        except gr.Error as error:
            item.update(status="error", message=str(error.message))
            return
        item.update(status="done", result=result.to_dict(), options=options.to_mapping(),
                    audio_url=file_url(audio) if audio else None)
        if result.partial:  # stopped: the finished part is kept, shown and downloadable, marked partial
            reached = max((segment.end for segment in result.segments), default=0.0)
            item.update(status="stopped", message=f"Stopped at {format_time(reached)} of "
                                                  f"{format_time(result.duration)}: the finished part is shown "
                                                  "(partial).")
        if state["current"] is None:
            state["current"] = index
        self.write_item(state, index)

    def _transcribe_source(self, source: batch.Source, options: TranscribeOptions, on_progress: ProgressCallback,
                           cancel: threading.Event, folder: Path, index: int,
                           on_segments: SegmentsCallback | None = None) -> tuple[Result, str | None]:
        """(result, audio file to play). A link is fetched into a job directory that is removed whatever
        happens; only a finished job's media is kept (in the session's folder) for the player."""
        if source.saved:
            return batch.load_saved(source.saved), source.path
        if source.path:
            return finished_part(lambda: run_job(self.service, source.path, options, on_progress, cancel,
                                                 on_segments)[0]), source.path
        self.service.check_model(options.model)  # refused before anything is downloaded, as on RunPod
        with job_directory() as directory:
            on_progress("fetch", 0.0)
            if cancel.is_set():
                raise Cancelled()
            media = batch.fetch_link(str(source.url), directory, self.limits, cancel)
            result = finished_part(lambda: run_job(self.service, str(media.path), options, on_progress, cancel,
                                                   on_segments)[0])
            kept = folder / f"media-{index}" / f"{batch.unique_stems([media.name])[0]}{media.path.suffix}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(media.path, kept)
        return result, str(kept)

    def write_item(self, state: dict[str, Any], index: int) -> None:
        """(Re)write one item's downloads into a fresh folder, then the batch's zip of every finished file."""
        item = state["items"][index]
        stems = batch.unique_stems(i["name"] for i in state["items"])
        for old in item["files"][:1]:
            shutil.rmtree(Path(old).parent, ignore_errors=True)
        folder = Path(state["dir"]) / f"out-{index}-{uuid.uuid4().hex[:6]}"
        options = TranscribeOptions.from_mapping(item["options"])
        item["files"] = write_downloads(renamed(item), options, stems[index], folder)
        done = [(stems[i], other["files"]) for i, other in enumerate(state["items"]) if has_result(other)]
        state["zip"] = str(batch.write_zip(Path(state["dir"]) / "transcripts.zip", done))

    def panel(self, state: Mapping[str, Any], session: str | None,
              live: Sequence[Segment] | None = None) -> tuple[Any, ...]:
        """(state, cards, pick, view, files, zip, json, speaker) for one state; `live`: the running file's
        segments so far, shown until a finished transcript is."""
        items = state["items"]
        done = [(item["name"], str(index)) for index, item in enumerate(items) if has_result(item)]
        current = state["current"]
        pick = gr.update(choices=done, value=str(current) if current is not None else None, visible=len(done) > 1)
        zip_update = gr.update(value=state.get("zip"), visible=bool(state.get("zip")))
        cards = render_cards(items)
        if current is None:
            running = any(item["status"] in ("waiting", "running") for item in items)
            view = (render_live(live) if live else
                    render_empty(WORKING_TEXT if running else "No transcript: see the messages above."))
            return (dict(state), cards, pick, view, gr.update(value=None, visible=False), zip_update, None,
                    gr.update(choices=[], value=None, interactive=False))
        item = items[current]
        result = renamed(item)
        options = TranscribeOptions.from_mapping(item["options"])
        choices = speaker_choices(item)
        dropdown = gr.update(choices=choices, value=state.get("speaker") if state.get("speaker") in
                             [label for _, label in choices] else (choices[0][1] if choices else None),
                             interactive=bool(choices))
        payload = response(result, options, uri=Path(item["files"][0]).stem if item["files"] else None)
        files = gr.update(value=list(item["files"]), visible=True)
        view = render_view(result, item.get("audio_url"), self.labels)
        return (dict(state), cards, pick, view, files, zip_update, payload, dropdown)

    def check_idle(self, session: str | None) -> None:
        """Corrections wait for this session's running batch: it rewrites the page's state and downloads as each
        file finishes, so an edit made meanwhile would be lost, or remove files the batch still zips."""
        if self.stops.busy(session):
            raise InvalidInput("A transcription is running: correct the transcript once it has finished (or Stop "
                               "it).", field="speaker")

    @staticmethod
    def unchanged(extra: int = 0) -> tuple[Any, ...]:
        """What a refused event answers: the panel (and `extra` outputs after it) left as they are."""
        return tuple(gr.skip() for _ in range(PANEL_SIZE + extra))

    # ---- show another file, rename -----------------------------------------------------------
    def show(self, state: Mapping[str, Any] | None, choice: str | None, session: str | None) -> tuple[Any, ...]:
        index = int(choice) if choice is not None and str(choice).isdigit() else -1
        if not state or not 0 <= index < len(state["items"]) or not has_result(state["items"][index]):
            gr.Warning("That file has no transcript.")
            return self.unchanged()
        return self.panel({**state, "current": index, "speaker": None}, session)

    def rename(self, state: Mapping[str, Any] | None, label: str | None, name: str | None,
               session: str | None) -> tuple[Any, ...]:
        """(panel…, name box, merge button). A refused name is a toast and changes nothing (a raised error would
        cover the whole panel); a name another speaker shows offers to merge the two instead (`merge_offer`)."""
        try:
            if not state or state.get("current") is None:
                raise InvalidInput("Transcribe a file first, then rename its speakers.", field="speaker")
            self.check_idle(session)
            items = [dict(item) for item in state["items"]]
            index = state["current"]
            offer = merge_offer(items[index], label, name)
            if offer is not None:
                shown = dict(zip(items[index]["result"]["speakers"], shown_names(items[index]), strict=True))
                pending = {**state, "merge": [shown[offer[0]], shown[offer[1]]]}
                return (pending, *self.unchanged(),
                        gr.update(visible=True, value=f"Merge “{shown[offer[0]]}” into “{shown[offer[1]]}”"))
            items[index] = changed(items[index], names=set_speaker_name(items[index], label, name)["names"])
        except InvalidInput as refusal:
            gr.Warning(refusal.message, title="Cannot rename")
            return self.unchanged(extra=2)
        new_state = {**state, "items": items, "speaker": label, "merge": None}
        with user_errors():
            self.write_item(new_state, index)
        return (*self.panel(new_state, session), "", gr.update(visible="hidden"))  # see layout.py's `merge`

    # ---- API ---------------------------------------------------------------------------------
    def transcribe_api(self, audio: str | None, values: Mapping[str, Any], progress: Any) -> dict[str, Any]:
        """`/transcribe`: the job's response object (docs/result.md), the same as the RunPod worker's output."""
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


def _without_speaker_counts(values: Mapping[str, Any]) -> dict[str, Any]:
    """With diarization off the speaker-count boxes are disabled on the page; whatever they still hold is not
    sent (it would be ignored, or refused for a combination the user cannot see)."""
    if values.get("diarization"):
        return dict(values)
    return {name: ("" if name in SPEAKER_OPTIONS else value) for name, value in values.items()}


def _signature(specs: Sequence[ControlSpec]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("audio", kind)]
    params += [inspect.Parameter(spec.name, kind, default=spec.api_default) for spec in specs]
    params.append(inspect.Parameter("progress", kind, default=gr.Progress()))
    return inspect.Signature(params)
