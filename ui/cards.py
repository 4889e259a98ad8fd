"""The batch's cards: one per file or link, with its status and, when it failed, why (plain HTML, no Gradio)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ui.render import format_time

STATUS_TEXT = {"waiting": "Waiting", "running": "Working…", "done": "Done", "error": "Failed", "stopped": "Stopped"}


def render_cards(items: Sequence[Mapping[str, Any]], note: str = "", field: str | None = None) -> str:
    """A list of cards (file name, status, a one-line summary or the error); `note` is a line above them, and
    `field` the option it is about (the page's script marks that field and brings it into view: ui/fields.js)."""
    marked = f' data-field="{html.escape(field)}"' if field else ""
    head = f'<p class="wx-note"{marked}>{html.escape(note)}</p>' if note else ""
    if not items:
        return head
    cards = "".join(_card(item) for item in items)
    return f'{head}<ul class="wx-cards" aria-label="Files in this batch">{cards}</ul>'


def _card(item: Mapping[str, Any]) -> str:
    status = item["status"]
    detail = item.get("message") or _summary(item)
    return (f'<li class="wx-card wx-card-{status}" data-status="{status}"><span class="wx-card-name">'
            f'{html.escape(item["name"])}</span> <span class="wx-card-status">{STATUS_TEXT[status]}</span>'
            + (f'<span class="wx-card-detail">{html.escape(detail)}</span>' if detail else "") + "</li>")


def plural(count: int, noun: str) -> str:
    """"1 speaker", "2 speakers"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summary(item: Mapping[str, Any]) -> str:
    result = item.get("result")
    if not result:
        return ""
    parts = [format_time(result.get("duration") or 0.0)]
    if result.get("speakers") is not None:
        parts.append(plural(len(result["speakers"]), "speaker"))
    words = sum(len(seg.get("text", "").split()) for seg in result.get("segments", ()))
    parts.append(plural(words, "word"))
    return " · ".join(parts)
