"""A RunPod job's `input` → what to fetch and the options: the fields both peers' clients send.

The audio fields and their accepted kinds are RunPod's (the official faster-whisper worker takes `audio` as a URL
and `audio_base64`; the WhisperX worker takes `audio_file`, a URL or base64); `core.media.fetch` fetches them
safely whatever the field. Every other field is an option (`core.options.TranscribeOptions`), except the WhisperX
worker's `speaker_verification` / `speaker_samples`, reference voices fetched like the audio, and our
`remember_speaker_samples`, which keeps those samples in the voice library (DATA_DIR).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from core import InvalidInput, TranscribeOptions
from core.speakers.voices import check_name

# field → the kinds of source it takes (core.media.fetch.SOURCE_KINDS)
AUDIO_FIELDS: dict[str, tuple[str, ...]] = {
    "audio": ("url", "data"),
    "audio_base64": ("base64", "data"),
    "audio_file": ("url", "data", "base64"),
}
AUDIO_HINTS = {"audio": "send raw base64 in audio_base64"}
SPEAKER_FIELDS = ("speaker_verification", "speaker_samples", "remember_speaker_samples")
RUNPOD_FIELDS = (*AUDIO_FIELDS, *SPEAKER_FIELDS)
TOKEN_FIELD = "huggingface_access_token"
MAX_SPEAKER_SAMPLES = 20
SAMPLE_KEYS = ("name", "url")


@dataclasses.dataclass(frozen=True)
class SpeakerSample:
    name: str
    source: str  # URL, data: URI or base64
    field: str  # where it came from, for messages: speaker_samples[2]


@dataclasses.dataclass(frozen=True)
class Request:
    field: str  # the audio field used
    source: str
    options: TranscribeOptions
    speaker_verification: bool = False
    speaker_samples: tuple[SpeakerSample, ...] = ()
    remember_speaker_samples: bool = False  # enrol the samples into the voice library, by name


def parse_input(payload: Any) -> Request:
    """`job["input"]` → a `Request`; every refusal names the field and what is accepted. Unknown keys are
    checked once, by `TranscribeOptions.from_mapping`, which lists these fields with the options."""
    if not isinstance(payload, Mapping):
        raise InvalidInput('input must be a JSON object, e.g. {"input": {"audio": "https://…/talk.mp3"}}')
    token = payload.get(TOKEN_FIELD)
    if token is not None and not isinstance(token, str):  # checked first so no message can echo the token
        raise InvalidInput(f"{TOKEN_FIELD} must be a string", field=TOKEN_FIELD)
    options = TranscribeOptions.from_mapping(payload, other_fields=RUNPOD_FIELDS)
    sources = [key for key in AUDIO_FIELDS if payload.get(key) not in (None, "")]
    if len(sources) != 1:
        given = f"got {len(sources)} ({', '.join(sources)})" if sources else "got none"
        raise InvalidInput(f"exactly one audio source is required: one of {', '.join(AUDIO_FIELDS)}; {given}",
                           field=sources[1] if len(sources) > 1 else "audio")
    field = sources[0]
    if not isinstance(payload[field], str):
        raise InvalidInput(f"{field} must be a string (URL, data: URI or base64), got {type(payload[field]).__name__}",
                           field=field)
    verification, remember = (_flag(payload, name) for name in ("speaker_verification", "remember_speaker_samples"))
    # Names the voice library would refuse are refused before anything is fetched, remembered or not: a sample
    # named like a diarization label (SPEAKER_01, from a clip of an earlier run) would merge two speakers.
    samples = tuple(dataclasses.replace(sample, name=check_name(sample.name, f"{sample.field}.name"))
                    for sample in parse_speaker_samples(payload.get("speaker_samples")))
    return Request(field, payload[field], options, verification, samples, remember)


def _flag(payload: Mapping[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be a boolean (true/false)", field=name)
    return value


def parse_speaker_samples(raw: Any) -> tuple[SpeakerSample, ...]:
    """`[{"name": "Ada", "url": "https://…/ada.wav"}, …]`; `url` may also be a data: URI or base64 (then `name`
    is required); without `name`, the URL's file name without extension is the name."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput('speaker_samples must be a list like [{"name": "Ada", "url": "https://…/ada.wav"}]',
                           field="speaker_samples")
    if len(raw) > MAX_SPEAKER_SAMPLES:
        raise InvalidInput(f"speaker_samples: at most {MAX_SPEAKER_SAMPLES} samples, got {len(raw)}",
                           field="speaker_samples")
    samples = []
    for index, item in enumerate(raw):
        field = f"speaker_samples[{index}]"
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping):
            raise InvalidInput(f'{field} must be an object like {{"name": "Ada", "url": "https://…"}}', field=field)
        unknown = sorted(set(item) - set(SAMPLE_KEYS))
        if unknown:
            extra = " (local files are not read; send a URL or base64)" if "file_path" in unknown else ""
            raise InvalidInput(f"{field}: unknown key {unknown[0]!r}{extra}; accepted: {', '.join(SAMPLE_KEYS)}",
                               field=field)
        source, name = item.get("url"), item.get("name")
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput(f"{field}.url must be a URL, data: URI or base64 string", field=field)
        if name is not None and not isinstance(name, str):
            raise InvalidInput(f"{field}.name must be a string", field=field)
        name = (name or _name_from_url(source)).strip()
        if not name:
            raise InvalidInput(f"{field}.name is required when url is not an http(s) URL with a file name",
                               field=field)
        samples.append(SpeakerSample(name[:100], source.strip(), field))
    return tuple(samples)


def _name_from_url(source: str) -> str:
    if not source.lower().startswith(("http://", "https://")):
        return ""
    try:
        path = urllib.parse.unquote(urllib.parse.urlsplit(source).path)
    except ValueError:  # not a valid URL: the fetch says so, naming the field
        return ""
    return PurePosixPath(path).stem
