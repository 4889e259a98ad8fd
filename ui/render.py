"""HTML views of a `Result`: player and tools, summary, who-spoke-when timeline, speaker-labelled transcript.

Pure functions of the result (no Gradio), so they are unit-tested directly. Every seek target is a `<button>`
carrying `data-start` (turn headers and timeline bars in the tab order, words reached with the arrow keys);
the page's script (`ui/view.js`, run once per page) plays the audio from there, searches, follows playback and
copies the transcript. Colours never carry text: names are in the body colour beside a colour swatch, so the
contrast holds for every speaker colour in light and dark themes. Words said while someone else also spoke
(`overlap_with`) are marked by a dashed underline, never by colour alone: the run carries a tooltip and, for screen
readers, a visually hidden "also speaking: NAME"; its turn's header says "overlaps with NAME" in words.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from core import Result
from core.transcript.result import Segment, SpeakerTurn
from ui.errors import on_screen

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d",
           "#9333ea", "#ea580c")
NO_SPEAKER_COLOR = "#64748b"
SPACELESS_LANGUAGES = frozenset({"ja", "zh", "yue", "th", "lo", "km", "my", "bo"})
UI_DIR = Path(__file__).resolve().parent
SEEK_JS = (UI_DIR / "view.js").read_text(encoding="utf-8")
VIEW_CSS = (UI_DIR / "view.css").read_text(encoding="utf-8")
EMPTY_TEXT = "Add a file, a link or a recording, then press Transcribe."


@dataclasses.dataclass(frozen=True)
class Turn:
    """Consecutive segments of one speaker, shown as one block."""

    speaker: str | None
    start: float
    end: float
    segments: tuple[Segment, ...]


def format_time(seconds: float) -> str:
    """`m:ss.s` (or `h:mm:ss.s`), short enough for a turn header."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
    return f"{int(minutes)}:{secs:04.1f}"


def merge_turns(segments: Sequence[Segment]) -> list[Turn]:
    """Merge consecutive segments of the same speaker; without speakers every segment is its own block."""
    turns: list[Turn] = []
    for seg in segments:
        last = turns[-1] if turns else None
        if last is not None and seg.speaker is not None and seg.speaker == last.speaker:
            turns[-1] = Turn(last.speaker, last.start, max(last.end, seg.end), (*last.segments, seg))
        else:
            turns.append(Turn(seg.speaker, seg.start, seg.end, (seg,)))
    return turns


def speaker_colors(result: Result) -> dict[str, str]:
    """A stable colour per speaker, by the speaker's place in `result.speakers` (kept by renaming)."""
    names = list(result.speakers or ())
    for seg in result.segments:
        if seg.speaker is not None and seg.speaker not in names:
            names.append(seg.speaker)
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def plain_transcript(result: Result) -> str:
    """What "Copy transcript" copies: one line per turn, `[start – end] Speaker: text`."""
    joiner = "" if (result.text_language or "") in SPACELESS_LANGUAGES else " "
    lines = []
    for turn in merge_turns(result.segments):
        text = joiner.join(seg.text.strip() for seg in turn.segments if seg.text.strip())
        who = f" {turn.speaker}:" if turn.speaker else ""
        lines.append(f"[{format_time(turn.start)} – {format_time(turn.end)}]{who} {text}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_empty(text: str = EMPTY_TEXT) -> str:
    return f'<div class="wx-empty">{html.escape(text)}</div>'


def render_view(result: Result | None, audio_url: str | None = None,
                labels: Mapping[str, str] | None = None) -> str:
    """The whole results panel: sticky player and tools, summary, warnings, timeline and transcript. `labels`
    (option name → label on the page) turn option names in the notes into what the page shows."""
    if result is None:
        return render_empty()
    notes = [on_screen(warning, labels) for warning in result.warnings] if labels else result.warnings
    parts = [render_head(audio_url), render_summary(result), render_warnings(notes),
             render_timeline(result), render_transcript(result),
             f'<template class="wx-plain">{html.escape(plain_transcript(result))}</template>']
    return '<div class="wx-view">' + "".join(part for part in parts if part) + "</div>"


def render_head(audio_url: str | None) -> str:
    """Player, search, follow and copy: one bar that stays in view while the transcript scrolls."""
    player = (f'<audio class="wx-audio" controls preload="metadata" aria-label="Recording" '
              f'src="{html.escape(audio_url)}"></audio>' if audio_url else "")
    follow = ('<label class="wx-follow-label"><input type="checkbox" class="wx-follow" checked> '
              'Follow playback</label>' if audio_url else "")
    return (f'<div class="wx-head">{player}<div class="wx-tools">'
            '<input type="search" class="wx-search" placeholder="Search the transcript" '
            'aria-label="Search the transcript">'
            f'{follow}<button type="button" class="wx-copy">Copy transcript</button>'
            '<span class="wx-status" role="status" aria-live="polite"></span></div></div>')


def render_summary(result: Result) -> str:
    items = [f"Language: <b>{html.escape(result.language or '?')}</b>",
             f"Duration: <b>{format_time(result.duration)}</b>",
             f"Model: <b>{html.escape(result.model or '?')}</b> ({html.escape(result.device)}, "
             f"{html.escape(result.compute_type)})"]
    if result.diarized:
        items.append(f"Speakers: <b>{len(result.speakers or ())}</b>")
    total = result.timings.get("total")
    if total is not None:
        items.append(f"Took <b>{total:.1f} s</b>")
    if result.partial:  # a stopped job's finished part (its Notes say up to where)
        reached = max((segment.end for segment in result.segments), default=0.0)
        items.insert(0, f'<span class="wx-partial">Partial: up to <b>{format_time(reached)}</b></span>')
    return '<div class="wx-summary">' + "".join(f"<span>{item}</span>" for item in items) + "</div>"


def render_warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(warning)}</li>" for warning in warnings)
    return f'<div class="wx-warnings" role="status"><b>Notes</b><ul>{items}</ul></div>'


def _swatch(color: str) -> str:
    return f'<span class="wx-swatch" style="background:{color}" aria-hidden="true"></span>'


def render_timeline(result: Result) -> str:
    """One lane per speaker with a bar (a seek button) per diarization turn; empty without diarization.

    Each lane's first bar is in the tab order; the arrow keys move along the lane."""
    turns: Sequence[SpeakerTurn] = result.diarization or ()
    if not turns:
        return ""
    span = max([result.duration, *(turn.end for turn in turns)]) or 1.0
    colors = speaker_colors(result)
    lanes = []
    for speaker in colors:
        bars = [_bar(turn, span, colors[speaker], first=index == 0)
                for index, turn in enumerate(t for t in turns if t.speaker == speaker)]
        if bars:
            lanes.append(f'<div class="wx-lane"><span class="wx-lane-name">{_swatch(colors[speaker])}'
                         f'{html.escape(speaker)}</span><div class="wx-track wx-group">{"".join(bars)}</div></div>')
    ticks = "".join(f"<span>{format_time(span * k / 4)}</span>" for k in range(5))
    return (f'<div class="wx-timeline" role="group" aria-label="Who spoke when">{"".join(lanes)}'
            f'<div class="wx-axis" aria-hidden="true">{ticks}</div></div>')


def _bar(turn: SpeakerTurn, span: float, color: str, *, first: bool) -> str:
    left = 100 * turn.start / span
    width = max(100 * (turn.end - turn.start) / span, 0.3)
    label = f"{turn.speaker}, {format_time(turn.start)} – {format_time(turn.end)}"
    tab = "" if first else ' tabindex="-1"'
    return (f'<button type="button" class="wx-bar" data-start="{turn.start:.3f}" data-end="{turn.end:.3f}"{tab} '
            f'aria-label="Play from {html.escape(label)}" title="{html.escape(label)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{color}"></button>')


def render_transcript(result: Result) -> str:
    colors = speaker_colors(result)
    spaceless = (result.text_language or "") in SPACELESS_LANGUAGES
    blocks, first = [], 0
    for turn in merge_turns(result.segments):
        blocks.append(_turn_html(turn, colors.get(turn.speaker or "", NO_SPEAKER_COLOR), spaceless, first))
        first += len(turn.segments)
    if not blocks:
        return render_empty("No speech was found in this recording.")
    speakers = html.escape(json.dumps(list(colors)))  # for the editor's speaker menu (ui/editor.js)
    return (f'<div class="wx-transcript" role="list" aria-label="Transcript" data-speakers="{speakers}">'
            + "".join(blocks) + "</div>")


def _turn_html(turn: Turn, color: str, spaceless: bool, first: int = 0) -> str:
    """A turn block; `first` is its first segment's index in the result (the editor's `data-first`/`data-last`,
    and each word's `data-seg`/`data-word`). Edited segments are marked for the eye and for screen readers."""
    speaker = f'<span class="wx-speaker">{_swatch(color)}{html.escape(turn.speaker)}</span>' if turn.speaker else ""
    text = " ".join(_segment_html(seg, spaceless, first + k) for k, seg in enumerate(turn.segments))
    edited = '<span class="wx-edited">edited</span>' if any(seg.edited for seg in turn.segments) else ""
    others = sorted({name for seg in turn.segments for name in seg.overlap_with})
    overlaps = (f'<span class="wx-overlaps">overlaps with {html.escape(", ".join(others))}</span>' if others
                else "")
    return (f'<div class="wx-turn wx-group" role="listitem" style="--wx-color:{color}" data-start="{turn.start:.3f}" '
            f'data-end="{turn.end:.3f}" data-first="{first}" data-last="{first + len(turn.segments) - 1}">'
            f'<button type="button" class="wx-turn-head" data-start="{turn.start:.3f}">'
            f'<span class="wx-sr">Play from </span>{speaker}'
            f'<span class="wx-time">{format_time(turn.start)} – {format_time(turn.end)}</span>{overlaps}{edited}'
            '</button>'
            f'<p class="wx-text">{text}</p></div>')


def _segment_html(seg: Segment, spaceless: bool, index: int = 0) -> str:
    """Words with their own start are seek buttons (reached by arrow keys, not Tab); a segment without word
    times is one button at the segment's start. A run of words said over the same other speakers is wrapped in
    one overlap mark."""
    joiner = "" if spaceless else " "
    if not seg.words:
        button = (f'<button type="button" class="wx-word" tabindex="-1" data-start="{seg.start:.3f}" '
                  f'data-seg="{index}" data-word="0">{html.escape(seg.text.strip())}</button>')
        return _overlap_mark(seg.overlap_with, button)
    runs: list[tuple[tuple[str, ...], list[str]]] = []
    for position, word in enumerate(seg.words):
        text = html.escape(word.word.strip())
        if word.start is None:
            shown = f'<span data-seg="{index}" data-word="{position}">{text}</span>'
        else:
            shown = (f'<button type="button" class="wx-word" tabindex="-1" data-start="{word.start:.3f}" '
                     f'data-seg="{index}" data-word="{position}">{text}</button>')
        if runs and runs[-1][0] == word.overlap_with:
            runs[-1][1].append(shown)
        else:
            runs.append((word.overlap_with, [shown]))
    return joiner.join(_overlap_mark(others, joiner.join(words)) for others, words in runs)


def _overlap_mark(others: Sequence[str], inner: str) -> str:
    """`inner` marked as said while `others` also spoke (unchanged when nobody else did)."""
    if not others:
        return inner
    names = html.escape(", ".join(others))
    return (f'<span class="wx-overlap" title="Also speaking: {names}">'
            f'<span class="wx-sr">(also speaking: {names}) </span>{inner}</span>')
