"""Writers: pure functions of a `Result` and a `Layout`, called at the edges (RunPod output, UI downloads, CLI
files), never inside the engine. TXT and TSV use whisperx's own writers, RTTM pyannote's; SRT and WebVTT are
laid out into cues by `core.transcript.subtitles` (speaker changes, exact line width and count, real spans) and
written by whisperx's writers.

To add an output format, add its writer to `WRITERS`: `OUTPUT_FORMATS` (the option's accepted values, the RunPod
schema, the UI choices, the CLI help) is derived from it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from core.transcript.result import Result
from core.transcript.subtitles import cues, with_real_spans


@dataclasses.dataclass(frozen=True, kw_only=True)
class Layout:
    """How text outputs are laid out; `uri` names the recording inside RTTM."""

    max_line_width: int | None = None
    max_line_count: int | None = None
    highlight_words: bool = False
    uri: str | None = None

    @classmethod
    def of(cls, options: Any, uri: str | None = None) -> Layout:
        """The layout fields of a `TranscribeOptions` (any object with those attributes)."""
        return cls(max_line_width=options.max_line_width, max_line_count=options.max_line_count,
                   highlight_words=options.highlight_words, uri=uri)


def render(result: Result, fmt: str, layout: Layout | None = None) -> str:
    """Render one format of `OUTPUT_FORMATS`."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; accepted: {', '.join(OUTPUT_FORMATS)}") from None
    return writer(result, layout or Layout())


def render_all(result: Result, formats: Iterable[str], layout: Layout | None = None) -> dict[str, str]:
    return {fmt: render(result, fmt, layout) for fmt in formats}


def transcription_text(result: Result, kind: str, layout: Layout | None = None) -> str:
    """The faster-whisper worker's `transcription` field: plain or formatted text, or a subtitle format."""
    if kind == "plain_text":
        return result.text
    if kind == "formatted_text":
        return "\n".join(segment.text.strip() for segment in result.segments)
    return render(result, kind, layout)


def response(result: Result, options: Any, *, uri: str | None = None) -> dict[str, Any]:
    """The wire format of a finished job (RunPod output, the UI's `/transcribe`): the result's data, each asked
    format rendered under `outputs` (JSON is the response itself), and the `transcription` alias when asked."""
    layout = Layout.of(options, uri)
    data = result.to_dict()
    data["outputs"] = render_all(result, (fmt for fmt in options.output_formats if fmt != "json"), layout)
    if options.transcription is not None:
        data["transcription"] = transcription_text(result, options.transcription, layout)
    if getattr(options, "debug", False):
        from core.models.memory import memory_usage

        data["debug"] = {"timings": dict(result.timings), "memory": memory_usage()}
    return data


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


def _with_whisperx(writer_name: str) -> Callable[[Result, Layout], str]:
    def write(result: Result, layout: Layout) -> str:
        from whisperx import utils

        options = {
            "max_line_width": layout.max_line_width,
            "max_line_count": layout.max_line_count,
            "highlight_words": layout.highlight_words,
        }
        buffer = io.StringIO()
        getattr(utils, writer_name)(".").write_result(_whisperx_dict(result), file=buffer, options=options)
        return buffer.getvalue()

    return write


def _subtitles(writer_name: str) -> Callable[[Result, Layout], str]:
    """SRT/WebVTT: our cues (speaker label included), handed to whisperx's writer as one segment each: it
    formats the times and numbers the cues."""
    def write(result: Result, layout: Layout) -> str:
        from whisperx import utils

        from core.asr.languages import word_joiner  # here: the image's builder imports this module without core.asr

        joiner = word_joiner(result.text_language, timed_by_whisper=result.word_timing != "wav2vec2")
        laid = cues(result, layout.max_line_width, layout.max_line_count, joiner)
        if layout.highlight_words:  # real spans over all of them: a word's step never outlasts the next cue
            laid = with_real_spans([step for cue in laid for step in cue.highlighted()])
        segments = [{"start": cue.start, "end": cue.end, "text": cue.text()} for cue in laid]
        buffer = io.StringIO()
        plain = {"max_line_width": None, "max_line_count": None, "highlight_words": False}
        written = {"segments": segments, "language": result.text_language or "en"}
        getattr(utils, writer_name)(".").write_result(written, file=buffer, options=plain)
        return buffer.getvalue()

    return write


def _tsv(result: Result, layout: Layout) -> str:
    """whisperx's TSV (integer milliseconds) with a speaker column added when diarization ran."""
    if not result.diarized:
        return _with_whisperx("WriteTSV")(result, layout)
    lines = ["start\tend\tspeaker\ttext"]
    for seg in result.segments:
        text = seg.text.strip().replace("\t", " ")
        lines.append(f"{round(1000 * seg.start)}\t{round(1000 * seg.end)}\t{seg.speaker or ''}\t{text}")
    return "\n".join(lines) + "\n"


def _rttm(result: Result, layout: Layout) -> str:
    """pyannote's RTTM writer; empty when diarization did not run (RTTM has no meaning without it)."""
    from pyannote.core import Annotation, Segment

    uri = _rttm_token(layout.uri or "audio")
    annotation = Annotation(uri=uri)
    for index, turn in enumerate(result.diarization or ()):
        annotation[Segment(turn.start, turn.end), index] = _rttm_token(turn.speaker)
    buffer = io.StringIO()
    annotation.write_rttm(buffer)
    return buffer.getvalue()


def _rttm_token(value: str) -> str:
    """RTTM fields are whitespace-separated: a renamed speaker like "Ada L" must stay one field."""
    return re.sub(r"\s+", "_", value.strip()) or "_"


def _json(result: Result, layout: Layout) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)


WRITERS: dict[str, Callable[[Result, Layout], str]] = {
    "json": _json,
    "txt": _with_whisperx("WriteTXT"),
    "srt": _subtitles("WriteSRT"),
    "vtt": _subtitles("WriteVTT"),
    "tsv": _tsv,
    "rttm": _rttm,
}

OUTPUT_FORMATS: tuple[str, ...] = tuple(WRITERS)


def numbered_stems(stems: Iterable[str]) -> list[str]:
    """File stems for several inputs' outputs: `talk`, `talk-2`, ... so two inputs called the same (`a/talk.wav`,
    `b/talk.mp3`) never overwrite each other's files."""
    seen: dict[str, int] = {}
    numbered = []
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
        numbered.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return numbered
