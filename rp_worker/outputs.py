"""The RunPod response: our result (docs/result.md) plus every key the peers' documented clients read.

- official faster-whisper worker: `transcription` (always; plain text unless `transcription` names a format),
  `word_timestamps` as its word list (how the words were timed is the result's `word_timing`),
  `translation` (always; null unless `translate`), `word_timestamps` (a flat word list when `word_timestamps` /
  `align_output` is on), and
  per segment `id`, `seek`, `tokens`, `temperature`, `avg_logprob`, `compression_ratio`, `no_speech_prob`;
- WhisperX worker: `detected_language`, `language_probability`, segments with `words` and `speaker`, and
  `speakers` as `{label: {"name", "time"}}` (its README's shape; a list of labels breaks its clients, while
  every client of a list can iterate this object's keys).

Decoder statistics come from the result when the engine recorded them; a value the batched decoder does not give
is null (docs/runpod.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import Result
from core.transcript.formats import Layout, response, transcription_text

SEGMENT_STATS = ("seek", "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob")


def runpod_output(result: Result, options: Any, *, uri: str | None = None,
                  names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The response for `result`; `names` (diarization label → person, from speaker verification) rename the
    speakers everywhere, and `speakers` maps each original label to its name."""
    table = speaker_table(result, names or {}) if result.diarized else None
    result = result.with_speaker_names(names or {})
    layout = Layout.of(options, uri)
    data = response(result, options, uri=uri)
    data["segments"] = [faster_whisper_segment(index, segment) for index, segment in enumerate(data["segments"], 1)]
    if "transcription" not in data:
        data["transcription"] = transcription_text(result, "plain_text", layout)
    data["translation"] = None
    if result.translation is not None:
        translated = Result(segments=result.translation, language="en")
        data["translation"] = transcription_text(translated, options.translation, layout)
    if options.align_output:  # its `word_timestamps`: timed by wav2vec2, or by Whisper where none is installed
        data["word_timestamps"] = [{"word": word.word, "start": word.start, "end": word.end,
                                    "probability": word.score}
                                   for segment in result.segments for word in segment.words]
    if table is not None:
        data["speakers"] = table
    return data


def faster_whisper_segment(index: int, segment: Mapping[str, Any]) -> dict[str, Any]:
    """`id` (1-based, as faster-whisper counts) first, then our keys, then each decoder statistic or null."""
    data = {"id": index, **segment}
    data.setdefault("seek", round(segment["start"] * 100))  # mel frames (100 per second), as faster-whisper counts
    for key in SEGMENT_STATS:
        data.setdefault(key, None)
    return data


def speaker_table(result: Result, names: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Diarization label → {"name": the matched person or the label itself, "time": seconds of speech}, by first
    turn; a speaker the voice library recognised is keyed by its label too, with its `score`."""
    seconds: dict[str, float] = {}
    for turn in result.diarization or ():
        seconds[turn.speaker] = seconds.get(turn.speaker, 0.0) + max(0.0, turn.end - turn.start)
    for label in result.speakers or ():
        seconds.setdefault(label, 0.0)
    scores = {found.name: found.score for found in result.voices or () if found.name}
    table: dict[str, dict[str, Any]] = {}
    for speaker, time in seconds.items():
        entry: dict[str, Any] = {"name": names.get(speaker) or speaker, "time": round(time, 2)}
        if speaker in scores:
            entry["score"] = scores[speaker]
        table[result.original_label(speaker)] = entry
    return table
