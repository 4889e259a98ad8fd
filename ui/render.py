"""HTML views of a `Result`: the speaker-labelled transcript, the who-spoke-when timeline and a summary.

Pure functions of the result (no Gradio), so they are unit-tested directly. Every element that has a time
carries `data-start`; the page's one click handler (`SEEK_JS`) plays the audio from there.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence

from core import Result
from core.result import Segment, SpeakerTurn

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d",
           "#9333ea", "#ea580c")
NO_SPEAKER_COLOR = "#64748b"
SPACELESS_LANGUAGES = frozenset({"ja", "zh", "yue", "th", "lo", "km", "my", "bo"})

# Run once per page by gr.HTML(js_on_load=...): clicks on anything with data-start seek the player; the turn
# being played is highlighted. Listeners sit on the component root, so they survive re-renders of its value.
SEEK_JS = """
element.addEventListener('click', (event) => {
  const target = event.target.closest('[data-start]');
  const audio = element.querySelector('audio.wx-audio');
  if (!target || !audio) return;
  audio.currentTime = parseFloat(target.dataset.start);
  audio.play().catch(() => {});
});
element.addEventListener('timeupdate', (event) => {
  const now = event.target.currentTime;
  element.querySelectorAll('.wx-turn').forEach((turn) => {
    const active = now >= parseFloat(turn.dataset.start) && now < parseFloat(turn.dataset.end);
    turn.classList.toggle('wx-active', active);
  });
}, true);
"""

VIEW_CSS = """
.wx-empty { color: var(--body-text-color-subdued); padding: 1.5em; text-align: center; }
.wx-audio { width: 100%; margin: 0.25em 0 0.75em; }
.wx-summary { display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; font-size: 0.9em;
  color: var(--body-text-color-subdued); margin-bottom: 0.5em; }
.wx-warnings { border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.08); padding: 0.5em 0.75em;
  margin: 0.5em 0; border-radius: 4px; font-size: 0.9em; }
.wx-warnings ul { margin: 0; padding-left: 1.2em; }
.wx-timeline { margin: 0.5em 0 1em; }
.wx-lane { display: flex; align-items: center; gap: 0.5em; margin: 3px 0; }
.wx-lane-name { width: 9em; flex: none; font-size: 0.85em; font-weight: 600; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.wx-track { position: relative; flex: 1; height: 16px; background: var(--background-fill-secondary);
  border-radius: 3px; }
.wx-bar { position: absolute; top: 0; bottom: 0; border-radius: 3px; cursor: pointer; opacity: 0.85; }
.wx-bar:hover { opacity: 1; }
.wx-axis { display: flex; justify-content: space-between; margin-left: 9.5em; font-size: 0.75em;
  color: var(--body-text-color-subdued); }
.wx-transcript { display: flex; flex-direction: column; gap: 0.6em; }
.wx-turn { border-left: 4px solid var(--wx-color); padding: 0.35em 0.75em; border-radius: 4px;
  background: var(--background-fill-secondary); cursor: pointer; }
.wx-turn.wx-active { outline: 2px solid var(--wx-color); }
.wx-turn-head { display: flex; gap: 0.75em; align-items: baseline; font-size: 0.85em; }
.wx-speaker { font-weight: 700; color: var(--wx-color); }
.wx-time { color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
.wx-text { margin: 0.2em 0 0; line-height: 1.55; }
.wx-word:hover { background: rgba(37, 99, 235, 0.15); border-radius: 2px; }
"""


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


def render_view(result: Result | None, audio_url: str | None = None) -> str:
    """The whole results panel: player, summary, warnings, timeline and transcript."""
    if result is None:
        return '<div class="wx-empty">Upload or record audio, then press <b>Transcribe</b>.</div>'
    parts = []
    if audio_url:
        parts.append(f'<audio class="wx-audio" controls preload="metadata" src="{html.escape(audio_url)}"></audio>')
    parts += [render_summary(result), render_warnings(result.warnings), render_timeline(result),
              render_transcript(result)]
    return '<div class="wx-view">' + "".join(part for part in parts if part) + "</div>"


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
    return '<div class="wx-summary">' + "".join(f"<span>{item}</span>" for item in items) + "</div>"


def render_warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(warning)}</li>" for warning in warnings)
    return f'<div class="wx-warnings" role="status"><b>Notes</b><ul>{items}</ul></div>'


def render_timeline(result: Result) -> str:
    """One lane per speaker with a bar per diarization turn; empty when diarization did not run."""
    turns: Sequence[SpeakerTurn] = result.diarization or ()
    if not turns:
        return ""
    span = max([result.duration, *(turn.end for turn in turns)]) or 1.0
    colors = speaker_colors(result)
    lanes = []
    for speaker in colors:
        bars = "".join(_bar(turn, span, colors[speaker]) for turn in turns if turn.speaker == speaker)
        if bars:
            lanes.append(f'<div class="wx-lane"><span class="wx-lane-name" style="color:{colors[speaker]}">'
                         f'{html.escape(speaker)}</span><div class="wx-track">{bars}</div></div>')
    ticks = "".join(f"<span>{format_time(span * k / 4)}</span>" for k in range(5))
    return (f'<div class="wx-timeline" aria-label="speaker timeline">{"".join(lanes)}'
            f'<div class="wx-axis">{ticks}</div></div>')


def _bar(turn: SpeakerTurn, span: float, color: str) -> str:
    left = 100 * turn.start / span
    width = max(100 * (turn.end - turn.start) / span, 0.3)
    title = f"{turn.speaker}: {format_time(turn.start)} – {format_time(turn.end)}"
    return (f'<span class="wx-bar" data-start="{turn.start:.3f}" title="{html.escape(title)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{color}"></span>')


def render_transcript(result: Result) -> str:
    colors = speaker_colors(result)
    spaceless = (result.language or "") in SPACELESS_LANGUAGES
    blocks = [_turn_html(turn, colors.get(turn.speaker or "", NO_SPEAKER_COLOR), spaceless)
              for turn in merge_turns(result.segments)]
    if not blocks:
        return '<div class="wx-empty">No speech was found in this recording.</div>'
    return '<div class="wx-transcript">' + "".join(blocks) + "</div>"


def _turn_html(turn: Turn, color: str, spaceless: bool) -> str:
    speaker = f'<span class="wx-speaker">{html.escape(turn.speaker)}</span>' if turn.speaker else ""
    text = " ".join(_segment_html(seg, spaceless) for seg in turn.segments)
    return (f'<div class="wx-turn" style="--wx-color:{color}" data-start="{turn.start:.3f}" '
            f'data-end="{turn.end:.3f}"><div class="wx-turn-head">{speaker}'
            f'<span class="wx-time">{format_time(turn.start)} – {format_time(turn.end)}</span></div>'
            f'<p class="wx-text">{text}</p></div>')


def _segment_html(seg: Segment, spaceless: bool) -> str:
    """Words with their own start are clickable spans; otherwise the segment's text as is."""
    if not seg.words:
        return html.escape(seg.text.strip())
    words = []
    for word in seg.words:
        text = html.escape(word.word.strip())
        if word.start is None:
            words.append(text)
        else:
            words.append(f'<span class="wx-word" data-start="{word.start:.3f}">{text}</span>')
    return ("" if spaceless else " ").join(words)
