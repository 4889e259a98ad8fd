"""OpenAI's Realtime transcription protocol, as data: client events read and checked, server events written in the
exact shapes of the `openai` SDK's types (`openai.types.realtime`; tests parse every event we send with them).

Pure functions and small classes: no socket, no engine. `openai_api/realtime.py` does the talking.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import InvalidInput, WorkerError
from core.live import events
from core.live.session import LiveConfig
from core.live.turns import ServerVad

# OpenAI's transcription model names: each means the default model here (as in /v1/audio/transcriptions).
REALTIME_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
                   "gpt-4o-transcribe-diarize", "gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper")
FORMATS = {"audio/pcm": {"type": "audio/pcm", "rate": 24000}, "audio/pcmu": {"type": "audio/pcmu"},
           "audio/pcma": {"type": "audio/pcma"}}
NOISE_REDUCTION_TYPES = ("near_field", "far_field")
CLIENT_EVENTS = ("session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                 "input_audio_buffer.clear")
# Client events of conversation sessions: a transcription session has no responses and no items to edit.
CONVERSATION_EVENTS = ("response.create", "response.cancel", "conversation.item.create", "conversation.item.delete",
                       "conversation.item.retrieve", "conversation.item.truncate", "output_audio_buffer.clear")


class ProtocolError(Exception):
    """A client event we refuse; becomes an `error` event (the session goes on)."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message, self.code, self.param, self.kind = message, code, param, kind


@dataclasses.dataclass(frozen=True)
class SessionState:
    """What `session.updated` reports: the engine's settings and what the client named them."""

    config: LiveConfig
    model_name: str  # as the client gave it (or the installed default)
    noise_reduction: dict | None = None  # accepted and reported; no filter is applied (docs/realtime.md)

    def to_dict(self) -> dict[str, Any]:
        config = self.config
        turn = config.turn_detection
        transcription = ({"model": self.model_name, "language": config.language, "prompt": config.prompt or ""}
                         if config.transcribe else None)
        return {
            "type": "transcription",
            "audio": {"input": {
                "format": dict(FORMATS[config.format_type]),
                "noise_reduction": self.noise_reduction,
                "transcription": transcription,
                "turn_detection": None if turn is None else {
                    "type": "server_vad", "threshold": turn.threshold, "prefix_padding_ms": turn.prefix_padding_ms,
                    "silence_duration_ms": turn.silence_duration_ms},
            }},
            "include": None,
        }


# ---- client events -------------------------------------------------------------------------------
def loads(text: str | bytes) -> Any:
    """One WebSocket message's JSON; `ProtocolError` when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("the message is not valid JSON: send one JSON event object per message",
                            code="invalid_json") from None


def parse_client_event(text: str | bytes) -> dict[str, Any]:
    """One WebSocket message → the event object with a known `type`; `ProtocolError` otherwise."""
    return checked_event(loads(text))


def checked_event(event: Any) -> dict[str, Any]:
    """A decoded message that is an event with a known `type`; `ProtocolError` otherwise."""
    if not isinstance(event, dict):
        raise ProtocolError("an event must be a JSON object with a `type`", code="invalid_type")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("missing required parameter: `type`", code="missing_required_parameter", param="type")
    if kind in CONVERSATION_EVENTS:
        raise ProtocolError(f"{kind} is not available in a transcription session (this server transcribes; it "
                            f"does not respond); accepted: {', '.join(CLIENT_EVENTS)}", code="invalid_value",
                            param="type")
    if kind not in CLIENT_EVENTS:
        raise ProtocolError(f"unknown event type {kind[:60]!r}; accepted: {', '.join(CLIENT_EVENTS)}",
                            code="invalid_value", param="type")
    return event


def event_id_of(event: Any) -> str | None:
    """The client's `event_id`, for the error that answers it."""
    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        return event["event_id"][:200]
    return None


def audio_of(event: Mapping[str, Any]) -> bytes:
    """`input_audio_buffer.append`'s audio bytes."""
    _only(event, ("type", "event_id", "audio"), "")
    audio = event.get("audio")
    if not isinstance(audio, str):
        raise ProtocolError("missing required parameter: `audio` (base64-encoded audio bytes)",
                            code="missing_required_parameter", param="audio")
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("audio: not valid base64", code="invalid_value", param="audio") from None


def updated_state(state: SessionState, event: Mapping[str, Any], *,
                  resolve_model: Callable[[str | None], str]) -> SessionState:
    """`session.update` applied to `state`: fields present are changed, `null` clears (turn detection,
    transcription, noise reduction), everything is checked before anything changes."""
    _only(event, ("type", "event_id", "session"), "")
    session = event.get("session")
    if not isinstance(session, dict):
        raise ProtocolError("missing required parameter: `session` (an object)", code="missing_required_parameter",
                            param="session")
    kind = session.get("type")
    if kind != "transcription":
        raise ProtocolError(f"session.type must be 'transcription' (this server runs transcription sessions only), "
                            f"got {kind!r}", param="session.type")
    _only(session, ("type", "audio", "include"), "session")
    include = session.get("include")
    if include not in (None, []):
        raise ProtocolError("session.include: log probabilities are not available here; send null or []",
                            param="session.include")
    audio = _object(session, "audio", "session")
    inputs = _object(audio, "input", "session.audio") if audio is not None else None
    if audio is not None:
        _only(audio, ("input",), "session.audio")
    config, model_name, noise = state.config, state.model_name, state.noise_reduction
    if inputs is None:
        return state
    _only(inputs, ("format", "transcription", "turn_detection", "noise_reduction"), "session.audio.input")
    where = "session.audio.input"
    changes: dict[str, Any] = {}
    if "format" in inputs:
        changes["format_type"] = _format(inputs["format"], f"{where}.format")
    if "noise_reduction" in inputs:
        noise = _noise_reduction(inputs["noise_reduction"], f"{where}.noise_reduction")
    if "turn_detection" in inputs:
        changes["turn_detection"] = _turn_detection(inputs["turn_detection"], f"{where}.turn_detection")
    if "transcription" in inputs:
        transcription = inputs["transcription"]
        if transcription is None:
            changes["transcribe"] = False
        else:
            path = f"{where}.transcription"
            if not isinstance(transcription, dict):
                raise ProtocolError(f"{path} must be an object or null", code="invalid_type", param=path)
            _only(transcription, ("model", "language", "prompt"), path)
            changes["transcribe"] = True
            if "model" in transcription:
                given = _optional_text(transcription["model"], f"{path}.model")
                try:
                    changes["model"] = resolve_model(given)
                except WorkerError as error:
                    raise ProtocolError(error.message, code="model_not_found", param=f"{path}.model") from None
                model_name = given or changes["model"]
            if "language" in transcription:
                changes["language"] = _optional_text(transcription["language"], f"{path}.language") or None
            if "prompt" in transcription:
                changes["prompt"] = _optional_text(transcription["prompt"], f"{path}.prompt") or None
    return SessionState(dataclasses.replace(config, **changes), model_name, noise)


def _format(value: Any, path: str) -> str:
    if not isinstance(value, dict):
        raise ProtocolError(f"{path} must be an object such as {{\"type\": \"audio/pcm\", \"rate\": 24000}}",
                            code="invalid_type", param=path)
    _only(value, ("type", "rate"), path)
    kind = value.get("type", "audio/pcm")
    if kind not in FORMATS:
        raise ProtocolError(f"{path}.type {kind!r} is not supported; accepted: {', '.join(FORMATS)}",
                            param=f"{path}.type")
    if "rate" in value and value["rate"] is not None and (kind != "audio/pcm" or value["rate"] != 24000):
        raise ProtocolError(f"{path}.rate: audio/pcm is 24000 Hz (G.711 is 8000 Hz, without a rate); got "
                            f"{value['rate']!r}", param=f"{path}.rate")
    return kind


def _noise_reduction(value: Any, path: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"{path} must be an object or null", code="invalid_type", param=path)
    _only(value, ("type", "strength"), path)
    if value.get("type") not in (None, *NOISE_REDUCTION_TYPES):
        raise ProtocolError(f"{path}.type must be one of {', '.join(NOISE_REDUCTION_TYPES)}", param=f"{path}.type")
    strength = value.get("strength")
    if strength is not None and (not isinstance(strength, (int, float)) or isinstance(strength, bool)):
        raise ProtocolError(f"{path}.strength must be a number", code="invalid_type", param=f"{path}.strength")
    return {key: value[key] for key in ("type", "strength") if value.get(key) is not None}


def _turn_detection(value: Any, path: str) -> ServerVad | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"{path} must be an object or null", code="invalid_type", param=path)
    kind = value.get("type")
    if kind != "server_vad":
        raise ProtocolError(f"{path}.type {kind!r} is not supported; accepted: server_vad (or null for manual "
                            "commits)", param=f"{path}.type")
    # create_response / interrupt_response steer model responses, which transcription sessions never create.
    _only(value, ("type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
                  "interrupt_response"), path)
    fields: dict[str, Any] = {}
    for name, kinds in (("threshold", (int, float)), ("prefix_padding_ms", (int,)), ("silence_duration_ms", (int,))):
        if value.get(name) is None:
            continue
        if not isinstance(value[name], kinds) or isinstance(value[name], bool):
            raise ProtocolError(f"{path}.{name} must be {'a number' if float in kinds else 'an integer'}",
                                code="invalid_type", param=f"{path}.{name}")
        fields[name] = value[name]
    try:
        return ServerVad(**fields)
    except InvalidInput as error:
        raise ProtocolError(f"{path}.{error.message}", param=f"{path}.{error.field}") from None


def _object(parent: Mapping[str, Any], name: str, path: str) -> dict | None:
    value = parent.get(name)
    if value is not None and not isinstance(value, dict):
        raise ProtocolError(f"{path}.{name} must be an object", code="invalid_type", param=f"{path}.{name}")
    return value


def _optional_text(value: Any, path: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"{path} must be a string", code="invalid_type", param=path)
    return value.strip() if isinstance(value, str) else None


def _only(value: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    unknown = [key for key in value if key not in known]
    if unknown:
        name = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ProtocolError(f"unknown parameter: {name[:120]!r} (not supported here); accepted: "
                            f"{', '.join(known)}", code="unknown_parameter", param=name)


# ---- server events --------------------------------------------------------------------------------
def new_event_id() -> str:
    return "event_" + secrets.token_hex(10)


def error_event(message: str, *, code: str | None, param: str | None = None, kind: str = "invalid_request_error",
                event_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "event_id": new_event_id(),
            "error": {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id}}


def session_event(kind: str, state: SessionState) -> dict[str, Any]:
    """`session.created` or `session.updated`."""
    return {"type": kind, "event_id": new_event_id(), "session": state.to_dict()}


def server_events(event: events.LiveEvent) -> list[dict[str, Any]]:
    """A core live event → the protocol's server events, in order."""
    new_id = new_event_id
    if isinstance(event, events.SpeechStarted):
        return [{"type": "input_audio_buffer.speech_started", "event_id": new_id(), "item_id": event.item_id,
                 "audio_start_ms": event.audio_start_ms}]
    if isinstance(event, events.SpeechStopped):
        return [{"type": "input_audio_buffer.speech_stopped", "event_id": new_id(), "item_id": event.item_id,
                 "audio_end_ms": event.audio_end_ms}]
    if isinstance(event, events.Committed):
        return [{"type": "input_audio_buffer.committed", "event_id": new_id(), "item_id": event.item_id,
                 "previous_item_id": event.previous_item_id},
                {"type": "conversation.item.added", "event_id": new_id(), "previous_item_id": event.previous_item_id,
                 "item": _item(event.item_id, None, "in_progress")}]
    if isinstance(event, events.Cleared):
        return [{"type": "input_audio_buffer.cleared", "event_id": new_id()}]
    if isinstance(event, events.TextDelta):
        return [{"type": "conversation.item.input_audio_transcription.delta", "event_id": new_id(),
                 "item_id": event.item_id, "content_index": 0, "delta": event.delta}]
    if isinstance(event, events.Segment):
        return [{"type": "conversation.item.input_audio_transcription.segment", "event_id": new_id(),
                 "item_id": event.item_id, "content_index": 0, "id": event.segment_id, "start": event.start,
                 "end": event.end, "text": event.text, "speaker": event.speaker}]
    if isinstance(event, events.Completed):
        return [{"type": "conversation.item.input_audio_transcription.completed", "event_id": new_id(),
                 "item_id": event.item_id, "content_index": 0, "transcript": event.transcript,
                 "usage": {"type": "duration", "seconds": event.audio_s}},
                {"type": "conversation.item.done", "event_id": new_id(), "item": _item(event.item_id,
                                                                                       event.transcript, "completed")}]
    if isinstance(event, events.Failed):
        return [{"type": "conversation.item.input_audio_transcription.failed", "event_id": new_id(),
                 "item_id": event.item_id, "content_index": 0,
                 "error": {"type": "server_error", "code": "transcription_failed", "message": event.message,
                           "param": None}}]
    raise TypeError(f"not a live event: {type(event).__name__}")


def _item(item_id: str, transcript: str | None, status: str) -> dict[str, Any]:
    return {"id": item_id, "object": "realtime.item", "type": "message", "role": "user", "status": status,
            "content": [{"type": "input_audio", "transcript": transcript}]}
