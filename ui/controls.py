"""Which options the page shows and how, derived from `TranscribeOptions` fields so no default is restated.

A `ControlSpec` is plain data (kind, label, default in the widget's terms, limits); `ui.layout` turns it into a
Gradio component and `to_options` turns the widgets' values back into a validated `TranscribeOptions`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from core import TranscribeOptions
from core.errors import InvalidInput
from core.options import field_type, is_nullable, option_fields

AUTO_LANGUAGE = "auto"

# Fields a page user never sets: the token is the server's (HF_TOKEN), `transcription` is a RunPod alias,
# `enable_vad` has no effect in WhisperX's batched pipeline.
# RunPod response fields (transcription/translation text, debug) have no place on the page.
HIDDEN_OPTIONS = frozenset({"huggingface_access_token", "transcription", "enable_vad", "translate", "translation",
                            "debug"})

# Groups of `field.metadata["group"]` shown together; decoding and VAD sit in the "Advanced" accordion.
BASIC_GROUPS = ("basic", "speakers", "output")
ADVANCED_GROUPS = ("decoding", "vad")

LABELS = {
    "align_output": "Word timestamps",
    "diarization": "Speaker diarization",
    "num_speakers": "Number of speakers",
    "min_speakers": "Min speakers",
    "max_speakers": "Max speakers",
    "output_formats": "Output formats",
    "max_line_width": "Subtitle line width",
    "max_line_count": "Subtitle lines",
    "highlight_words": "Highlight words in subtitles",
    "batch_size": "Batch size",
    "logprob_threshold": "Confidence threshold",
    "no_speech_threshold": "Silence threshold",
    "compression_ratio_threshold": "Repetition threshold",
    "temperature_increment_on_fallback": "Temperature step on retry",
    "condition_on_previous_text": "Use the previous text as context",
    "suppress_numerals": "Spell out numbers",
    "vad_onset": "Speech start sensitivity",
    "vad_offset": "Speech end sensitivity",
    "chunk_size": "Longest piece (s)",
    "diarization_model": "Speaker model",
    "recognize_voices": "Recognize voices",
    "suppress_tokens": "Symbols never to write",
    "language_detection_min_prob": "Language certainty",
    "language_detection_max_tries": "Language listening tries",
}

# The page's help, in the words of someone with a recording (the fields' own help, for the API, CLI and docs,
# speaks of settings and models).
UI_HELP = {
    "model": "Larger models are more accurate and slower.",
    "language": "The language spoken; Auto-detect listens to the start of the recording.",
    "task": "Write down what is said, or translate it into English.",
    "align_output": "Time every word, so a click on a word plays it.",
    "diarization": "Tell the voices apart and label who spoke when.",
    "num_speakers": "If you know how many people speak.",
    "min_speakers": "At least this many people speak.",
    "max_speakers": "At most this many people speak.",
    "output_formats": "Files to download besides the result (.json): subtitles (srt, vtt), plain text (txt), "
                      "a table (tsv), speaker turns (rttm).",
    "max_line_width": "Characters per subtitle line.",
    "max_line_count": "Lines per subtitle.",
    "highlight_words": "Underline each word in the subtitles while it is spoken.",
    "initial_prompt": "A sentence with the names, terms or spellings to expect.",
    "hotwords": "Words to listen out for, such as names and jargon.",
    "batch_size": "Pieces of audio worked on together: more is faster on a graphics card and needs more memory.",
    "beam_size": "Alternatives weighed for each passage: more can be more accurate and is slower.",
    "best_of": "Tries when a passage is written again with some randomness.",
    "patience": "How long to keep looking for a better wording.",
    "length_penalty": "Above 1 prefers longer wordings, below 1 shorter ones.",
    "temperature": "0 always picks the likeliest wording; higher adds randomness.",
    "temperature_increment_on_fallback": "Randomness added each time a passage has to be written again.",
    "compression_ratio_threshold": "Write a passage again when its text repeats itself more than this.",
    "logprob_threshold": "Write a passage again when the confidence is below this.",
    "no_speech_threshold": "Skip a passage that is at least this likely to be silence.",
    "suppress_numerals": "Write numbers as words (helps word timing).",
    "condition_on_previous_text": "Keeps names and style consistent; a mistake can repeat.",
    "vad_onset": "Higher ignores more quiet sounds when finding where speech starts.",
    "vad_offset": "Higher ends speech sooner after a pause.",
    "chunk_size": "Longest piece of audio transcribed at once, in seconds; shorter gives shorter lines.",
    "diarization_model": "Which installed speaker model tells the voices apart.",
    "recognize_voices": "Name the speakers whose voices are in the voice library (below the transcript).",
    "suppress_tokens": "Numbers of symbols never to write, separated by commas; -1 keeps the usual set.",
    "language_detection_min_prob": "With Auto-detect: listen to more of the recording until this sure (0 = once).",
    "language_detection_max_tries": "With Auto-detect: at most this many places in the recording to listen to.",
}

_SLIDER_STEPS = {int: 1, float: 0.001}


@dataclasses.dataclass(frozen=True)
class ControlSpec:
    """One widget: `kind` is dropdown, checkbox, checkboxgroup, number (optional, as text), slider or text.

    `value` is the default as the page's widget holds it; `api_default` as the `/transcribe` endpoint takes it
    (plain JSON: None for "the engine's default", lists for tuples)."""

    name: str
    kind: str
    label: str
    info: str
    group: str
    value: Any
    api_default: Any
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    precision: int | None = None
    none_means: str | None = None  # what an empty optional field stands for (`metadata["none_means"]`)

    @property
    def placeholder(self) -> str:
        """An empty optional field names its default (and, where there is room, the accepted range)."""
        span = "" if self.minimum is None or self.maximum is None else f"{self.minimum:g}–{self.maximum:g}"
        if self.none_means is None:
            return span or ("optional" if self.kind == "text" else "auto")
        if self.none_means == "none":
            return "optional"
        return f"default: {self.none_means}"

    @property
    def accepted(self) -> str:
        """The accepted range in words, for the field's help ("" when unbounded)."""
        return "" if self.minimum is None or self.maximum is None else f"{self.minimum:g} to {self.maximum:g}"


def labels() -> dict[str, str]:
    """Option name → the label on screen, for messages that must name what the user sees."""
    return {f.name: label_of(f.name) for f in option_fields() if f.name not in HIDDEN_OPTIONS}


def label_of(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def ui_option_names() -> tuple[str, ...]:
    """Option names in the order the page and the `/transcribe` API take them (field order)."""
    return tuple(f.name for f in option_fields() if f.name not in HIDDEN_OPTIONS)


def to_api_value(name: str, value: Any, *, default_model: str | None = None) -> Any:
    """An option value as the API documents it: the resolved default model, lists for tuples, else as is."""
    if name == "model":
        return value or default_model
    if field_type(name) is tuple:
        return list(value)
    return value


def to_widget_value(name: str, value: Any, *, default_model: str | None = None) -> Any:
    """An option value as its widget holds it (None language → "auto", tuples → lists, None → "")."""
    if name == "model":
        return value or default_model
    if name == "language":
        return value or AUTO_LANGUAGE
    if field_type(name) is tuple:
        return list(value)
    return "" if value is None else value


def from_widget_value(name: str, value: Any) -> Any:
    """Inverse of `to_widget_value`; `core` validates the result (type, range, choices)."""
    if name == "language" and (value is None or str(value).strip().lower() in ("", AUTO_LANGUAGE)):
        return None
    if isinstance(value, str) and not value.strip() and is_nullable(name):
        return None
    kind = field_type(name)
    if kind is tuple and value is None:
        return []
    if kind in (int, float) and isinstance(value, str):
        return _parse_number(name, value)
    return value


def _parse_number(name: str, text: str) -> float:
    """Optional numbers are text boxes (empty = the engine's default); `core` checks int-ness and range."""
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {text.strip()!r:.40}", field=name) from None


def to_options(values: Mapping[str, Any]) -> TranscribeOptions:
    """Widget values by option name → validated options (raises `InvalidInput` naming the field)."""
    return TranscribeOptions.from_mapping({name: from_widget_value(name, value) for name, value in values.items()})


def control_specs(models: Sequence[str], default_model: str, languages: Mapping[str, str],
                  diarization_models: Sequence[str] = (), *, batch_size: int | None = None) -> list[ControlSpec]:
    """One spec per visible option, from the field's type, default and metadata; `batch_size` is the server's
    (BATCH_SIZE or the device's default), named as what an empty batch size means."""
    specs = [_spec(field, models, default_model, languages) for field in option_fields()
             if field.name not in HIDDEN_OPTIONS]
    if batch_size is not None:
        specs = [dataclasses.replace(spec, none_means=str(batch_size)) if spec.name == "batch_size" else spec
                 for spec in specs]
    if diarization_models:  # installed speaker models, the default first (as the service lists them)
        choices = tuple(_model_choices(diarization_models, diarization_models[0]))
        specs = [dataclasses.replace(spec, kind="dropdown", choices=choices, value=diarization_models[0])
                 if spec.name == "diarization_model" else spec for spec in specs]
    return specs


def _spec(field: dataclasses.Field, models: Sequence[str], default_model: str,
          languages: Mapping[str, str]) -> ControlSpec:
    meta = field.metadata
    name = field.name
    common = {
        "name": name,
        "label": label_of(name),
        "info": UI_HELP.get(name) or meta.get("help", ""),
        "group": meta.get("group", "decoding"),
        "value": to_widget_value(name, field.default, default_model=default_model),
        "api_default": to_api_value(name, field.default, default_model=default_model),
        "none_means": meta.get("none_means"),
    }
    kind = field_type(name)
    if name == "model":
        return ControlSpec(kind="dropdown", choices=tuple(_model_choices(models, default_model)), **common)
    if name == "language":
        return ControlSpec(kind="dropdown", choices=tuple(language_choices(languages)), **common)
    if kind is tuple:
        return ControlSpec(kind="checkboxgroup", choices=tuple(meta["choices"]), **common)
    if kind is bool:
        return ControlSpec(kind="checkbox", **common)
    if kind is str:
        if meta.get("choices"):
            return ControlSpec(kind="dropdown", choices=tuple(meta["choices"]), **common)
        return ControlSpec(kind="text", **common)
    return _numeric_spec(kind, meta, common, nullable=field.default is None)


def _numeric_spec(kind: type, meta: Mapping[str, Any], common: dict[str, Any], *, nullable: bool) -> ControlSpec:
    """A bounded non-null number is a slider (exclusive bounds moved in by one step); a nullable one is a text
    box left empty for "the engine's default" (gr.Number cannot be empty: the browser sends 0)."""
    low, high = meta.get("minimum"), meta.get("maximum")
    precision = 0 if kind is int else None
    if not nullable and low is not None and high is not None:
        step = _SLIDER_STEPS[kind]
        low = low + step if meta.get("exclusive_minimum") else low
        high = high - step if meta.get("exclusive_maximum") else high
        return ControlSpec(kind="slider", minimum=low, maximum=high, step=step, precision=precision, **common)
    return ControlSpec(kind="number", minimum=low, maximum=high, precision=precision, **common)


def _model_choices(models: Sequence[str], default_model: str) -> list[tuple[str, str]]:
    names = list(dict.fromkeys([default_model, *models]))
    return [(f"{name} (default)" if name == default_model else name, name) for name in names]


def language_choices(languages: Mapping[str, str]) -> list[tuple[str, str]]:
    """Auto-detect, then each language by name; the page offers only what the chosen model can do (an
    English-only model hears everything as English: its one choice is English, also when nothing is chosen)."""
    ordered = sorted(languages.items(), key=lambda item: item[1])
    named = [(f"{name.title()} ({code})", code) for code, name in ordered]
    if len(named) == 1:
        return [(named[0][0], AUTO_LANGUAGE)]
    return [("Auto-detect", AUTO_LANGUAGE), *named]
