"""The multipart request of OpenAI's audio endpoints → one checked `ApiRequest`.

The body is capped while it streams in (Content-Length first, then a running count), so an oversized upload is
refused before it is read whole. Every field is checked here, with OpenAI's names in the messages: OpenAI's own
fields, then our options as further fields (`diarization`, `min_speakers`, `hotwords`, `word_timestamps`, ...,
as in docs/configuration.md, "Options").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncGenerator

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from core.errors import InvalidInput
from core.options import ALIASES, TranscribeOptions, field_type
from openai_api.errors import ApiError, ClientGone

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
STREAM_FORMATS = ("json", "text")  # as OpenAI: a stream of text deltas, for the text formats
GRANULARITIES = ("word", "segment")
MAX_KNOWN_SPEAKERS = 20
FIELDS_SLACK_BYTES = 16 * 1024 * 1024  # room beyond MAX_UPLOAD_MB for the other fields (speaker references)
MAX_FIELD_BYTES = 8 * 1024 * 1024  # one non-file field: a data URL of a speaker's voice
# Options that OpenAI's own fields or the endpoint decide, or that describe outputs this API does not return.
NOT_EXTRAS = frozenset({"model", "language", "task", "temperature", "initial_prompt", "output_formats",
                        "transcription", "translation", "translate", "debug"})
_COMMON = ("file", "model", "prompt", "response_format", "temperature")
_TRANSCRIPTION_ONLY = ("language", "timestamp_granularities", "stream", "chunking_strategy", "known_speaker_names",
                       "known_speaker_references", "include")
_CHUNKING = re.compile(r"^chunking_strategy\[(type|prefix_padding_ms|silence_duration_ms|threshold)\]$")


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    """What one audio request asks for, checked."""

    upload: UploadFile
    options: TranscribeOptions
    response_format: str
    stream: bool
    words: bool  # timestamp_granularities includes "word"
    speakers: tuple[tuple[str, str], ...]  # (name, data URL) of known speakers
    fields: dict[str, str]  # option name → the form field it came from, for error messages


class _BodyTooLarge(Exception):
    pass


class _CountedRequest(Request):
    """A request whose body stream stops with `_BodyTooLarge` past `limit` bytes."""

    limit = 0

    async def stream(self) -> AsyncGenerator[bytes, None]:
        total = 0
        async for chunk in super().stream():
            total += len(chunk)
            if total > self.limit:
                raise _BodyTooLarge
            yield chunk


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"file: the request is larger than the limit of {max_bytes // 2**20} MB (MAX_UPLOAD_MB)",
                    param="file", code="file_too_large")


async def read_form(request: Request, max_upload_bytes: int) -> tuple[FormData, Request]:
    """The parsed form, refusing an oversized body from its Content-Length or as soon as the count passes the
    limit; also the request object that read it (to watch for a disconnect)."""
    limit = max_upload_bytes + FIELDS_SLACK_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(max_upload_bytes)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(400, "the request must be multipart/form-data with the audio in the `file` field",
                       param="file", code="invalid_request")
    counted = _CountedRequest(request.scope, request.receive)
    counted.limit = limit
    try:
        form = await counted.form(max_files=4, max_fields=200, max_part_size=MAX_FIELD_BYTES)
    except _BodyTooLarge:
        raise too_large(max_upload_bytes) from None
    except ClientDisconnect:  # the client left during the upload: nothing to answer, nothing gone wrong here
        raise ClientGone from None
    except HTTPException as error:  # starlette turns the parser's refusals (and ours, raised inside it) into 400
        if isinstance(error.__context__, _BodyTooLarge):
            raise too_large(max_upload_bytes) from None
        raise ApiError(400, f"the multipart body could not be read: {error.detail}", code="invalid_request") from None
    return form, counted


def parse_request(form: FormData, task: str, max_upload_bytes: int) -> ApiRequest:
    """Check every field of a transcription (`task="transcribe"`) or translation request."""
    allowed = _COMMON + (_TRANSCRIPTION_ONLY if task == "transcribe" else ())
    extras = {key for key in ALIASES if ALIASES[key] not in NOT_EXTRAS}
    values: dict[str, list] = {}
    for key, value in form.multi_items():
        name = key[:-2] if key.endswith("[]") else key
        if _CHUNKING.match(key) and "chunking_strategy" in allowed:
            name = key
        elif name not in allowed and name not in extras:
            accepted = ", ".join([*allowed, *sorted(extras)])
            raise ApiError(400, f"unknown field {key!r}; accepted: {accepted}", param=key, code="unknown_parameter")
        values.setdefault(name, []).append(value)
    upload = _upload(values.get("file"), max_upload_bytes)
    _check_include(values.pop("include", []))
    text = {name: _text(name, items) for name, items in values.items() if name not in ("file",)
            and name not in ("timestamp_granularities", "known_speaker_names", "known_speaker_references")}
    formats = RESPONSE_FORMATS if task == "transcribe" else TRANSLATION_FORMATS
    response_format = (text.get("response_format") or "json").strip().lower()
    if response_format not in formats:
        raise ApiError(400, f"response_format={response_format!r} is not valid; accepted: {', '.join(formats)}",
                       param="response_format", code="invalid_value")
    stream = _flag("stream", text.get("stream", "false"))
    if stream and response_format not in STREAM_FORMATS:
        raise ApiError(400, f"stream=true streams text: use response_format {' or '.join(STREAM_FORMATS)}, not "
                       f"{response_format}", param="stream", code="invalid_value")
    granularities = [_text("timestamp_granularities[]", [item]).strip().lower()
                     for item in values.get("timestamp_granularities", [])]
    for item in granularities:
        if item not in GRANULARITIES:
            raise ApiError(400, f"timestamp_granularities[]={item!r} is not valid; accepted: word, segment",
                           param="timestamp_granularities[]", code="invalid_value")
    _check_chunking(text)
    speakers = _known_speakers(values, response_format)
    mapping, fields = _options(text, task)
    words = "word" in granularities
    if "align_output" not in mapping:  # words cost an alignment pass: only when asked for (or to split speakers)
        mapping["align_output"] = words or response_format == "diarized_json"
    if response_format == "diarized_json":
        if mapping.get("diarization") is False:
            raise ApiError(400, "response_format=diarized_json needs diarization; do not set diarization=false",
                           param="diarization", code="invalid_value")
        mapping["diarization"] = True
    try:
        options = TranscribeOptions.from_mapping(mapping)
    except InvalidInput as error:
        raise ApiError(400, _rename(error.message, fields), param=fields.get(error.field or "", error.field),
                       code="invalid_value") from None
    return ApiRequest(upload, options, response_format, stream, words, speakers, fields)


def _upload(items: list | None, max_bytes: int) -> UploadFile:
    if not items:
        raise ApiError(400, "file is required: the audio or video file, as a multipart file part", param="file",
                       code="missing_required_parameter")
    if len(items) > 1 or not isinstance(items[0], UploadFile):
        raise ApiError(400, "file must be exactly one file part (not a text field)", param="file",
                       code="invalid_value")
    upload = items[0]
    if upload.size is not None and upload.size > max_bytes:
        raise too_large(max_bytes)
    return upload


def _text(name: str, items: list) -> str:
    if len(items) > 1:
        raise ApiError(400, f"{name} was given {len(items)} times; give it once", param=name, code="invalid_value")
    if not isinstance(items[0], str):
        raise ApiError(400, f"{name} must be a text field, not a file", param=name, code="invalid_value")
    return items[0]


def _flag(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise ApiError(400, f"{name} must be true or false, got {raw[:40]!r}", param=name, code="invalid_value")


def _check_include(items: list) -> None:
    """OpenAI's `include[]` asks for extra output; its one value, `logprobs` (per-token log probabilities), is not
    something this server returns, so it is refused by name rather than as an unknown field."""
    for item in items:
        value = _text("include[]", [item]).strip().lower()
        if value == "logprobs":
            raise ApiError(400, "include[]=logprobs: per-token log probabilities are not available here (segments of "
                           "verbose_json carry avg_logprob); leave include out", param="include[]",
                           code="unsupported_value")
        raise ApiError(400, f"include[]={value[:40]!r} is not valid; accepted: logprobs (which this server refuses)",
                       param="include[]", code="invalid_value")


def _check_chunking(text: dict[str, str]) -> None:
    """`auto` or a `server_vad` object is accepted: WhisperX always cuts the audio at VAD speech boundaries."""
    plain = text.pop("chunking_strategy", None)
    kind = text.pop("chunking_strategy[type]", None)
    for key in [key for key in text if key.startswith("chunking_strategy[")]:
        del text[key]
    if plain is not None and plain.strip().lower() != "auto":
        raise ApiError(400, f"chunking_strategy={plain[:40]!r} is not valid; accepted: auto, or an object with "
                       "type server_vad", param="chunking_strategy", code="invalid_value")
    if kind is not None and kind.strip().lower() != "server_vad":
        raise ApiError(400, f"chunking_strategy.type={kind[:40]!r} is not valid; accepted: server_vad",
                       param="chunking_strategy", code="invalid_value")


def _known_speakers(values: dict[str, list], response_format: str) -> tuple[tuple[str, str], ...]:
    names = [_text("known_speaker_names[]", [item]).strip() for item in values.get("known_speaker_names", [])]
    references = [_text("known_speaker_references[]", [item]).strip()
                  for item in values.get("known_speaker_references", [])]
    if not names and not references:
        return ()
    if len(names) != len(references):
        raise ApiError(400, f"known_speaker_names[] ({len(names)}) and known_speaker_references[] "
                       f"({len(references)}) must have the same number of entries", param="known_speaker_names[]",
                       code="invalid_value")
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise ApiError(400, f"at most {MAX_KNOWN_SPEAKERS} known speakers", param="known_speaker_names[]",
                       code="invalid_value")
    if response_format != "diarized_json":
        raise ApiError(400, "known speakers name the speakers of response_format=diarized_json; set it",
                       param="known_speaker_names[]", code="invalid_value")
    for index, name in enumerate(names):
        if not name or len(name) > 100:
            raise ApiError(400, f"known_speaker_names[{index}] must be 1 to 100 characters",
                           param="known_speaker_names[]", code="invalid_value")
    if len(set(names)) != len(names):
        raise ApiError(400, "known_speaker_names[] must not repeat a name", param="known_speaker_names[]",
                       code="invalid_value")
    return tuple(zip(names, references, strict=True))


def _options(text: dict[str, str], task: str) -> tuple[dict, dict[str, str]]:
    """OpenAI's fields and our extras as an options mapping with typed values; and option → field names."""
    mapping: dict = {"task": task}
    fields: dict[str, str] = {}
    renames = {"model": "model", "language": "language", "prompt": "initial_prompt", "temperature": "temperature"}
    for key, raw in text.items():
        if key in ("response_format", "stream"):
            continue
        name = renames.get(key) or ALIASES[key]
        if name in fields:
            raise ApiError(400, f"{key!r} repeats {fields[name]!r} (the same option); give only one of them",
                           param=key, code="invalid_value")
        fields[name] = key
        mapping[name] = _typed(name, key, raw)
    fields.setdefault("initial_prompt", "prompt")
    return mapping, fields


def _typed(name: str, key: str, raw: str) -> object:
    """A form field's text in the option's type ("" or "null" is unset)."""
    value = raw.strip()
    kind = field_type(name)
    if value.lower() in ("", "null", "none"):
        return None
    if kind is bool:
        return _flag(key, value)
    if kind in (int, float):
        try:
            number = float(value)
        except ValueError:
            raise ApiError(400, f"{key} must be a number, got {value[:40]!r}", param=key,
                           code="invalid_value") from None
        return int(number) if kind is int and number.is_integer() else number
    return raw


def _rename(message: str, fields: dict[str, str]) -> str:
    """Our option names in a message → the request's field names (`initial_prompt` → `prompt`)."""
    for name, field in fields.items():
        if name != field:
            message = re.sub(rf"\b{re.escape(name)}\b", field, message)
    return message
