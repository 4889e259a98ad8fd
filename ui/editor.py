"""The transcript as a workbench: corrections from the page (text re-timed on save, a turn's speaker, a split at a
word, merged and added speakers, renames) with undo/redo, and the `/realign` API for clients.

Every correction is `core.transcript.edit` (the speech itself: `Service.realign`) applied to the shown file's
result; the page's item keeps the results before and after (undo/redo, `ui.items`), and its downloads are written
again after each change. The view's script (`ui/editor.js`) sends corrections as one `wx_edit` event with a small
command object; the functions here are plain (no Gradio) except `Editor`'s event methods.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core import Result
from core.asr.languages import word_joiner
from core.errors import InvalidInput
from core.service import Service
from core.transcript import edit
from ui.items import audio_path, changed, label_of, shown_names, step

logger = logging.getLogger(__name__)

UI_DIR = Path(__file__).resolve().parent
EDITOR_JS = (UI_DIR / "editor.js").read_text(encoding="utf-8")
OPERATIONS = ("text", "speaker", "merge", "add", "undo", "redo")


def parse_result(value: Any, field: str = "result") -> Result:
    """A result object (or its JSON text) as a client sends it back; a refusal names `field`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise InvalidInput(f"{field}: not JSON ({error.msg} at character {error.pos})", field=field) from None
    if not isinstance(value, Mapping) or not isinstance(value.get("segments"), list):
        raise InvalidInput(f"{field}: expected the result object of /transcribe (with its `segments` list)",
                           field=field)
    try:
        return Result.from_dict(value)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"{field}: not a result object of this service ({type(error).__name__}: {error})",
                           field=field) from None


def segment_index(value: Any, field: str = "segment") -> int:
    """A whole number (gradio_client sends numbers as floats); the range is checked against the result."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise InvalidInput(f"{field}: {value!r} is not a segment index (a whole number from 0)", field=field)
    return int(value)


def realign(service: Service, result: Any, audio: str | None, segment: Any, text: Any) -> dict[str, Any]:
    """`/realign`: the result with segment `segment` holding `text`, its words re-timed against `audio`."""
    parsed = parse_result(result)
    index = segment_index(segment)
    if not audio:
        raise InvalidInput("audio: pass the recording the result was made from, e.g. handle_file('talk.wav')",
                           field="audio")
    if not isinstance(text, str):
        raise InvalidInput("text: expected the segment's new words as a string", field="text")
    return service.realign(str(audio), parsed, index, text).to_dict()


def apply(service: Service, item: Mapping[str, Any], command: Mapping[str, Any]) -> dict[str, Any]:
    """One correction from the page (`ui/editor.js`'s command object) applied to an item."""
    op = command.get("op")
    if op not in OPERATIONS:
        raise InvalidInput(f"op: {op!r} is not a correction; accepted: {', '.join(OPERATIONS)}", field="op")
    if op in ("undo", "redo"):
        return step(item, op == "undo")
    result = Result.from_dict(item["result"])
    joiner = word_joiner(result.text_language)
    if op == "text":
        first, last = segment_index(command.get("first")), segment_index(command.get("last"), "last")
        return changed(item, service.realign(audio_path(item), result, first, str(command.get("text", "")),
                                                    through=last))
    if op == "add":
        return changed(item, edit.add_speaker(result, _new_name(item, command.get("name"))))
    if op == "merge":
        source, target = label_of(item, command.get("source")), label_of(item, command.get("target"))
        names = {label: name for label, name in item.get("names", {}).items() if label != source}
        return changed(item, edit.merge_speakers(result, source, target), names)
    if not " ".join(str(command.get("speaker") or "").split()):  # the page's field for a new speaker is "Name"
        raise InvalidInput("Name: type the new speaker's name.", field="name")
    speaker = label_of(item, command.get("speaker"))
    first, last = segment_index(command.get("first")), segment_index(command.get("last"), "last")
    word = segment_index(command.get("word") or 0, "word")
    if item.get("audio_url") and Path(audio_path(item)).is_file():  # the split falls in the pause between the
        result = service.snap_split(audio_path(item), result, first, word)  # two words, as heard
    return changed(item, edit.set_speaker_from(result, first, word, last, speaker, joiner=joiner))


def _new_name(item: Mapping[str, Any], name: Any) -> str:
    cleaned = " ".join(str(name or "").split())
    if not cleaned:
        raise InvalidInput("Type the new speaker's name first.", field="name")
    if cleaned.casefold() in {shown.casefold() for shown in shown_names(item)}:
        raise InvalidInput(f"There is already a speaker called “{cleaned}”.", field="name")
    return cleaned


class Workbench(Protocol):
    """What `Editor` uses of the page's handlers (`ui.handlers.Handlers`, which `ui.layout` hands it): the editor
    needs the panel they draw, not their module (what both use of a file's item is `ui.items`)."""

    service: Service

    def panel(self, state: Mapping[str, Any], session: str | None) -> tuple[Any, ...]: ...

    def write_item(self, state: dict[str, Any], index: int) -> None: ...

    def unchanged(self, extra: int = 0) -> tuple[Any, ...]: ...


class Editor:
    """The page's correction events, on the handlers' state, panel and downloads."""

    def __init__(self, handlers: Workbench) -> None:
        self.handlers = handlers

    def edit(self, state: Mapping[str, Any] | None, command: Mapping[str, Any], session: str | None) -> tuple:
        """One correction (or undo/redo) on the shown file; a refusal is a toast and changes nothing."""
        import gradio as gr

        from ui.errors import user_errors

        try:
            with user_errors():
                if not state or state.get("current") is None:
                    raise InvalidInput("Transcribe a file first, then correct its transcript.", field="op")
                self.handlers.check_idle(session)
                index = state["current"]
                items = [dict(item) for item in state["items"]]
                items[index] = apply(self.handlers.service, items[index], command)
                new_state = {**state, "items": items, "merge": None}
                self.handlers.write_item(new_state, index)
        except gr.Error as refusal:
            gr.Warning(str(refusal.message), title="Cannot change the transcript")
            return self.handlers.unchanged()
        logger.info("transcript corrected: %s", command.get("op"))
        return self.handlers.panel(new_state, session)
