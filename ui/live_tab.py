"""The Live tab: the browser's microphone streamed to this server's live transcription (`/v1/realtime`), captions
with speakers as they come, and Stop turning the session into a normal result (`live_tab.js` does the talking;
nothing here runs a model: the session is the OpenAI-compatible API's, the result opens through the upload box).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from core import Settings

LIVE_JS = (Path(__file__).resolve().parent / "live_tab.js").read_text(encoding="utf-8")
LIVE_CSS = """
.wx-live-actions { display: flex; gap: 0.5em; margin: 0.5em 0; }
.wx-live-actions button { min-height: 44px; padding: 0 1.5em; border-radius: 8px; font-weight: 600;
  border: 1px solid var(--border-color-primary); }
.wx-live-start { background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
.wx-live-stop { background: var(--button-secondary-background-fill); color: var(--body-text-color); }
.wx-live-actions button:disabled { opacity: 0.6; cursor: not-allowed; }
.wx-live-fields { display: flex; gap: 1em; flex-wrap: wrap; }
.wx-live-fields label { display: flex; flex-direction: column; gap: 0.25em; }
.wx-live-fields input { padding: 0.4em; border: 1px solid var(--border-color-primary); border-radius: 6px;
  background: var(--input-background-fill); color: var(--body-text-color); }
.wx-live-captions { max-height: 22rem; overflow-y: auto; margin-top: 0.5em; }
.wx-live-item { margin: 0.25em 0; }
.wx-live-pending .wx-live-draft { color: var(--body-text-color); font-style: italic; }
.wx-live-line { margin: 0.15em 0; }
.wx-live-speaker { font-weight: 700; }
.wx-live-time { font-variant-numeric: tabular-nums; color: var(--body-text-color); }
"""


def live_html(settings: Settings) -> str:
    key = ("<label>API key <input class=\"wx-live-key\" type=\"password\" autocomplete=\"off\" "
           "placeholder=\"one of API_KEYS\"></label>") if settings.api_keys else ""
    intro = ("Speak into the microphone: each turn's words appear as you talk, then its sentences with who is "
             "speaking (a remembered voice by name). <b>Stop</b> opens the session as a transcript on the right: "
             "downloads, speakers, remember a voice.")
    return (f"<div class=\"wx-live\"><p>{intro}</p>"
            f"<div class=\"wx-live-fields\"><label>Language <input class=\"wx-live-language\" "
            f"placeholder=\"detect, or e.g. en\" size=\"14\"></label>{key}</div>"
            "<div class=\"wx-live-actions\"><button type=\"button\" class=\"wx-live-start\">Start</button>"
            "<button type=\"button\" class=\"wx-live-stop\" disabled>Stop</button></div>"
            "<p class=\"wx-live-status\" role=\"status\">Not started.</p>"
            "<div class=\"wx-live-captions\" role=\"log\" aria-live=\"polite\" aria-label=\"Live captions\" "
            "tabindex=\"0\"></div></div>")


def build_live(settings: Settings) -> gr.HTML:
    return gr.HTML(live_html(settings), js_on_load=LIVE_JS, css_template=LIVE_CSS, elem_id="wx-live",
                   padding=False, container=False)


