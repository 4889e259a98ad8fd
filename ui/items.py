"""A file's item in the page's state: its result (a dict, as Gradio keeps state), the names shown for its
speakers, its recording's URL for the player, its downloads and its undo/redo history. Plain functions of plain
values (no Gradio), shared by the page's events (`ui.handlers`) and its corrections (`ui.editor`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from core import Result
from core.errors import InvalidInput
from ui.batch import Source

HISTORY_LIMIT = 50  # undo steps kept per file (each a result dict: an hour-long meeting is ~1 MB)


def new_item(source: Source) -> dict[str, Any]:
    """A file of a new batch, waiting its turn."""
    return {"name": source.name, "status": "waiting", "message": "", "result": None, "options": None,
            "names": {}, "audio_url": None, "files": []}


def has_result(item: Mapping[str, Any]) -> bool:
    """A file with a transcript to show: finished, or stopped with a finished part."""
    return item.get("result") is not None


def file_url(path: str) -> str:
    """Gradio serves its upload/cache files at `gradio_api/file=`; relative, so a root path prefix works, and
    percent-encoded, so a name with `#`, `?` or `%` still reaches the file."""
    return f"gradio_api/file={urllib.parse.quote(path)}"


def audio_path(item: Mapping[str, Any]) -> str:
    """The local file behind an item's player URL (`file_url`)."""
    url = item.get("audio_url") or ""
    prefix = "gradio_api/file="
    if not url.startswith(prefix):
        raise InvalidInput("This transcript has no recording to re-time the words against; open it together with "
                           "its recording.", field="audio")
    return urllib.parse.unquote(url[len(prefix):])


def label_of(item: Mapping[str, Any], shown: str) -> str:
    """The result's speaker label behind a name shown on the page (renames are kept apart from the result)."""
    shown = " ".join(str(shown or "").split())
    for label, name in item.get("names", {}).items():
        if name == shown:
            return label
    return shown


def shown_names(item: Mapping[str, Any]) -> list[str]:
    """Each speaker's name as the page shows it (its rename, else its label), in the result's order."""
    names = item.get("names", {})
    return [names.get(label) or label for label in item["result"].get("speakers") or []]


def snapshot(item: Mapping[str, Any]) -> dict[str, Any]:
    """What undo brings back: the result and the names."""
    return {"result": item["result"], "names": dict(item.get("names", {}))}


def changed(item: Mapping[str, Any], result: Result | None = None, names: Mapping[str, str] | None = None,
            ) -> dict[str, Any]:
    """A new item with the change applied and the item before it on the undo list (the redo list is cleared)."""
    history = [*item.get("history", []), snapshot(item)][-HISTORY_LIMIT:]
    return {**item, "result": result.to_dict() if result is not None else item["result"],
            "names": dict(names) if names is not None else dict(item.get("names", {})),
            "history": history, "future": []}


def step(item: Mapping[str, Any], backwards: bool) -> dict[str, Any]:
    """Undo (`backwards`) or redo one change."""
    source, target = ("history", "future") if backwards else ("future", "history")
    stack = list(item.get(source, []))
    if not stack:
        raise InvalidInput("Nothing to undo." if backwards else "Nothing to redo.", field="history")
    previous = stack.pop()
    return {**item, **previous, source: stack, target: [*item.get(target, []), snapshot(item)][-HISTORY_LIMIT:]}


def merge_offer(item: Mapping[str, Any], label: str | None, name: str | None) -> tuple[str, str] | None:
    """(label, other label) when renaming `label` to `name` would give it the name another speaker shows: the
    page offers to merge the two instead of refusing."""
    cleaned = " ".join(str(name or "").split()).casefold()
    if not label or not cleaned:
        return None
    names = item.get("names", {})
    for other in item["result"].get("speakers") or []:
        if other != label and (names.get(other) or other).casefold() == cleaned:
            return label, other
    return None


def renamed(item: Mapping[str, Any]) -> Result:
    """An item's result with its speaker names applied (the data; every download is rendered from it)."""
    return Result.from_dict(item["result"]).with_speaker_names(item.get("names", {}))


def speaker_choices(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(shown name, original label) for the rename dropdown."""
    names = item.get("names", {})
    labels = item["result"].get("speakers") or []
    return [(names.get(label) or label, label) for label in labels]


def set_speaker_name(item: Mapping[str, Any], label: str | None, name: str | None) -> dict[str, Any]:
    """A new item with `label` shown as `name` (an empty name restores the original label). A name another
    speaker already shows is refused: two speakers under one name would merge in every download."""
    labels = item["result"].get("speakers") or []
    if not label or label not in labels:
        raise InvalidInput("Choose a speaker to rename.", field="speaker")
    names = dict(item.get("names", {}))
    cleaned = " ".join((name or "").split())  # as shown on the page, and as the editor's menus send it back
    shown = {(names.get(other) or other).casefold(): names.get(other) or other for other in labels if other != label}
    if cleaned.casefold() in shown:
        raise InvalidInput(f"Another speaker is already called “{shown[cleaned.casefold()]}”; choose a different "
                           "name (or rename that speaker first).", field="name")
    if cleaned:
        names[label] = cleaned
    else:
        names.pop(label, None)
    return {**item, "names": names}
