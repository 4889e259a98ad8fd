"""A live transcription client on the real `openai` SDK (`client.realtime.connect(extra_query={"intent":
"transcription"})`): streams a recording at a chosen pace and keeps every server event with its arrival time, so the
latencies are what a client sees. Used by `python -m bench --parts live` and by tests/test_realtime.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

SAMPLE_RATE = 16_000


def encode_audio(samples: np.ndarray, format_type: str = "audio/pcm") -> tuple[bytes, int]:
    """16 kHz float samples → the protocol's bytes and their bytes per second: 16-bit PCM at 24 kHz, or G.711
    μ-law / A-law at 8 kHz."""
    from scipy.signal import resample_poly

    if format_type == "audio/pcm":
        pcm = np.clip(resample_poly(samples, 3, 2), -1.0, 1.0)
        return (pcm * 32767).astype("<i2").tobytes(), 48_000
    import audioop  # the standard library's G.711 encoder (Python < 3.13): an independent reference

    linear = (np.clip(resample_poly(samples, 1, 2), -1.0, 1.0) * 32767).astype("<i2").tobytes()
    encoded = audioop.lin2ulaw(linear, 2) if format_type == "audio/pcmu" else audioop.lin2alaw(linear, 2)
    return encoded, 8_000


@dataclasses.dataclass
class Received:
    at_s: float  # seconds since the stream started
    raw: dict[str, Any]
    event: Any  # the SDK's parsed event


@dataclasses.dataclass
class LiveRun:
    """One streamed recording: the events, and when each stretch of audio was sent."""

    received: list[Received]
    sent: list[tuple[int, float]]  # (audio ms sent so far, seconds since the start) after each chunk
    silence_duration_ms: int
    prefix_padding_ms: int

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.raw["type"] == kind]

    def sent_at(self, audio_ms: float) -> float:
        """When the audio at `audio_ms` had been sent (the moment it was "spoken", at a real-time pace)."""
        for sent_ms, at in self.sent:
            if sent_ms >= audio_ms:
                return at
        return self.sent[-1][1]

    def items(self) -> list[dict[str, Any]]:
        """Per item: its speech span (ms, session clock), when its first text and its final text came, its
        transcript and segments."""
        found: dict[str, dict[str, Any]] = {}
        for r in self.received:
            raw = r.raw
            item = raw.get("item_id") or (raw.get("item") or {}).get("id")
            if item is None:
                continue
            entry = found.setdefault(item, {"item_id": item, "segments": [], "deltas": []})
            kind = raw["type"]
            if kind == "input_audio_buffer.speech_started":
                entry["speech_start_ms"] = raw["audio_start_ms"] + self.prefix_padding_ms
            elif kind == "input_audio_buffer.speech_stopped":
                entry["speech_end_ms"] = raw["audio_end_ms"] - self.silence_duration_ms
            elif kind == "conversation.item.input_audio_transcription.delta":
                entry["deltas"].append((r.at_s, raw["delta"]))
                entry.setdefault("first_text_at", r.at_s)
            elif kind == "conversation.item.input_audio_transcription.segment":
                entry["segments"].append(raw)
            elif kind == "conversation.item.input_audio_transcription.completed":
                entry["completed_at"] = r.at_s
                entry["transcript"] = raw["transcript"]
                entry.setdefault("first_text_at", r.at_s)
        return list(found.values())

    def transcript(self) -> str:
        return " ".join(r.raw["transcript"] for r in self.of_type(
            "conversation.item.input_audio_transcription.completed") if r.raw["transcript"])

    def segments(self) -> list[dict[str, Any]]:
        return [r.raw for r in self.of_type("conversation.item.input_audio_transcription.segment")]


def stream(client: Any, samples: np.ndarray, *, session: dict[str, Any] | None = None, speed: float = 1.0,
           chunk_ms: int = 100, tail_s: float = 1.5, timeout_s: float = 600.0, commit: bool = False,
           check: Callable[[dict[str, Any]], Any] | None = None) -> LiveRun:
    """Stream `samples` (16 kHz) through one session at `speed` × real time (0: as fast as the socket takes it),
    then `tail_s` of silence (so the last turn ends), or a commit (`commit=True`, for manual turns); return once
    every committed item is completed or failed. `check(raw)` sees every server event (the tests' strict parse)."""
    session = session or {"type": "transcription"}
    format_type = ((session.get("audio") or {}).get("input") or {}).get("format", {}).get("type", "audio/pcm")
    turn = ((session.get("audio") or {}).get("input") or {}).get("turn_detection", {}) or {}
    audio = np.concatenate([samples.astype(np.float32), np.zeros(int(tail_s * SAMPLE_RATE), np.float32)])
    data, bytes_per_s = encode_audio(audio, format_type)
    chunk = max(1, bytes_per_s * chunk_ms // 1000)
    if format_type == "audio/pcm":
        chunk -= chunk % 2
    received: list[Received] = []
    sent: list[tuple[int, float]] = []
    with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        started = time.perf_counter()
        connection.session.update(session=session)
        failure: list[BaseException] = []

        def send() -> None:
            try:
                for offset in range(0, len(data), chunk):
                    piece = data[offset: offset + chunk]
                    connection.input_audio_buffer.append(audio=base64.b64encode(piece).decode())
                    sent.append(((offset + len(piece)) * 1000 // bytes_per_s, time.perf_counter() - started))
                    if speed > 0:
                        delay = started + (offset + len(piece)) / bytes_per_s / speed - time.perf_counter()
                        if delay > 0:
                            time.sleep(delay)
                if commit:
                    connection.input_audio_buffer.commit()
                # the server answers every session.update, after everything sent before it: the receiving side
                # hears that all the audio is in even when it produced no event (silence)
                connection.session.update(session={"type": "transcription"})
            except Exception as error:  # noqa: BLE001 - surfaced by the receiving side
                failure.append(error)

        sender = threading.Thread(target=send, name="live-sender", daemon=True)
        sender.start()
        watchdog = threading.Timer(timeout_s, connection.close)
        watchdog.start()
        try:
            while True:
                try:
                    message = connection.recv_bytes()
                except ConnectionClosed:
                    break
                raw = json.loads(message)
                if check is not None:
                    check(raw)
                received.append(Received(time.perf_counter() - started, raw, connection.parse_event(message)))
                if not sender.is_alive() and _settled(received, commit):
                    break
        finally:
            watchdog.cancel()
        if failure:
            raise failure[0]
        if not _settled(received, commit):
            raise TimeoutError(f"the session did not finish within {timeout_s:.0f} s")
    return LiveRun(received, sent, int(turn.get("silence_duration_ms") or 500),
                   int(turn.get("prefix_padding_ms") or 300))


def _settled(received: list[Received], commit: bool) -> bool:
    kinds = [r.raw["type"] for r in received]
    committed = kinds.count("input_audio_buffer.committed")
    finished = (kinds.count("conversation.item.input_audio_transcription.completed")
                + kinds.count("conversation.item.input_audio_transcription.failed"))
    open_turns = kinds.count("input_audio_buffer.speech_started") - kinds.count("input_audio_buffer.speech_stopped")
    return (committed == finished and open_turns == 0 and (committed > 0 or not commit)
            and kinds.count("session.updated") >= 2)
