"""The page's voice library: "Remember this voice" on a named speaker of the current transcript, and a panel to
list, rename, forget, export and import voices (`core.speakers.voices` in DATA_DIR, shared by every user of this
server; behind the login when UI_AUTH is set, like the whole page).

Every event here is private (not part of the `/transcribe` API). Refusals are toasts naming what to do; the
library's contents never go to the log.
"""

from __future__ import annotations

import html
import json
import logging
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import WorkerError
from core.media.decode import decode_audio
from core.service import Service
from core.speakers.voices import Listing, reenrol_note
from core.transcript.result import SpeakerTurn
from ui.handlers import DownloadStore

logger = logging.getLogger(__name__)

TITLE = "Voice library"
UNNAMED = re.compile(r"SPEAKER_\d+")
HEADERS = ["Name", "Status", "Voiceprints", "Speech (s)", "Since", "Enrolled from"]
TABLE_CSS = """
.wx-voices { width: 100%; border-collapse: collapse; font-size: 0.9em; color: var(--body-text-color); }
.wx-voices caption { text-align: left; font-weight: 600; padding: 0.25em 0; }
.wx-voices th, .wx-voices td { text-align: left; padding: 0.3em 0.5em; overflow-wrap: anywhere;
  border-bottom: 1px solid var(--border-color-primary); }
.wx-voices-none { color: var(--body-text-color); margin: 0.25em 0; }
"""
LIBRARY_INTRO = (
    "People remembered here are recognised by name in every transcription with speaker diarization (turn it off "
    "with *Recognize voices*). Voiceprints stay on this server; *Forget* deletes one for good.")


class VoiceHandlers:
    """The library's events, bound to the service and the session download folders."""

    def __init__(self, service: Service, downloads: DownloadStore) -> None:
        self.service = service
        self.downloads = downloads

    def listing(self) -> tuple[Any, ...]:
        """(table rows, voice dropdown, re-enrolment note, panel title) as the library holds them now: each voice's
        status in words, and the voices to re-enrol named above the table and counted in the panel's title."""
        return _shown(self.service.voice_listing())

    def remember(self, state: Mapping[str, Any] | None, label: str | None) -> tuple[Any, ...]:
        """Enrol the speaker chosen under the transcript, under the name it shows, from its turns in the file."""
        try:
            item = _current_item(state)
            name, voice_turns = _named_turns(item, label)
            audio = decode_audio(_audio_path(item), max_bytes=self.service.settings.max_upload_bytes,
                                 label="audio")
            options = item.get("options") or {}
            voice = self.service.remember_voice(
                name, [(audio.samples, f"page: {item['name']} ({label})", "speaker")], turns=voice_turns,
                label=label, diarization_model=options.get("diarization_model"))
        except WorkerError as refusal:
            gr.Warning(refusal.message, title="Cannot remember this voice")
            return _unchanged()
        gr.Info(f"{voice.name}'s voice is remembered ({voice.voiceprints} voiceprint(s)): the next transcriptions "
                "will name them.", title=TITLE)
        return self.listing()

    def rename(self, old: str | None, new: str | None) -> tuple[Any, ...]:
        try:
            voice = self.service.voices.rename(old or "", new or "")
        except WorkerError as refusal:
            gr.Warning(refusal.message, title="Cannot rename the voice")
            return _unchanged()
        gr.Info(f"{old} is now {voice.name}.", title=TITLE)
        return self.listing()

    def ask_forget(self, name: str | None) -> tuple[Any, ...]:
        """(pending name, confirmation row, its question): *Forget voice* only asks; nothing is deleted yet."""
        if not name or name.casefold() not in {voice.name.casefold() for voice in self.service.voices.voices()}:
            gr.Warning("Choose a voice to forget first.", title="Cannot forget the voice")
            return None, gr.update(visible="hidden"), gr.skip()
        question = (f"Forget **{_markdown_text(name)}** for good? Their voiceprints are deleted and the next "
                    "transcriptions will not name them (an export keeps a copy to import again).")
        return name, gr.update(visible=True), question

    def forget(self, name: str | None) -> tuple[Any, ...]:
        try:
            self.service.voices.remove(name or "")
        except WorkerError as refusal:
            gr.Warning(refusal.message, title="Cannot forget the voice")
            return _unchanged()
        gr.Info(f"{name} is forgotten: the voiceprints are deleted.", title=TITLE)
        return self.listing()

    def export(self, session: str | None) -> Any:
        data = self.service.voices.export()
        path = self.downloads.side_dir(session, "voices") / "voice-library.json"  # the transcript's files stay
        path.write_text(json.dumps(data), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def import_file(self, path: str | None) -> tuple[Any, ...]:
        try:
            data = _read_json(path)
            names = self.service.voices.import_data(data)
        except WorkerError as refusal:
            gr.Warning(refusal.message, title="Cannot import voices")
            return _unchanged()
        gr.Info(f"{len(names)} voice(s) imported.", title=TITLE)
        listing = self.service.voice_listing()
        imported = {name.casefold() for name in names}
        reenrol = [name for name in listing.reenrol if name.casefold() in imported]
        if reenrol:
            gr.Warning(reenrol_note(reenrol), title="Imported voices to re-enrol")
        return _shown(listing)


def _shown(listing: Listing) -> tuple[Any, ...]:
    rows = [[voice.name, state, voice.voiceprints, voice.seconds, voice.created[:10], ", ".join(voice.sources)]
            for voice, state in listing.voices]
    names = [voice.name for voice, _ in listing.voices]
    stale = len(listing.reenrol)
    return (render_table(rows), gr.update(choices=names, value=names[0] if names else None),
            gr.update(value=reenrol_note([_markdown_text(name) for name in listing.reenrol]) if stale else ""),
            gr.update(label=f"{TITLE} ({stale} to re-enrol)" if stale else TITLE))


def render_table(rows: list[list[Any]]) -> str:
    """The remembered voices as a plain HTML table: a caption, column headers and one row per voice. (Gradio's
    Dataframe wraps its grid in a button and leaves the grid without rows for screen readers: axe's critical
    aria-required-children and serious nested-interactive.)"""
    if not rows:
        return '<p class="wx-voices-none">No voices remembered yet.</p>'
    head = "".join(f'<th scope="col">{html.escape(title)}</th>' for title in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
                   for row in rows)
    return (f'<table class="wx-voices"><caption>Remembered voices</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _markdown_text(text: str) -> str:
    """A name shown as itself in Markdown (a person may be called `*Ada*`)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def _unchanged() -> tuple[Any, ...]:
    """What a refused event returns: the listing stays as it is."""
    return tuple(gr.skip() for _ in range(4))


def _current_item(state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not state or state.get("current") is None:
        raise WorkerError("Transcribe a file with speaker diarization first, then name a speaker and remember it.")
    return state["items"][state["current"]]


def _named_turns(item: Mapping[str, Any], label: str | None) -> tuple[str, tuple[SpeakerTurn, ...]]:
    """The name the chosen speaker shows, and its turns; a speaker still called SPEAKER_xx is refused."""
    result = item.get("result") or {}
    if not label or label not in (result.get("speakers") or []):
        raise WorkerError("Choose a speaker under the transcript first.")
    name = (item.get("names") or {}).get(label) or label
    if UNNAMED.fullmatch(name):
        raise WorkerError(f"Give {label} a name first (New name, then Rename), then remember the voice.")
    turns = tuple(SpeakerTurn(**turn) for turn in result.get("diarization") or () if turn["speaker"] == label)
    return name, turns


def _audio_path(item: Mapping[str, Any]) -> Path:
    """The file the transcript was made from (the one the player plays)."""
    url = item.get("audio_url") or ""
    path = Path(urllib.parse.unquote(url.removeprefix("gradio_api/file="))) if url else None
    if path is None or not path.is_file():
        raise WorkerError("The recording of this transcript is not on the server (a saved result was opened "
                          "without it): open it together with its recording to remember a voice.")
    return path


def _read_json(path: str | None) -> Any:
    if not path:
        raise WorkerError("Choose a voice library export (.json) to import.")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise WorkerError("That file is not a voice library export: it is not readable JSON.") from None


def build_library(demo: gr.Blocks, service: Service, downloads: DownloadStore, panel: Mapping[str, Any]) -> None:
    """The library panel (in the current layout column) and its events, plus "Remember this voice" under the
    transcript (`panel["remember"]`)."""
    handlers = VoiceHandlers(service, downloads)
    with gr.Accordion(TITLE, open=False, elem_id="wx-voices") as accordion:
        gr.Markdown(LIBRARY_INTRO)
        reenrol = gr.Markdown("", elem_id="wx-voices-reenrol")  # names the voices to re-enrol, if any
        table = gr.HTML(render_table([]), elem_id="wx-voices-table", css_template=TABLE_CSS, padding=False)
        with gr.Row(equal_height=True):
            voice = gr.Dropdown(label="Voice", choices=[], elem_id="wx-voice", min_width=170)
            new_name = gr.Textbox(label="New name for the voice", elem_id="wx-voice-name", min_width=170)
        with gr.Row():
            rename = gr.Button("Rename voice", elem_id="wx-voice-rename", min_width=90)
            forget = gr.Button("Forget voice", variant="stop", elem_id="wx-voice-forget", min_width=90)
        # Forgetting cannot be undone: it asks first. "hidden", not False: see ui/layout.py's `merge`
        with gr.Row(visible="hidden", elem_id="wx-voice-confirm") as confirm_row:
            question = gr.Markdown("", elem_id="wx-voice-question")
            confirm = gr.Button("Forget", variant="stop", elem_id="wx-voice-forget-yes", min_width=90, scale=0)
            keep = gr.Button("Keep", elem_id="wx-voice-forget-no", min_width=90, scale=0)
        pending = gr.State(None)  # the voice the question is about (the dropdown may change meanwhile)
        with gr.Row():
            export = gr.Button("Export (JSON)", elem_id="wx-voices-export", min_width=90)
            upload = gr.UploadButton("Import (JSON)", file_types=[".json"], type="filepath",
                                     elem_id="wx-voices-import", min_width=90)
        exported = gr.File(label="Voice library export", visible=False, interactive=False,
                           elem_id="wx-voices-file")
    listed = [table, voice, reenrol, accordion]
    # No progress overlay on the library: its components are not drawn while the panel is closed (as it is when
    # the page loads, or when "Remember this voice" is pressed under the transcript), and Gradio left their
    # "pending" timers running over the table and the Voice dropdown once drawn, until another event updated them.
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}

    def on_export(request: gr.Request) -> Any:
        return handlers.export(request.session_hash)

    demo.load(fn=handlers.listing, outputs=listed, queue=False, **private)  # never behind a running job
    panel["remember"].click(fn=handlers.remember, inputs=[panel["state"], panel["speaker"]], outputs=listed,
                            **private)
    rename.click(fn=handlers.rename, inputs=[voice, new_name], outputs=listed, **private)
    forget.click(fn=handlers.ask_forget, inputs=[voice], outputs=[pending, confirm_row, question], **private)
    hide = {"fn": lambda: (None, gr.update(visible="hidden")), "outputs": [pending, confirm_row], "queue": False}
    confirm.click(fn=handlers.forget, inputs=[pending], outputs=listed, **private).then(**hide, **private)
    keep.click(**hide, **private)
    voice.change(**hide, **private)  # the question was about another voice
    export.click(fn=on_export, outputs=[exported], **private)
    upload.upload(fn=handlers.import_file, inputs=[upload], outputs=listed, **private)
