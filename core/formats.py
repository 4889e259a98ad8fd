"""Writers: pure functions of a `Result`. Subtitles, TXT and TSV use whisperx's own writers, RTTM pyannote's."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

from core.options import OUTPUT_FORMATS
from core.result import Result


def render(result: Result, fmt: str, **layout: Any) -> str:
    """Render one format. `layout` takes `max_line_width`, `max_line_count`, `highlight_words`, `uri`."""
    try:
        writer = _WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(OUTPUT_FORMATS)}") from None
    return writer(result, layout)


def render_all(result: Result, formats: tuple[str, ...], **layout: Any) -> dict[str, str]:
    return {fmt: render(result, fmt, **layout) for fmt in formats}


def _whisperx_dict(result: Result) -> dict[str, Any]:
    """What whisperx's writers read. Words are passed only when every segment has them, because its
    subtitle writer drops segments without words once the first segment has any."""
    with_words = result.aligned
    segments = []
    for seg in result.segments:
        data: dict[str, Any] = {"start": seg.start, "end": seg.end, "text": seg.text}
        if seg.speaker is not None:
            data["speaker"] = seg.speaker
        if with_words:
            data["words"] = [_whisperx_word(word) for word in seg.words]
        segments.append(data)
    return {"segments": segments, "language": result.language or "en"}


def _whisperx_word(word: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"word": word.word}
    if word.start is not None and word.end is not None:
        data.update(start=word.start, end=word.end)
    return data


def _with_whisperx(writer_name: str) -> Callable[[Result, dict[str, Any]], str]:
    def write(result: Result, layout: dict[str, Any]) -> str:
        from whisperx import utils

        options = {
            "max_line_width": layout.get("max_line_width"),
            "max_line_count": layout.get("max_line_count"),
            "highlight_words": bool(layout.get("highlight_words")),
        }
        buffer = io.StringIO()
        getattr(utils, writer_name)(".").write_result(_whisperx_dict(result), file=buffer, options=options)
        return buffer.getvalue()

    return write


def _tsv(result: Result, layout: dict[str, Any]) -> str:
    """whisperx's TSV (integer milliseconds) with a speaker column added when diarization ran."""
    if not result.diarized:
        return _with_whisperx("WriteTSV")(result, layout)
    lines = ["start\tend\tspeaker\ttext"]
    for seg in result.segments:
        text = seg.text.strip().replace("\t", " ")
        lines.append(f"{round(1000 * seg.start)}\t{round(1000 * seg.end)}\t{seg.speaker or ''}\t{text}")
    return "\n".join(lines) + "\n"


def _rttm(result: Result, layout: dict[str, Any]) -> str:
    """pyannote's RTTM writer; empty when diarization did not run (RTTM has no meaning without it)."""
    from pyannote.core import Annotation, Segment

    uri = _rttm_token(layout.get("uri") or "audio")
    annotation = Annotation(uri=uri)
    for index, turn in enumerate(result.diarization or ()):
        annotation[Segment(turn.start, turn.end), index] = _rttm_token(turn.speaker)
    buffer = io.StringIO()
    annotation.write_rttm(buffer)
    return buffer.getvalue()


def _rttm_token(value: str) -> str:
    """RTTM fields are whitespace-separated: a renamed speaker like "Ada L" must stay one field."""
    return re.sub(r"\s+", "_", value.strip()) or "_"


def _json(result: Result, layout: dict[str, Any]) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)


_WRITERS: dict[str, Callable[[Result, dict[str, Any]], str]] = {
    "json": _json,
    "txt": _with_whisperx("WriteTXT"),
    "srt": _with_whisperx("WriteSRT"),
    "vtt": _with_whisperx("WriteVTT"),
    "tsv": _tsv,
    "rttm": _rttm,
}
