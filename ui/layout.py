"""The page: components built from `ControlSpec`s, then events wired by keyword (no logic here).

Building the page asks the service which models are installed but loads no model.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from core import Settings
from core.languages import supported_languages
from core.service import Service
from ui.controls import ADVANCED_GROUPS, ControlSpec, control_specs
from ui.handlers import SESSION_TTL_S, DownloadStore, Handlers
from ui.render import SEEK_JS, VIEW_CSS, render_view

logger = logging.getLogger(__name__)

GPU_CONCURRENCY_ID = "gpu"
TITLE = "WhisperX: transcribe, align, diarize"
INTRO = (
    "Upload an audio or video file (or record from the microphone) and press **Transcribe**. "
    "Click a turn, a word or a timeline bar to play from there; rename speakers below the transcript."
)
# Output options that fine-tune subtitles go with the advanced ones; the format choice stays visible.
ADVANCED_OUTPUT_OPTIONS = frozenset({"max_line_width", "max_line_count", "highlight_words"})
# What the upload box accepts: Gradio's audio/video MIME groups plus containers they miss that ffmpeg reads.
MEDIA_FILE_TYPES = ["audio", "video", ".mka", ".caf", ".ts", ".mts"]


def build_demo(service: Service) -> gr.Blocks:
    """The whole page; the service is asked only which models are installed (no model loads)."""
    settings = service.settings
    specs = control_specs(service.models(), service.default_model, supported_languages())
    downloads = DownloadStore(Path(tempfile.gettempdir()) / "whisperx-ui-downloads")
    handlers = Handlers(service, downloads)
    with gr.Blocks(title="WhisperX", delete_cache=(3600, SESSION_TTL_S)) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=340):
                upload, recording = _sources(settings)
                controls = _controls(specs)
                transcribe = gr.Button("Transcribe", variant="primary", elem_id="wx-transcribe")
            with gr.Column(scale=7, min_width=400):
                panel = _results_panel()
        _wire(handlers, upload, recording, controls, transcribe, panel)
        _wire_api(handlers, specs, panel["api_result"])
    return demo


def _sources(settings: Settings) -> tuple[gr.File, gr.Audio]:
    with gr.Tabs():
        with gr.Tab("Upload file"):
            upload = gr.File(label=f"Audio or video file (up to {settings.max_upload_mb} MB)",
                             file_types=MEDIA_FILE_TYPES, type="filepath", elem_id="wx-upload")
        with gr.Tab("Record"):
            recording = gr.Audio(sources=["microphone"], type="filepath", label="Microphone", elem_id="wx-record")
    return upload, recording


def _controls(specs: list[ControlSpec]) -> dict[str, gr.components.Component]:
    """Every option's widget, keyed by option name, in field order (the API's parameter order)."""
    by_group: dict[str, list[ControlSpec]] = {}
    for spec in specs:
        advanced = spec.group in ADVANCED_GROUPS or spec.name in ADVANCED_OUTPUT_OPTIONS
        by_group.setdefault("advanced" if advanced else spec.group, []).append(spec)
    built: dict[str, gr.components.Component] = {}
    with gr.Group():
        _rows(by_group.get("basic", []), built, per_row=2)
        speakers = by_group.get("speakers", [])
        _rows([s for s in speakers if s.kind == "checkbox"], built, per_row=1)
        _rows([s for s in speakers if s.kind != "checkbox"], built, per_row=3, compact=True)
        _rows(by_group.get("output", []), built, per_row=1)
    with gr.Accordion("Advanced: subtitles, decoding, VAD", open=False):
        _rows(by_group.get("advanced", []), built, per_row=2)
    return {spec.name: built[spec.name] for spec in specs}


def _rows(specs: list[ControlSpec], built: dict[str, gr.components.Component], *, per_row: int,
          compact: bool = False) -> None:
    for start in range(0, len(specs), per_row):
        with gr.Row():
            for spec in specs[start:start + per_row]:
                built[spec.name] = _component(spec, compact=compact)


def _component(spec: ControlSpec, *, compact: bool = False) -> gr.components.Component:
    common: dict[str, Any] = {"label": spec.label, "info": None if compact else spec.info,
                              "elem_id": f"wx-opt-{spec.name}"}
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices or ()), value=spec.value, min_width=160, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(value=spec.value, **common)
    if spec.kind == "checkboxgroup":
        return gr.CheckboxGroup(choices=list(spec.choices or ()), value=spec.value, **common)
    if spec.kind == "slider":
        return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=spec.step, value=spec.value, **common)
    if spec.kind == "number":
        return gr.Textbox(value=spec.value, placeholder=_range_hint(spec), min_width=90, **common)
    return gr.Textbox(value=spec.value, lines=1, placeholder="optional", **common)


def _range_hint(spec: ControlSpec) -> str:
    """Placeholder of an optional number: empty means the engine's default."""
    if spec.minimum is None or spec.maximum is None:
        return "default"
    return f"default ({spec.minimum:g}–{spec.maximum:g})"


def _results_panel() -> dict[str, Any]:
    view = gr.HTML(render_view(None), js_on_load=SEEK_JS, css_template=VIEW_CSS, elem_id="wx-view",
                   min_height=120, padding=True, container=True)
    with gr.Row(equal_height=True):
        speaker = gr.Dropdown(label="Speaker", choices=[], interactive=False, elem_id="wx-speaker", scale=2)
        name = gr.Textbox(label="New name", placeholder="e.g. Alice", elem_id="wx-speaker-name", scale=3)
        rename = gr.Button("Rename", elem_id="wx-rename", scale=1)
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="wx-downloads")
    with gr.Accordion("Result JSON", open=False):
        result_json = gr.JSON(elem_id="wx-json")
    return {"view": view, "speaker": speaker, "name": name, "rename": rename, "files": files,
            "json": result_json, "state": gr.State(None), "api_result": gr.JSON(visible=False, label="result")}


def _wire(handlers: Handlers, upload: gr.File, recording: gr.Audio,
          controls: dict[str, gr.components.Component], transcribe: gr.Button, panel: dict[str, Any]) -> None:
    names = list(controls)
    shown = [panel["state"], panel["view"], panel["files"], panel["json"], panel["speaker"]]

    def on_transcribe(data: dict, request: gr.Request, progress=gr.Progress()) -> tuple:  # noqa: B008
        values = {name: data[controls[name]] for name in names}
        state, outputs = handlers.transcribe_view(data[upload], data[recording], values, request.session_hash,
                                                  progress)
        return (state, *outputs)

    def on_rename(state: dict | None, label: str | None, new_name: str | None, request: gr.Request) -> tuple:
        new_state, outputs = handlers.rename(state, label, new_name, request.session_hash)
        return (new_state, *outputs, "")

    transcribe.click(fn=on_transcribe, inputs={upload, recording, *controls.values()}, outputs=shown,
                     api_visibility="private", concurrency_id=GPU_CONCURRENCY_ID, show_progress_on=[panel["view"]])
    rename_inputs = [panel["state"], panel["speaker"], panel["name"]]
    for trigger in (panel["rename"].click, panel["name"].submit):
        trigger(fn=on_rename, inputs=rename_inputs, outputs=[*shown, panel["name"]], api_visibility="private")
    recording.stop_recording(fn=lambda: None, outputs=[upload], api_visibility="private", queue=False)


def _wire_api(handlers: Handlers, specs: list[ControlSpec], result: gr.JSON) -> None:
    """`/transcribe` on hidden inputs of its own: the file box takes any file and the options take any value, so
    `core` (not Gradio's widget checks) judges them and every refusal names its field; numbers are numbers and
    unset options are None, as in `TranscribeOptions`."""
    with gr.Column(visible=False):
        audio = gr.File(label="audio", type="filepath")
        inputs = [_api_component(spec) for spec in specs]
    trigger = gr.Button(visible=False)
    trigger.click(fn=handlers.api_function(specs), inputs=[audio, *inputs], outputs=[result], api_name="transcribe",
                  concurrency_id=GPU_CONCURRENCY_ID)


def _api_component(spec: ControlSpec) -> gr.components.Component:
    common: dict[str, Any] = {"label": spec.name, "value": spec.api_default}
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices or ()), allow_custom_value=True, **common)
    if spec.kind == "checkboxgroup":
        return gr.Dropdown(choices=list(spec.choices or ()), multiselect=True, allow_custom_value=True, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(**common)
    if spec.kind in ("slider", "number"):
        return gr.Number(**common)
    return gr.Textbox(**common)
