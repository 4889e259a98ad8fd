"""Live transcription sessions (`/v1/realtime?intent=transcription`) through the real `openai` SDK's Realtime
client, unchanged, against the real server started by `app.py`: `APP_MODE=api` (keys on, two sessions at most, a
voice enrolled in its library beforehand) and the page's server (`APP_MODE=ui`, the same route on its port).

Every server event is parsed strictly by the SDK's own types (`tests/realtime_types.py`). Nothing is mocked: the open
profile's tiny.en transcribes pyannote's real two-speaker recording and festival speech, the GE2E embedding model
labels the speakers. Audio is streamed faster than real time where latency is not the point (timings belong to
`python -m bench --parts live`); the one test of text while speaking streams at real time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
import websockets.exceptions
from openai import OpenAI
from websockets.sync.client import connect as ws_connect

from bench.live_client import LiveRun, encode_audio, stream
from tests import speech
from tests.realtime_types import strict_parse
from tests.test_openai_api import KEYS, start

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ADA = "Ada Lovelace"
MANUAL = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}


def read(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(str(path), dtype="float32")
    assert rate == speech.SAMPLE_RATE
    return samples


@pytest.fixture(scope="module")
def api_server(models_dir, voice_recordings, tmp_path_factory):
    """APP_MODE=api with keys, LIVE_MAX_SESSIONS=2, and the festival male voice enrolled as ADA (from a recording of
    him alone, other sentences) in its voice library before it starts."""
    data_dir = tmp_path_factory.mktemp("realtime-voices")
    env = {**os.environ, "MODELS_DIR": str(models_dir), "DATA_DIR": str(data_dir), "DEVICE": "cpu"}
    subprocess.run([sys.executable, "-m", "core", "voices", "add", ADA, str(voice_recordings["enrol"].path)],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    server = start(models_dir, "api", API_KEYS=",".join(KEYS), LIVE_MAX_SESSIONS="2", DATA_DIR=str(data_dir))
    yield server
    server.stop()


def client(server, key: str = KEYS[0]) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def ws_url(server, query: str = "intent=transcription") -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime?" + query


def live_sessions(server) -> int:
    health = httpx.get(server.url + "/health", headers={"Authorization": f"Bearer {KEYS[0]}"}, timeout=10)
    return health.json()["live"]["sessions"]


def wait_for(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def check_item_order(run: LiveRun) -> None:
    """Per item, the protocol's order: started < stopped < committed < added < (deltas) < completed < done."""
    order = ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
             "conversation.item.added", "conversation.item.input_audio_transcription.completed",
             "conversation.item.done")
    positions: dict[str, dict[str, int]] = {}
    for index, received in enumerate(run.received):
        raw = received.raw
        item = raw.get("item_id") or (raw.get("item") or {}).get("id")
        if item and raw["type"] in order:
            positions.setdefault(item, {})[raw["type"]] = index
    assert positions
    for item, seen in positions.items():
        indices = [seen[kind] for kind in order if kind in seen]
        assert indices == sorted(indices), (item, seen)
        assert "conversation.item.input_audio_transcription.completed" in seen, (item, seen)
        deltas = [i for i, r in enumerate(run.received)
                  if r.raw.get("item_id") == item and r.raw["type"].endswith(".delta")]
        assert all(i < seen["conversation.item.input_audio_transcription.completed"] for i in deltas)


def test_a_real_recording_streams_through_the_sdk_with_speakers(api_server, pyannote_sample):
    """pyannote's real two-speaker recording at 3x real time: every event is one the SDK's types describe, in the
    protocol's order; the live text is the offline text (same server, same model); segments carry two speakers."""
    path, reference_turns = pyannote_sample
    samples = read(path)
    run = stream(client(api_server), samples, speed=3.0, check=strict_parse, session={
        "type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-4o-transcribe-diarize", "language": "en"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                               "silence_duration_ms": 500}}}})
    kinds = [r.raw["type"] for r in run.received]
    assert kinds[0] == "session.created" and kinds[1] == "session.updated"
    assert "error" not in kinds
    check_item_order(run)
    updated = strict_parse(run.received[1].raw).session.audio.input
    assert updated.transcription.model == "gpt-4o-transcribe-diarize" and updated.transcription.language == "en"

    offline = client(api_server).audio.transcriptions.create(model="whisper-1", file=path, language="en")
    wer = speech.word_error_rate(offline.text, run.transcript())
    print(f"live vs offline WER {wer:.3f}\nlive: {run.transcript()}\noffline: {offline.text}")
    assert wer <= 0.2

    segments = run.segments()
    assert segments and all(s["speaker"] and s["text"] and s["end"] > s["start"] for s in segments)
    assert all(s["start"] >= 0 and s["end"] <= len(samples) / speech.SAMPLE_RATE + 2 for s in segments)
    labels = {s["speaker"] for s in segments}
    assert labels and all(label.isalpha() and label.isupper() and len(label) <= 2 for label in labels), labels
    # how well the two voices are told apart is the embedding model's (bench --parts live prints DER); the open
    # profile's GE2E hardly separates this recording's voices turn by turn (same voice 0.72–0.90, other 0.64–0.82)
    hypothesis = [(s["start"], s["end"], s["speaker"]) for s in segments]
    print(f"live DER {speech.diarization_error_rate(reference_turns, hypothesis, collar=0.5):.3f}, labels {labels}")


def test_text_comes_while_a_long_turn_is_still_spoken(api_server, data_dir):
    """At real time, an 11 s turn (one festival voice reading three sentences with short pauses) shows text before
    the speaker stops, and the final text replaces the drafts."""
    path = data_dir / "long-turn.wav"
    if not path.exists():
        speech.make_dialogue(path, [(speech.MALE, text) for text in speech.ENROLMENT], gap_s=0.25)
    recording = read(path)
    run = stream(client(api_server), recording, speed=1.0, check=strict_parse, session={
        "type": "transcription", "audio": {"input": {"transcription": {"language": "en"}}}})
    items = [item for item in run.items() if "speech_end_ms" in item]
    longest = max(items, key=lambda item: item["speech_end_ms"] - item["speech_start_ms"])
    assert longest["speech_end_ms"] - longest["speech_start_ms"] >= 8000, items
    spoken_until = run.sent_at(longest["speech_end_ms"])
    assert longest["deltas"] and longest["deltas"][0][0] < spoken_until - 2.0, (longest["deltas"], spoken_until)
    script = " ".join(speech.ENROLMENT)
    assert speech.word_error_rate(script, run.transcript()) <= 0.2, run.transcript()


def test_an_enrolled_voice_is_named_and_no_one_else(api_server, voice_recordings):
    """The library knows the festival male voice (enrolled from other sentences) as ADA: in a three-person meeting his
    words are named ADA, and the two other voices get letters of their own, consistent over the session."""
    meeting = voice_recordings["meeting"]
    run = stream(client(api_server), read(meeting.path), speed=3.0, check=strict_parse, session={
        "type": "transcription", "audio": {"input": {"transcription": {"language": "en"}}}})
    words = {"male": {}, "female": {}, speech.SECOND_MALE: {}}  # whose turn → label → words
    for segment in run.segments():
        middle = (segment["start"] + segment["end"]) / 2
        owner = next((who for start, end, who in meeting.turns if start - 0.3 <= middle <= end + 0.3), None)
        assert owner is not None, segment
        counts = words[owner]
        counts[segment["speaker"]] = counts.get(segment["speaker"], 0) + len(segment["text"].split())
    print(words)
    assert words["male"].get(ADA, 0) >= 0.8 * sum(words["male"].values()), words
    others = [max(words[who], key=words[who].get) for who in ("female", speech.SECOND_MALE)]
    assert ADA not in words["female"] and ADA not in words[speech.SECOND_MALE], words
    assert others[0] != others[1] and all(label.isalpha() and len(label) == 1 for label in others), words


def test_manual_commits_of_mulaw_audio(api_server, monologue):
    """Turn detection off (`null`) and G.711 μ-law at 8 kHz: nothing happens until the commit; then one item with
    the whole text."""
    run = stream(client(api_server), read(monologue.path), speed=0, commit=True, check=strict_parse, session={
        "type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None,
                                                     "transcription": {"language": "en"}}}})
    kinds = [r.raw["type"] for r in run.received]
    assert "input_audio_buffer.speech_started" not in kinds
    assert kinds.count("input_audio_buffer.committed") == 1
    assert kinds.count("conversation.item.input_audio_transcription.completed") == 1
    assert speech.word_error_rate(monologue.script, run.transcript()) <= 0.2, run.transcript()
    updated = strict_parse(run.received[1].raw).session.audio.input
    assert updated.format.type == "audio/pcmu" and updated.turn_detection is None


def test_malformed_events_get_errors_and_the_session_goes_on(api_server, monologue):
    pcm, _ = encode_audio(read(monologue.path))
    with client(api_server).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        assert connection.recv().type == "session.created"

        def next_event():
            raw = json.loads(connection.recv_bytes())
            strict_parse(raw)
            return raw

        sent = [
            ("{not json", "invalid_json", None, None),
            (json.dumps({"type": "input_audio_buffer.shout", "event_id": "evt_1"}), "invalid_value", "type", "evt_1"),
            (json.dumps({"type": "response.create", "event_id": "evt_2"}), "invalid_value", "type", "evt_2"),
            (json.dumps({"type": "session.update", "event_id": "evt_3", "session": {"type": "transcription", "audio": {
                "input": {"turn_detection": {"type": "server_vad", "threshold": 7}}}}}), "invalid_value",
             "session.audio.input.turn_detection.threshold", "evt_3"),
            (json.dumps({"type": "input_audio_buffer.append", "event_id": "evt_4", "audio": "%%%"}), "invalid_value",
             "audio", "evt_4"),
            (json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0\0\0").decode()}),
             "invalid_value", "audio", None),
            (json.dumps({"type": "input_audio_buffer.commit", "event_id": "evt_5"}),
             "input_audio_buffer_commit_empty", "input_audio_buffer", "evt_5"),
        ]
        connection.session.update(session=MANUAL)
        assert next_event()["type"] == "session.updated"
        for text, code, param, event_id in sent:
            connection.send_raw(text)
            error = next_event()
            assert error["type"] == "error", (text, error)
            assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (code, param,
                                                                                                    event_id), error
            assert error["error"]["message"]
        connection.send_raw(b"\x00\x01binary")
        assert next_event()["error"]["code"] == "invalid_type"
        # the session still works: audio in, a commit, the text
        for offset in range(0, len(pcm), 48_000):
            connection.input_audio_buffer.append(audio=base64.b64encode(pcm[offset: offset + 48_000]).decode())
        connection.input_audio_buffer.commit()
        kinds = []
        while "conversation.item.input_audio_transcription.completed" not in kinds:
            raw = next_event()
            kinds.append(raw["type"])
        assert speech.word_error_rate(monologue.script, raw["transcript"]) <= 0.2
        connection.input_audio_buffer.clear()
        while (raw := next_event())["type"] == "conversation.item.done":
            pass
        assert raw["type"] == "input_audio_buffer.cleared"


def test_handshakes_are_refused_with_openai_errors(api_server):
    with pytest.raises(websockets.exceptions.InvalidStatus) as wrong:
        client(api_server, key="not-a-key").realtime.connect(extra_query={"intent": "transcription"}).enter()
    assert wrong.value.response.status_code == 401
    assert json.loads(wrong.value.response.body)["error"]["code"] == "invalid_api_key"
    with pytest.raises(websockets.exceptions.InvalidStatus) as conversation:
        client(api_server).realtime.connect(model="gpt-realtime").enter()
    assert conversation.value.response.status_code == 400
    assert "intent=transcription" in json.loads(conversation.value.response.body)["error"]["message"]
    # a browser: no headers, the key in a subprotocol; the server answers with `realtime`, never the key
    with ws_connect(ws_url(api_server), subprotocols=["realtime", f"openai-insecure-api-key.{KEYS[1]}"]) as socket:
        assert socket.subprotocol == "realtime"
        assert json.loads(socket.recv(timeout=30))["type"] == "session.created"
    with pytest.raises(websockets.exceptions.InvalidStatus) as browser_wrong:
        ws_connect(ws_url(api_server), subprotocols=["realtime", "openai-insecure-api-key.nope"])
    assert browser_wrong.value.response.status_code == 401
    assert "nope" not in api_server.log()


def test_sessions_are_limited_and_a_dropped_client_frees_its_session(api_server, monologue):
    wait_for(lambda: live_sessions(api_server) == 0, "earlier sessions to close")
    pcm, _ = encode_audio(read(monologue.path))
    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    first = ws_connect(ws_url(api_server), additional_headers=headers)
    second = ws_connect(ws_url(api_server), additional_headers=headers)
    try:
        for socket in (first, second):
            assert json.loads(socket.recv(timeout=30))["type"] == "session.created"
        assert live_sessions(api_server) == 2
        with pytest.raises(websockets.exceptions.InvalidStatus) as full:
            ws_connect(ws_url(api_server), additional_headers=headers)
        assert full.value.response.status_code == 429
        # the first client vanishes mid-turn, without a closing handshake (a dropped network)
        first.send(json.dumps({"type": "input_audio_buffer.append",
                               "audio": base64.b64encode(pcm[: len(pcm) // 2]).decode()}))
        first.socket.close()
        wait_for(lambda: live_sessions(api_server) == 1, "the dropped session to be freed")
        third = ws_connect(ws_url(api_server), additional_headers=headers)
        assert json.loads(third.recv(timeout=30))["type"] == "session.created"
        third.close()
    finally:
        second.close()
        first.close()
    wait_for(lambda: live_sessions(api_server) == 0, "every session to close")


def test_a_client_that_sends_but_never_reads_is_let_go(api_server):
    """Every message that is not an event earns an `error` event. A client that keeps sending and never reads would
    make the server hold those events without end: past MAX_UNSENT_EVENTS unsent, it closes the session (1008)
    instead. The client's socket takes in 4 KB and its library one message, so the server's sends back up, once
    the connection's buffers are full (here ~200,000 messages, ~25 s on a quiet box)."""
    from openai_api.realtime import MAX_UNSENT_EVENTS

    wait_for(lambda: live_sessions(api_server) == 0, "earlier sessions to close")
    host, port = api_server.url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sent, deadline = 0, time.monotonic() + 300  # ~25 s alone; beside a busy test process it took over 100 s
    with ws_connect(ws_url(api_server), sock=sock, additional_headers={"Authorization": f"Bearer {KEYS[0]}"},
                    max_queue=1) as websocket:
        assert live_sessions(api_server) == 1
        with contextlib.suppress(websockets.exceptions.ConnectionClosed, OSError):
            while time.monotonic() < deadline and (sent % 1000 or live_sessions(api_server)):
                websocket.send("{}")
                sent += 1
        wait_for(lambda: live_sessions(api_server) == 0, "the session of a client that does not read to end", 20)
    assert sent > MAX_UNSENT_EVENTS
    assert "server events unread" in api_server.log_path.read_text()


def test_the_pages_server_serves_live_sessions_on_its_port(models_dir, monologue):
    server = start(models_dir, "ui")
    try:
        run = stream(client(server, key="unused"), read(monologue.path), speed=0, commit=True, check=strict_parse,
                     session={**MANUAL, "audio": {"input": {"turn_detection": None,
                                                            "transcription": {"language": "en"}}}})
        assert speech.word_error_rate(monologue.script, run.transcript()) <= 0.2, run.transcript()
    finally:
        server.stop()
