"""The page: components built from `ControlSpec`s, then events wired by keyword (no logic here).

Building the page asks the service which models are installed but loads no model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from core import Settings
from core.service import Service
from ui.controls import ADVANCED_GROUPS, AUTO_LANGUAGE, ControlSpec, control_specs, labels, language_choices
from ui.editor import EDITOR_JS, Editor, realign
from ui.handlers import SESSION_TTL_S, SPEAKER_OPTIONS, DownloadStore, Handlers, user_errors
from ui.live_tab import build_live
from ui.render import SEEK_JS, VIEW_CSS, render_empty
from ui.voices import build_library

logger = logging.getLogger(__name__)

GPU_CONCURRENCY_ID = "gpu"
TITLE = "WhisperX: transcribe, align, diarize"
INTRO = (
    "Add audio or video files (several at once), links, or a recording, and press **Transcribe**. "
    "Search the transcript, click a turn, a word or a timeline bar to play from there, rename speakers below it."
)
# Output options that fine-tune subtitles go with the advanced ones; the format choice stays visible.
ADVANCED_OUTPUT_OPTIONS = frozenset({"max_line_width", "max_line_count", "highlight_words"})
# What the upload box accepts: Gradio's audio/video MIME groups plus containers they miss that ffmpeg reads,
# and a result JSON saved from this page (to read and play it again).
# (Python's `mimetypes`, which Gradio's check uses, knows neither Chrome's recordings, .weba, nor audiobooks, .m4b.)
MEDIA_FILE_TYPES = ["audio", "video", ".mka", ".caf", ".ts", ".mts", ".m2ts", ".weba", ".m4b", ".opus", ".amr",
                    ".3ga", ".ape", ".wv", ".wma", ".spx", ".json"]
# On a narrow screen the cards and progress are below the options: bring them into view when the job starts.
SHOW_PROGRESS_JS = """() => {
  const cards = document.querySelector('#wx-cards');
  if (cards && window.innerWidth < 800) cards.scrollIntoView({block: 'start', behavior: 'smooth'});
}"""
FIELDS_JS = "\n".join((Path(__file__).resolve().parent / name).read_text(encoding="utf-8")
                      for name in ("fields.js", "toasts.js", "dropzone.js"))
# Said for the way the page is used: with a keyboard and a pointer that hovers, or by touch (a phone).
EDIT_HELP = ('<p class="wx-help"><span class="wx-on-keys">Hover or focus a turn to <b>edit its text</b> (E) or '
             "its <b>speaker</b> (S); Ctrl+Z undoes, Ctrl+Shift+Z redoes.</span>"
             '<span class="wx-on-touch">Tap a turn, then <b>Edit text</b> or <b>Speaker</b>; the buttons beside '
             "this undo and redo.</span></p>")
PAGE_CSS = """
.gradio-container { overflow: clip !important; }  /* hidden would stop the player sticking to the window */
#wx-actions { gap: 0.5em; }
#wx-transcribe, #wx-stop { min-height: 44px; }
/* Gradio nests its own upload button inside this icon button once files are listed (nested controls); files
   are still added by dropping them on the box or after Clear */
#wx-upload button[aria-label="common.upload"] { display: none; }
/* Gradio offers "Remove this file" on every listed file, downloads included; removing a download means nothing */
#wx-downloads .label-clear-button { display: none; }
.block-info, [data-testid="block-info"] + span { color: var(--body-text-color); }
.progress-text { color: var(--body-text-color) !important; font-size: var(--text-md) !important; }
/* Gradio's timer estimates a job from the average of unrelated jobs; the card note gives the queue position
   and the progress text this file's own estimate instead */
#wx-view .meta-text, #wx-view .meta-text-center { display: none !important; }
/* while a job runs, Gradio's progress overlay is a strip at the top of the view and the view's own text (the
   "Working…" note, the live transcript) starts below it, never under the bar; a strip with no progress to show
   (a job in the queue: its view says so) is not drawn, and the view's text is not greyed (Gradio dims a busy
   component's content to 1.5:1) */
#wx-view > .wrap:not(.hide) { top: 0 !important; bottom: auto !important; height: 3.75rem !important; }
#wx-view > .wrap:not(.hide):not(:has(.progress-level)) { display: none !important; }
#wx-view:has(> .wrap:not(.hide) .progress-level) > .html-container { padding-top: 3.75rem; }
#wx-view > .html-container { opacity: 1 !important; transition: none !important; }
/* the "Stopping…" note is an output of Transcribe's first step too: Gradio's loading overlay made the empty note
   a scrollable region no key can reach (axe: scrollable-region-focusable); it needs no overlay */
#wx-stop-note > .wrap { display: none !important; }
/* the drop zone's upload icon sits below the box's label chip, not under it */
#wx-upload > button { padding-top: 2.25rem; min-height: 11rem; }
.dark .wx-audio { color-scheme: dark; }  /* the browser's own player follows the page's dark theme */
/* the selected tab's text is the accent colour, 3:1 on the dark background: a lighter shade there (4.5:1) */
.dark #wx-source-tabs button[role=tab][aria-selected=true] { color: var(--primary-300); }
.wx-invalid { box-shadow: inset 0 0 0 3px #dc2626 !important; border-radius: 6px; }  /* inset: the row clips outlines */
/* the correction tools appear with a transcript; the speaker tools with speakers */
#wx-results:not(:has(.wx-transcript)) #wx-edit-row { display: none; }
#wx-results:not(:has(.wx-transcript .wx-speaker)) #wx-speaker-row { display: none; }
#wx-edit-row { align-items: center; }
/* the skip links (ui/fields.js) show while they have the focus: the first at the page's top, the one after
   Transcribe and Stop in its place */
.wx-skip { position: absolute; left: -10000px; top: 0.5rem; z-index: 1000; padding: 0.5em 1em; border-radius: 6px;
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
#wx-skip-top:focus { left: 0.5rem; }
#wx-skip-options:focus { position: static; align-self: flex-start; }
.wx-help { margin: 0; color: var(--body-text-color); }
.wx-on-touch { display: none; }
@media (hover: none) { .wx-on-keys { display: none !important; } .wx-on-touch { display: inline; } }
@media (max-width: 480px) {
  #wx-options .form > div, #wx-options .row > div, #wx-advanced .form > div, #wx-advanced .row > div {
    min-width: 0 !important; flex-basis: 100% !important;
  }
}
"""


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with every text at 4.5:1 contrast or more, light and dark (the axe audit checks)."""
    return gr.themes.Soft().set(
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
        block_info_text_color="*neutral_600", block_info_text_color_dark="*neutral_300",
        block_label_text_color="*primary_700", block_title_text_color="*primary_700",
        block_label_background_fill_dark="*primary_700",
        input_placeholder_color="*neutral_500", input_placeholder_color_dark="*neutral_400",
        color_accent="*primary_600", color_accent_soft_dark="*neutral_700",
        link_text_color="*primary_700", link_text_color_dark="*primary_300",
        link_text_color_visited="*primary_700", link_text_color_visited_dark="*primary_300",
        button_primary_background_fill="*primary_600", button_primary_background_fill_dark="*primary_600",
        button_primary_background_fill_hover="*primary_700", button_primary_background_fill_hover_dark="*primary_700",
        button_secondary_background_fill_hover_dark="*primary_600",  # white on primary_500 is 4.46:1
        checkbox_label_background_fill_selected="*primary_600",
        checkbox_label_background_fill_selected_dark="*primary_700",
    )


def build_demo(service: Service) -> gr.Blocks:
    """The whole page; the service is asked only which models are installed (no model loads)."""
    settings = service.settings
    specs = control_specs(service.models(), service.default_model, service.languages(),
                          service.diarization_models(), batch_size=service.batch_size)
    downloads = DownloadStore(Path(get_upload_folder()) / "whisperx-ui-downloads")
    handlers = Handlers(service, downloads, labels())
    with gr.Blocks(title="WhisperX", delete_cache=(3600, SESSION_TTL_S)) as demo:
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300), gr.Tabs(elem_id="wx-source-tabs"):
                with gr.Tab("Files and links", elem_id="wx-tab-files"):
                    sources = _sources(settings)
                    with gr.Row(elem_id="wx-actions"):
                        transcribe = gr.Button("Transcribe", variant="primary", elem_id="wx-transcribe", scale=3)
                        stop = gr.Button("Stop", variant="stop", elem_id="wx-stop", scale=1)
                    stop_note = gr.Markdown("", elem_id="wx-stop-note")
                    controls = _controls(specs)
                with gr.Tab("Live", elem_id="wx-tab-live"):
                    build_live(settings)
            with gr.Column(scale=7, min_width=300, elem_id="wx-results"):
                panel = _results_panel()
                build_library(demo, service, downloads, panel)
        _wire(handlers, sources, controls, transcribe, stop, stop_note, panel)
        _wire_editor(Editor(handlers), panel)
        _wire_languages(service, controls)
        _wire_api(handlers, specs, panel["api_result"])
        _wire_realign(handlers.service)
        _wire_unload(demo, handlers)
    return demo


def _sources(settings: Settings) -> dict[str, Any]:
    """Files and links side by side in one batch (no tabs: what goes in is all in view); the microphone folds."""
    upload = gr.File(label=f"Audio or video files (up to {settings.max_upload_mb} MB each)",
                     file_types=MEDIA_FILE_TYPES, file_count="multiple", type="filepath", elem_id="wx-upload",
                     height=140)
    links = gr.Textbox(label="Links", lines=2, max_lines=6, elem_id="wx-links",
                       placeholder="https://example.com/meeting.mp3",
                       info=f"http:// or https:// links to audio or video, one per line (up to "
                            f"{settings.max_upload_mb} MB each)")
    with gr.Accordion("Record from the microphone", open=False, elem_id="wx-record-box"):
        recording = gr.Audio(sources=["microphone"], type="filepath", label="Microphone", elem_id="wx-record")
    return {"upload": upload, "links": links, "recording": recording}


def _controls(specs: list[ControlSpec]) -> dict[str, gr.components.Component]:
    """Every option's widget, keyed by option name, in field order (the API's parameter order)."""
    by_group: dict[str, list[ControlSpec]] = {}
    for spec in specs:
        advanced = spec.group in ADVANCED_GROUPS or spec.name in ADVANCED_OUTPUT_OPTIONS
        by_group.setdefault("advanced" if advanced else spec.group, []).append(spec)
    built: dict[str, gr.components.Component] = {}
    with gr.Group(elem_id="wx-options"):
        _rows(by_group.get("basic", []), built, per_row=2)
        speakers = by_group.get("speakers", [])
        _rows([s for s in speakers if s.kind == "checkbox"], built, per_row=1)
        # the speaker model's name gets a row of its own (beside the counts it was clipped)
        _rows([s for s in speakers if s.kind == "dropdown"], built, per_row=1)
        _rows([s for s in speakers if s.kind not in ("checkbox", "dropdown")], built, per_row=3, compact=True)
        _rows(by_group.get("output", []), built, per_row=1)
    with gr.Accordion("Advanced: subtitles, decoding, speech detection", open=False, elem_id="wx-advanced"):
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
    if spec.group == "speakers":  # enabled with diarization (see _wire)
        common["interactive"] = False
    if spec.kind == "checkboxgroup":
        return gr.CheckboxGroup(choices=list(spec.choices or ()), value=spec.value, **common)
    if spec.kind == "slider":
        return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=spec.step, value=spec.value, **common)
    if spec.kind == "number":  # empty: the engine's default, which the placeholder names; the range in the help
        if compact and spec.accepted:  # no help line: the default and the range in the box
            placeholder = f"{spec.none_means or 'auto'}, {spec.minimum:g}–{spec.maximum:g}"
            return gr.Textbox(value=spec.value, placeholder=placeholder, min_width=80, **common)
        if spec.accepted:
            common["info"] = f"{spec.info} ({spec.accepted})" if spec.info else spec.accepted
        return gr.Textbox(value=spec.value, placeholder=spec.placeholder, min_width=80, **common)
    return gr.Textbox(value=spec.value, lines=1, placeholder=spec.placeholder, **common)


def _results_panel() -> dict[str, Any]:
    cards = gr.HTML("", css_template=VIEW_CSS, elem_id="wx-cards", padding=False, container=False,
                    js_on_load=FIELDS_JS)
    pick = gr.Radio(label="Show the transcript of", choices=[], visible=False, elem_id="wx-pick")
    with gr.Row(elem_id="wx-edit-row"):
        undo = gr.Button("Undo", elem_id="wx-undo", size="sm", scale=0, min_width=80)
        redo = gr.Button("Redo", elem_id="wx-redo", size="sm", scale=0, min_width=80)
        gr.HTML(EDIT_HELP, elem_id="wx-edit-help", padding=False)
    view = gr.HTML(render_empty(), js_on_load=SEEK_JS + "\n" + EDITOR_JS, css_template=VIEW_CSS, elem_id="wx-view",
                   min_height=120, padding=True, container=True)
    with gr.Row(equal_height=True, elem_id="wx-speaker-row"):
        speaker = gr.Dropdown(label="Speaker", choices=[], interactive=False, elem_id="wx-speaker", scale=2,
                              min_width=170)
        name = gr.Textbox(label="New name", placeholder="e.g. Alice", elem_id="wx-speaker-name", scale=3,
                          min_width=170)
        rename = gr.Button("Rename", elem_id="wx-rename", scale=1, min_width=90)
        add = gr.Button("Add as a new speaker", elem_id="wx-add-speaker", scale=1, min_width=120)
        remember = gr.Button("Remember this voice", elem_id="wx-remember", scale=1, min_width=120)
    # "hidden", not False: Gradio unmounts an invisible component and re-mounts it when shown, and the props of
    # the answer that shows it were lost about one time in three (the button stayed hidden; a second press worked)
    merge = gr.Button("Merge", elem_id="wx-merge", visible="hidden", variant="primary")
    zip_button = gr.DownloadButton("Download all (zip)", visible=False, elem_id="wx-zip")
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="wx-downloads",
                    visible=False)  # shown with files: Gradio's empty box has an ARIA label a div may not have
    with gr.Accordion("Result JSON", open=False):
        result_json = gr.JSON(elem_id="wx-json")
    return {"cards": cards, "pick": pick, "view": view, "speaker": speaker, "name": name, "rename": rename,
            "undo": undo, "redo": redo, "add": add, "merge": merge,
            "remember": remember,
            "files": files, "zip": zip_button, "json": result_json, "state": gr.State(None),
            "api_result": gr.JSON(visible=False, label="result")}


def _wire(handlers: Handlers, sources: dict[str, Any], controls: dict[str, gr.components.Component],
          transcribe: gr.Button, stop: gr.Button, stop_note: gr.Markdown, panel: dict[str, Any]) -> None:
    names = list(controls)
    shown = [panel[key] for key in ("state", "cards", "pick", "view", "files", "zip", "json", "speaker")]
    upload, links, recording = sources["upload"], sources["links"], sources["recording"]

    def on_arm(data: dict, request: gr.Request) -> tuple:
        values = {name: data[controls[name]] for name in names}
        return (*handlers.arm(request.session_hash, data[upload], data[links], data[recording], values), "")

    def on_transcribe(data: dict, request: gr.Request, progress=gr.Progress()) -> Iterator[tuple]:  # noqa: B008
        values = {name: data[controls[name]] for name in names}
        yield from handlers.run_batch(data[upload], data[links], data[recording], values, request.session_hash,
                                      progress)

    def on_stop(request: gr.Request) -> str:
        return handlers.stop(request.session_hash)

    def on_show(state: dict | None, choice: str | None, request: gr.Request) -> tuple:
        return handlers.show(state, choice, request.session_hash)

    def on_rename(state: dict | None, label: str | None, new_name: str | None, request: gr.Request) -> tuple:
        return handlers.rename(state, label, new_name, request.session_hash)

    transcribe.click(fn=on_arm, inputs={upload, links, recording, *controls.values()}, outputs=[*shown, stop_note],
                     queue=False, api_visibility="private").then(
        fn=on_transcribe, inputs={upload, links, recording, *controls.values()}, outputs=shown,
        api_visibility="private", concurrency_id=GPU_CONCURRENCY_ID, show_progress_on=[panel["view"]]).then(
        fn=lambda: "", outputs=[stop_note], queue=False, api_visibility="private")  # "Stopping…" ends with the job
    transcribe.click(fn=None, js=SHOW_PROGRESS_JS, queue=False, api_visibility="private")
    stop.click(fn=on_stop, outputs=[stop_note], queue=False, api_visibility="private")
    panel["pick"].input(fn=on_show, inputs=[panel["state"], panel["pick"]], outputs=shown,
                        api_visibility="private")
    rename_inputs = [panel["state"], panel["speaker"], panel["name"]]
    for trigger in (panel["rename"].click, panel["name"].submit):
        trigger(fn=on_rename, inputs=rename_inputs, outputs=[*shown, panel["name"], panel["merge"]],
                api_visibility="private")
    speaker_boxes = [controls[name] for name in SPEAKER_OPTIONS if name in controls]
    if "diarization" in controls:
        controls["diarization"].change(fn=lambda on: [gr.update(interactive=bool(on))] * len(speaker_boxes),
                                       inputs=[controls["diarization"]], outputs=speaker_boxes, queue=False,
                                       api_visibility="private")
    recording.stop_recording(fn=lambda: None, outputs=[upload], api_visibility="private", queue=False)


def _wire_editor(editor: Editor, panel: dict[str, Any]) -> None:
    """Corrections from the view's script (`wx_edit`), the undo/redo buttons, adding and merging speakers. Text
    corrections run models (re-timing), so they queue with the jobs."""
    shown = [panel[key] for key in ("state", "cards", "pick", "view", "files", "zip", "json", "speaker")]
    state = panel["state"]

    def on_edit(current: dict | None, event: gr.EventData, request: gr.Request) -> tuple:
        return editor.edit(current, dict(getattr(event, "_data", None) or {}), request.session_hash)

    def command(op: str) -> Any:
        def run(current: dict | None, request: gr.Request) -> tuple:
            return editor.edit(current, {"op": op}, request.session_hash)
        return run

    def on_add(current: dict | None, name: str | None, request: gr.Request) -> tuple:
        return (*editor.edit(current, {"op": "add", "name": name}, request.session_hash), "")

    def on_merge(current: dict | None, request: gr.Request) -> tuple:
        source, target = (current or {}).get("merge") or (None, None)
        return (*editor.edit(current, {"op": "merge", "source": source, "target": target}, request.session_hash),
                gr.update(visible="hidden"), "")

    panel["view"].wx_edit(fn=on_edit, inputs=[state], outputs=shown, api_visibility="private",
                          concurrency_id=GPU_CONCURRENCY_ID, show_progress="hidden")
    for button in ("undo", "redo"):
        panel[button].click(fn=command(button), inputs=[state], outputs=shown, api_visibility="private",
                            show_progress="hidden")
    panel["add"].click(fn=on_add, inputs=[state, panel["name"]], outputs=[*shown, panel["name"]],
                       api_visibility="private", show_progress="hidden")
    panel["merge"].click(fn=on_merge, inputs=[state], outputs=[*shown, panel["merge"], panel["name"]],
                         api_visibility="private", show_progress="hidden")


def _wire_languages(service: Service, controls: dict[str, gr.components.Component]) -> None:
    """The language list follows the model: an English-only model offers English alone."""
    if "model" not in controls or "language" not in controls:
        return

    def on_model(model: str | None, language: str | None) -> dict:
        choices = language_choices(service.languages(model or None))
        keep = language if language in {code for _, code in choices} else AUTO_LANGUAGE
        return gr.update(choices=choices, value=keep)

    controls["model"].change(fn=on_model, inputs=[controls["model"], controls["language"]],
                             outputs=[controls["language"]], queue=False, api_visibility="private")


def _wire_unload(demo: gr.Blocks, handlers: Handlers) -> None:
    """A closed page's jobs stop (nobody will see them) and no longer count as ahead in the queue."""

    def on_unload(request: gr.Request) -> None:
        handlers.stops.forget(request.session_hash)

    demo.unload(on_unload)


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


def _wire_realign(service: Service) -> None:
    """`/realign`: a result, its recording, a segment index and the segment's new text → the result with that
    segment's words re-timed (docs/web-app.md, "API: /realign"). Hidden inputs, so `core` judges every value."""

    def realign_segment(result: Any, audio: str | None, segment: float | None, text: str | None) -> dict[str, Any]:
        """Replace one segment's text and re-time its words against the audio; returns the result object."""
        with user_errors():
            return realign(service, result, audio, segment, text)

    with gr.Column(visible=False):
        inputs = [gr.JSON(label="result"), gr.File(label="audio", type="filepath"), gr.Number(label="segment"),
                  gr.Textbox(label="text")]
        output = gr.JSON(label="result")
    trigger = gr.Button(visible=False)
    trigger.click(fn=realign_segment, inputs=inputs, outputs=[output], api_name="realign",
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
