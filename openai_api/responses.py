"""A finished `Result` in OpenAI's response shapes (the `openai` package's `Transcription`, `TranscriptionVerbose`,
`TranscriptionDiarized`, `Translation*` types) and its stream events (`transcript.text.delta` / `.done`).
Subtitles come from `core.transcript.formats`, the same writers as every other output."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from core.asr.languages import language_name
from core.transcript.formats import Layout, render
from core.transcript.result import Result, Segment
from openai_api.form import ApiRequest


def body(result: Result, request: ApiRequest, names: Mapping[str, str]) -> Response:
    """The response for `request.response_format`; `names` maps diarization labels to known speakers' names."""
    fmt = request.response_format
    if fmt == "text":
        return PlainTextResponse(result.text + "\n")
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(render(result, fmt, Layout.of(request.options)))
    usage = {"type": "duration", "seconds": result.duration}
    if fmt == "json":
        return JSONResponse({"text": result.text, "usage": usage})
    if fmt == "diarized_json":
        labels = speaker_labels(result.speakers or (), names)
        segments = [_diarized_segment(index, segment, labels) for index, segment in enumerate(result.segments)]
        return JSONResponse({"task": "transcribe", "duration": result.duration, "text": result.text,
                             "segments": segments, "usage": usage})
    # a translation's language is its text's, English (OpenAI's TranslationVerbose: "always `english`")
    verbose: dict[str, Any] = {"task": result.task, "language": language_name(result.text_language).lower(),
                               "duration": result.duration, "text": result.text,
                               "segments": [_verbose_segment(index, segment)
                                            for index, segment in enumerate(result.segments)]}
    if request.words:
        verbose["words"] = [{"word": word.word.strip(), "start": word.start, "end": word.end}
                            for segment in result.segments for word in segment.words
                            if word.start is not None and word.end is not None]
    verbose["usage"] = usage
    return JSONResponse(verbose)


def speaker_labels(labels: Iterable[str], names: Mapping[str, str]) -> dict[str, str]:
    """Diarization label → what OpenAI calls the speaker: the known speaker's name, else A, B, C, ... in order of
    first appearance."""
    return {label: names.get(label) or _letters(index) for index, label in enumerate(labels)}


def _diarized_segment(index: int, segment: Segment, labels: Mapping[str, str]) -> dict[str, Any]:
    """OpenAI's `TranscriptionDiarizedSegment`, plus `overlap_with` (the other speakers heard during it, as
    `speaker` names them) only where someone else also spoke: a client that does not know the key never sees it
    on other segments, and the SDK keeps it as an extra field."""
    data: dict[str, Any] = {"type": "transcript.text.segment", "id": f"seg_{index}", "start": segment.start,
                            "end": segment.end, "text": segment.text.strip(),
                            "speaker": labels.get(segment.speaker or "", segment.speaker or "")}
    if segment.overlap_with:
        data["overlap_with"] = sorted({labels.get(label, label) for label in segment.overlap_with})
    return data


def _letters(index: int) -> str:
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def _verbose_segment(index: int, segment: Segment) -> dict[str, Any]:
    return {"id": index, "seek": round(segment.start * 100), "start": segment.start, "end": segment.end,
            "text": segment.text, "tokens": list(segment.tokens or ()), "temperature": segment.temperature or 0.0,
            "avg_logprob": segment.avg_logprob or 0.0, "compression_ratio": segment.compression_ratio or 0.0,
            "no_speech_prob": segment.no_speech_prob or 0.0}


def deltas(segments: Iterable[Segment], first: bool) -> list[str]:
    """The text deltas of newly finished segments; joined over the whole job they are `Result.text`."""
    pieces = []
    for segment in segments:
        text = segment.text.strip()
        if text:
            pieces.append(text if first else " " + text)
            first = False
    return pieces


def rest_of(text: str, sent: str) -> str:
    """What `text` adds after the deltas already `sent`, when they are its beginning ("" otherwise: speech found
    later inside the recording cannot be appended, and the done event's text is the whole transcript)."""
    return text[len(sent):] if text.startswith(sent) else ""


def event(data: Mapping[str, Any]) -> str:
    """One Server-Sent Event, as OpenAI sends them (a `data:` line; the type is inside)."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def delta_event(text: str) -> str:
    return event({"type": "transcript.text.delta", "delta": text})


def done_event(text: str) -> str:
    return event({"type": "transcript.text.done", "text": text})
