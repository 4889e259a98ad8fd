"""`/v1/realtime?intent=transcription`: OpenAI's Realtime transcription sessions over a WebSocket, served on the
same router as the rest of `/v1` (so by `APP_MODE=api` and beside the page). The contract: docs/realtime.md.

The handshake is refused with OpenAI's error object and an HTTP status (a WebSocket denial response): by the
router's access policy when the credentials are wrong (401, `openai_api.auth`), here when the intent is not
transcription (400), the models are still loading (503) or LIVE_MAX_SESSIONS sessions are open (429). Once open, every
client event is answered in order; a bad one gets an `error` event and the session goes on. Decoding runs on the
live engine's worker; its events come back through a queue, so one slow client never holds up another. When the
client goes, its session is closed and everything it held is freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from core.errors import WorkerError
from core.live.engine import LiveBusy, check_language
from core.live.session import BufferTooSmall, LiveConfig
from openai_api import realtime_protocol as protocol
from openai_api.auth import KEY_SUBPROTOCOL
from openai_api.errors import ApiError, deny
from openai_api.realtime_protocol import ProtocolError, SessionState

logger = logging.getLogger(__name__)

BROWSER_SUBPROTOCOL = "realtime"  # what OpenAI's browser examples offer beside the key; the one we select
MAX_MESSAGE_BYTES = 16 * 2**20  # a client event at most (OpenAI: 15 MiB of audio per append, base64)
# Server events not yet sent, at most: a client that reads them keeps a handful waiting; one that only sends
# (each bad message earns an `error` event) is closed, so its unread events cannot grow without bound.
MAX_UNSENT_EVENTS = 2000
UNREAD_CLOSE_CODE = 1008  # policy violation


async def realtime(api: Any, websocket: WebSocket) -> None:
    """The route (registered by `openai_api.routes.create_router`)."""
    refusal = _refusal(api, websocket)
    if refusal is not None:
        await deny(websocket, refusal)
        return
    live = api.service.live
    default_model = api.service.default_model
    state = SessionState(LiveConfig(model=default_model), default_model)
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[dict | None] = asyncio.Queue()

    def on_event(event: Any) -> None:  # from the caller's thread or the live worker
        for message in protocol.server_events(event):
            with contextlib.suppress(RuntimeError):  # the server's loop closed (shutdown): nobody to tell
                loop.call_soon_threadsafe(outbox.put_nowait, message)

    try:
        session = await open_session(live, state.config, on_event)
    except LiveBusy as busy:
        await deny(websocket, _refused(429, busy.message, "rate_limit_exceeded", "session_limit_reached"))
        return
    except WorkerError as error:
        await deny(websocket, _refused(503, error.message, "server_error", "model_unavailable"))
        return
    try:
        await websocket.accept(subprotocol=_chosen_subprotocol(websocket))
        sender = asyncio.create_task(_send_all(websocket, outbox))
        outbox.put_nowait(protocol.session_event("session.created", state))
        try:
            await _receive_all(api, websocket, session, state, outbox)
        finally:
            outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, timeout=5)
            sender.cancel()
    finally:
        await asyncio.to_thread(session.close)


async def open_session(live: Any, config: Any, on_event: Any) -> Any:
    """`live.open` off the event loop (it may load a model). Should this handler be cancelled meanwhile (the
    server shutting down), the session it was opening is closed once open, so its slot is not held for good."""
    opening = asyncio.ensure_future(asyncio.to_thread(live.open, config, on_event))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_if_opened)
        raise


def _close_if_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        threading.Thread(target=opening.result().close, name="live-close", daemon=True).start()


async def _receive_all(api: Any, websocket: WebSocket, session: Any, state: SessionState,
                       outbox: asyncio.Queue[dict | None]) -> None:
    live = api.service.live
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        if outbox.qsize() > MAX_UNSENT_EVENTS:
            logger.warning("realtime client closed: %d server events unread", outbox.qsize())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code=UNREAD_CLOSE_CODE,
                                                       reason="the client does not read the server's events"), 5)
            return
        text = message.get("text")
        if text is None:
            text = message.get("bytes")
            if text is not None:
                outbox.put_nowait(protocol.error_event("binary messages are not events: send JSON text messages",
                                                       code="invalid_type"))
                continue
        if text is None:
            continue
        event: Any = None
        try:
            if len(text) > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"the message is larger than {MAX_MESSAGE_BYTES // 2**20} MiB",
                                    code="message_too_large")
            event = protocol.loads(text)
            kind = protocol.checked_event(event)["type"]
            if kind == "input_audio_buffer.append":
                await asyncio.to_thread(session.append, protocol.audio_of(event))
            elif kind == "input_audio_buffer.commit":
                await asyncio.to_thread(session.commit)
            elif kind == "input_audio_buffer.clear":
                await asyncio.to_thread(session.clear)
            elif kind == "session.update":
                state = await asyncio.to_thread(_update, api, live, session, state, event)
                outbox.put_nowait(protocol.session_event("session.updated", state))
        except ProtocolError as error:
            outbox.put_nowait(protocol.error_event(error.message, code=error.code, param=error.param, kind=error.kind,
                                                   event_id=protocol.event_id_of(event)))
        except WorkerError as error:  # refused by the session (audio, commit): `field` is the protocol's param
            code = "input_audio_buffer_commit_empty" if isinstance(error, BufferTooSmall) else "invalid_value"
            outbox.put_nowait(protocol.error_event(error.message, code=code, param=error.field,
                                                   event_id=protocol.event_id_of(event)))
        except Exception as error:  # a bug: the client hears of it, the session goes on, the log has the trace
            logger.exception("realtime event failed")
            outbox.put_nowait(protocol.error_event(f"internal error: {type(error).__name__}", code="internal_error",
                                                   kind="server_error", event_id=protocol.event_id_of(event)))


def _update(api: Any, live: Any, session: Any, state: SessionState, event: dict) -> SessionState:
    """`session.update`, checked in full, then applied."""
    new = protocol.updated_state(state, event, resolve_model=lambda name: _model(api, name))
    config = new.config
    if config.language != state.config.language or config.model != state.config.model:
        try:
            language = check_language(config.language, live.decoder(config.model))
        except WorkerError as error:
            raise ProtocolError(error.message, param="session.audio.input.transcription.language") from None
        new = dataclasses.replace(new, config=dataclasses.replace(config, language=language))
    session.update(new.config)
    return new


def _model(api: Any, name: str | None) -> str:
    if name is None or not name.strip() or name.strip().lower() in protocol.REALTIME_MODELS:
        return api.service.default_model
    return api.service.resolve_model(name)


async def _send_all(websocket: WebSocket, outbox: asyncio.Queue[dict | None]) -> None:
    while True:
        message = await outbox.get()
        if message is None:
            return
        try:
            await websocket.send_text(json.dumps(message))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


def _refusal(api: Any, websocket: WebSocket) -> ApiError | None:
    """Why a handshake the access policy let through is refused, in the order a client can act on it."""
    if not api.ready.is_set():
        return _refused(503, "the models are still loading; retry shortly", "server_error", "model_loading")
    intent = websocket.query_params.get("intent")
    if intent != "transcription":
        return _refused(400, "this server runs Realtime transcription sessions only: connect with "
                        "?intent=transcription", "invalid_request_error", "invalid_intent")
    return None


def _refused(status: int, message: str, kind: str, code: str) -> ApiError:
    headers = {"Retry-After": "10"} if status in (429, 503) else None
    return ApiError(status, message, kind=kind, code=code, headers=headers)


def _subprotocols(websocket: WebSocket) -> list[str]:
    header = websocket.headers.get("sec-websocket-protocol", "")
    return [part.strip() for part in header.split(",") if part.strip()]


def _chosen_subprotocol(websocket: WebSocket) -> str | None:
    """`realtime` when offered; never the key (it would travel back in the response headers)."""
    offered = [name for name in _subprotocols(websocket) if not name.startswith(KEY_SUBPROTOCOL)]
    if BROWSER_SUBPROTOCOL in offered:
        return BROWSER_SUBPROTOCOL
    return offered[0] if offered else None
