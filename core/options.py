"""The one options object every front end builds (docs/configuration.md, "Options", lists the fields).

Each field carries its own help, limits, aliases and UI group in `metadata`, so the RunPod schema, the
Gradio controls and the CLI are derived from here and never restate a default.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import InvalidInput
from core.transcript.formats import OUTPUT_FORMATS

TRANSCRIPTION_FORMATS = ("plain_text", "formatted_text", "srt", "vtt")
TASKS = ("transcribe", "translate")


def _opt(default: Any, help: str, *, group: str = "decoding", **meta: Any) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "group": group, **meta})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranscribeOptions:
    """What one job asks for. `None` means "the engine's / whisperx's default"; a nullable field's
    `metadata["none_means"]` says what that is (shown by the page and docs/configuration.md; `tests/test_options.py`
    checks the decoding ones against whisperx's own)."""

    model: str | None = _opt(None, "ASR model name (must be installed); default: WHISPER_MODEL", group="basic")
    language: str | None = _opt(None, "ISO language code; empty = detect", group="basic")
    task: str = _opt("transcribe", "transcribe, or translate to English (replaces the transcript; `translate` keeps "
                     "both)", group="basic", choices=TASKS)
    align_output: bool = _opt(
        True, "word timestamps: wav2vec2 where installed for the language, else Whisper's own timing", group="basic",
        aliases=("word_timestamps",)
    )
    diarization: bool = _opt(False, "label who spoke when", group="speakers", aliases=("diarize",))
    diarization_model: str | None = _opt(
        None, "diarization pipeline, by installed name; default: the one the image was built with", group="speakers"
    )
    num_speakers: int | None = _opt(None, "exact number of speakers", group="speakers", minimum=1, maximum=64,
                                   none_means="auto")
    min_speakers: int | None = _opt(None, "at least this many speakers", group="speakers", minimum=1, maximum=64,
                                   none_means="auto")
    max_speakers: int | None = _opt(None, "at most this many speakers", group="speakers", minimum=1, maximum=64,
                                   none_means="auto")
    recognize_voices: bool = _opt(
        True, "name diarized speakers whose voices are in the voice library (DATA_DIR); off: keep SPEAKER_xx labels",
        group="speakers")
    huggingface_access_token: str | None = dataclasses.field(
        default=None,
        repr=False,
        metadata={"help": "per-job Hugging Face token for gated diarization weights", "group": "speakers"},
    )
    output_formats: tuple[str, ...] = _opt(
        ("json",), "formats to render", group="output", choices=OUTPUT_FORMATS
    )
    transcription: str | None = _opt(
        None, "faster-whisper worker alias: format of the `transcription` field", group="output",
        choices=TRANSCRIPTION_FORMATS,
    )
    translate: bool = _opt(False, "keep the transcript and add an English translation (a second decoding pass)",
                           group="output")
    translation: str = _opt("plain_text", "format of the `translation` field", group="output",
                            choices=TRANSCRIPTION_FORMATS)
    debug: bool = _opt(False, "add `debug` to the response: stage timings and memory use", group="output")
    max_line_width: int | None = _opt(None, "subtitle characters per line, the `[SPEAKER]: ` label counted",
                                     group="output", minimum=1, maximum=1000, none_means="no limit")
    max_line_count: int | None = _opt(None, "subtitle lines per cue; a cue never spans two speakers",
                                     group="output", minimum=1, maximum=100, none_means="no limit")
    highlight_words: bool = _opt(False, "underline each word as it is spoken in SRT/VTT (words with times only: text "
                                 "without word times is shown plain, as whisperX does)", group="output")
    initial_prompt: str | None = _opt(None, "text that primes the first window (names, jargon)", none_means="none")
    hotwords: str | None = _opt(None, "words to bias decoding towards", none_means="none")
    suppress_tokens: str | None = _opt(
        None, "comma-separated token ids never to emit; -1 = whisper's default set of symbols", parse="token_ids",
        none_means="-1"
    )
    language_detection_min_prob: float = _opt(
        0.0, "without `language`: detect again on other 30 s windows until a language reaches this probability",
        minimum=0.0, maximum=1.0)
    language_detection_max_tries: int = _opt(
        5, "windows to try at most for language detection (the most probable answer wins)",
        minimum=1, maximum=20)
    batch_size: int | None = _opt(None, "ASR batch size; default: BATCH_SIZE", minimum=1, maximum=256,
                                  none_means="BATCH_SIZE")
    beam_size: int | None = _opt(None, "beam search width", minimum=1, maximum=20, none_means="5")
    best_of: int | None = _opt(None, "candidates when sampling with temperature > 0", minimum=1, maximum=20,
                                none_means="5")
    patience: float | None = _opt(None, "beam search patience", minimum=0.0, maximum=10.0, exclusive_minimum=True,
                                  none_means="1")
    length_penalty: float | None = _opt(None, "exponential length penalty", minimum=0.0, maximum=10.0,
                                        none_means="1")
    temperature: float | None = _opt(None, "first sampling temperature", minimum=0.0, maximum=1.0,
                                      none_means="0")
    temperature_increment_on_fallback: float | None = _opt(
        None, "temperature step when decoding fails the thresholds", minimum=0.0, maximum=1.0, none_means="0.2"
    )
    compression_ratio_threshold: float | None = _opt(
        None, "treat a window as failed above this gzip ratio", minimum=0.0, maximum=100.0, none_means="2.4"
    )
    logprob_threshold: float | None = _opt(
        None, "treat a window as failed below this mean log-probability", minimum=-100.0, maximum=0.0, none_means="-1"
    )
    no_speech_threshold: float | None = _opt(None, "silence probability above which a window is skipped",
                                             minimum=0.0, maximum=1.0, none_means="0.6")
    suppress_numerals: bool = _opt(False, "spell numbers out (helps alignment)")
    condition_on_previous_text: bool = _opt(False, "feed the previous window's text as a prompt")
    vad_onset: float = _opt(0.500, "speech activation threshold", group="vad", minimum=0.0, maximum=1.0,
                            exclusive_minimum=True, exclusive_maximum=True)
    vad_offset: float = _opt(0.363, "speech deactivation threshold", group="vad", minimum=0.0, maximum=1.0,
                             exclusive_minimum=True, exclusive_maximum=True)
    chunk_size: int = _opt(30, "longest merged VAD chunk, in seconds", group="vad", minimum=1, maximum=30)
    enable_vad: bool = _opt(
        True, "faster-whisper worker field; VAD is always on in WhisperX's batched pipeline", group="vad"
    )

    def __post_init__(self) -> None:
        _check_speaker_counts(self)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, other_fields: Iterable[str] = ()) -> TranscribeOptions:
        """Build options from a JSON-like mapping: aliases mapped, unknown keys and bad types refused.
        `other_fields` are a front end's own fields (e.g. RunPod's audio sources): skipped here, and listed
        with the options when a key is unknown, so each request is checked for unknown keys once."""
        if not isinstance(mapping, Mapping):
            raise InvalidInput("input must be a JSON object")
        others = frozenset(other_fields)
        values: dict[str, Any] = {}
        for key, raw in mapping.items():
            if key in others:
                continue
            name = ALIASES.get(key)
            if name is None:
                accepted = ", ".join(sorted(accepted_keys() | others))
                raise InvalidInput(f"unknown field {key!r}; accepted: {accepted}", field=key)
            if name in values:
                raise InvalidInput(f"{key!r} repeats {name!r} (same option under another name); give only one of "
                                   "them", field=key)
            values[name] = coerce(name, raw, field=key)
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """Plain JSON values, without the token (what may be logged or echoed)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.pop("huggingface_access_token")
        data["output_formats"] = list(self.output_formats)
        return data


def option_fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(TranscribeOptions)


def field_type(name: str) -> type:
    """The base Python type of a field (`int` for `int | None`, `str` for `tuple[str, ...]` items)."""
    hint = typing.get_type_hints(TranscribeOptions)[name]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple
    return hint


def is_nullable(name: str) -> bool:
    hint = typing.get_type_hints(TranscribeOptions)[name]
    return type(None) in typing.get_args(hint)


ALIASES: dict[str, str] = {}
for _field in dataclasses.fields(TranscribeOptions):
    ALIASES[_field.name] = _field.name
    for _alias in _field.metadata.get("aliases", ()):
        ALIASES[_alias] = _field.name


def accepted_keys() -> set[str]:
    return set(ALIASES)


def coerce(name: str, raw: Any, *, field: str | None = None) -> Any:
    """Check one value against its field's type and limits; return it in the field's type."""
    field = field or name
    meta = next(f for f in option_fields() if f.name == name).metadata
    if raw is None:
        if is_nullable(name):
            return None
        raise InvalidInput(f"{field} must not be null", field=field)
    kind = field_type(name)
    if kind is tuple:
        return _coerce_formats(field, raw, meta["choices"])
    if meta.get("parse") == "token_ids":
        return _coerce_token_ids(field, raw)
    value = _check_type(field, raw, kind)
    if kind is str:
        value = value.strip()
        if name == "language":
            value = value.lower() or None
        choices = meta.get("choices")
        if choices and value not in choices:  # "plain text", "Plain-Text" → plain_text
            value = re.sub(r"[\s-]+", "_", value.lower())
        if choices and value not in choices:
            raise InvalidInput(f"{field}={value!r} is not valid; accepted: {', '.join(choices)}", field=field)
        return value or (None if is_nullable(name) else value)
    if kind in (int, float):
        _check_range(field, value, meta)
    return value


def _check_type(field: str, raw: Any, kind: type) -> Any:
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}
    if kind is bool:
        if isinstance(raw, bool):
            return raw
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
    elif kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
    elif isinstance(raw, kind):
        return raw
    raise InvalidInput(f"{field} must be {names[kind]}, got {type(raw).__name__} {raw!r:.60}", field=field)


def _check_range(field: str, value: float, meta: Mapping[str, Any]) -> None:
    low, high = meta.get("minimum"), meta.get("maximum")
    low_open, high_open = meta.get("exclusive_minimum", False), meta.get("exclusive_maximum", False)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left, right = ("(" if low_open else "["), (")" if high_open else "]")
        raise InvalidInput(f"{field}={value} is out of range; accepted: {left}{low}, {high}{right}", field=field)


def _coerce_formats(field: str, raw: Any, choices: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = [part.strip().lower() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        items = [item.strip().lower() for item in raw]
    else:
        raise InvalidInput(f"{field} must be a list of strings, e.g. [\"json\", \"srt\"]", field=field)
    unknown = [item for item in items if item not in choices]
    if unknown:
        raise InvalidInput(f"{field}: unknown format {unknown[0]!r}; accepted: {', '.join(choices)}", field=field)
    return tuple(dict.fromkeys(items))


def _coerce_token_ids(field: str, raw: Any) -> str:
    """`"-1"`, `"-1,50363"`, `-1` or `[-1, 50363]` → the canonical text `"-1,50363"` ("" suppresses nothing)."""
    items: list[Any]
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, int) and not isinstance(raw, bool):
        items = [raw]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise InvalidInput(f"{field} must be comma-separated token ids, e.g. \"-1\", got {type(raw).__name__}",
                           field=field)
    ids: list[int] = []
    for item in items:
        text = str(item).strip() if not isinstance(item, bool) else ""
        if not re.fullmatch(r"-?\d{1,6}", text) or int(text) < -1:
            raise InvalidInput(f"{field}: {item!r} is not a token id (an integer >= 0, or -1 for whisper's default "
                               "set)", field=field)
        ids.append(int(text))
    return ",".join(str(i) for i in dict.fromkeys(ids))


def token_ids(text: str) -> list[int]:
    """The canonical `suppress_tokens` text as the list faster-whisper takes."""
    return [int(part) for part in text.split(",") if part]


def _check_speaker_counts(options: TranscribeOptions) -> None:
    for name in ("num_speakers", "min_speakers", "max_speakers", "batch_size", "beam_size", "best_of"):
        value = getattr(options, name)
        if value is not None:
            coerce(name, value)
    low, high, exact = options.min_speakers, options.max_speakers, options.num_speakers
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"min_speakers ({low}) must not exceed max_speakers ({high})", field="min_speakers")
    if exact is not None and low is not None and exact < low:
        raise InvalidInput(f"num_speakers ({exact}) is below min_speakers ({low})", field="num_speakers")
    if exact is not None and high is not None and exact > high:
        raise InvalidInput(f"num_speakers ({exact}) is above max_speakers ({high})", field="num_speakers")
