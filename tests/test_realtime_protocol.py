"""Live transcription's parts that need no model: the Realtime protocol's events (every shape we send parsed strictly
by the `openai` SDK's own types), `session.update` checking, the handshake's key and subprotocol, the audio formats
against independent references (scipy's whole-signal resampler, the standard library's G.711 codec), Silero run
incrementally against faster-whisper's one-pass run, turn detection, word agreement, speaker labelling, and the
live-first rule between live sessions and batch jobs."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import warnings

import numpy as np
import pytest
from starlette.websockets import WebSocket

from core.errors import InvalidInput
from core.live import events
from core.live.agreement import LATE_DRAFT_S, StablePrefix
from core.live.audio import StreamDecoder, StreamResampler
from core.live.priority import LivePriority
from core.live.session import LiveConfig
from core.live.speakers import LiveSpeakers, VoiceSpace, _letters
from core.live.turns import ServerVad, TurnDetector
from openai_api import realtime_protocol as protocol
from openai_api.realtime import _chosen_subprotocol
from openai_api.realtime_protocol import ProtocolError, SessionState
from tests.realtime_types import strict_parse

STATE = SessionState(LiveConfig(model="base"), "base")


def resolve(name):
    if name in (None, "whisper-1", "gpt-4o-transcribe"):
        return "base"
    if name == "tiny.en":
        return "tiny.en"
    raise InvalidInput(f"model {name!r} is not installed", field="model")


def update(session: dict, state: SessionState = STATE) -> SessionState:
    return protocol.updated_state(state, {"type": "session.update", "session": session}, resolve_model=resolve)


def refused(session: dict) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        update(session)
    return caught.value


# ---- server events ------------------------------------------------------------------------------------------
ALL_CORE_EVENTS = [
    events.SpeechStarted("item_1", 20), events.SpeechStopped("item_1", 900), events.Committed("item_1", None),
    events.Committed("item_2", "item_1"), events.Cleared(), events.TextDelta("item_1", "hello"),
    events.Segment("item_1", "item_1_0", 0.32, 0.9, "Hello there.", "A"), events.Completed("item_1", "Hi.", 1.2, "en"),
    events.Failed("item_1", "transcription failed: RuntimeError"),
]


def test_every_server_event_parses_as_the_sdk_type_it_names():
    messages = [protocol.session_event("session.created", STATE), protocol.session_event("session.updated", STATE),
                protocol.error_event("bad", code="invalid_value", param="session.type", event_id="evt_1")]
    messages += [message for event in ALL_CORE_EVENTS for message in protocol.server_events(event)]
    parsed = [strict_parse(json.loads(json.dumps(message))) for message in messages]
    assert {type(model).__name__ for model in parsed} >= {
        "SessionCreatedEvent", "SessionUpdatedEvent", "RealtimeErrorEvent", "InputAudioBufferSpeechStartedEvent",
        "InputAudioBufferSpeechStoppedEvent", "InputAudioBufferCommittedEvent", "ConversationItemAdded",
        "InputAudioBufferClearedEvent", "ConversationItemInputAudioTranscriptionDeltaEvent",
        "ConversationItemInputAudioTranscriptionSegment", "ConversationItemInputAudioTranscriptionCompletedEvent",
        "ConversationItemDone", "ConversationItemInputAudioTranscriptionFailedEvent"}
    session = parsed[0].session
    assert type(session).__name__ == "RealtimeTranscriptionSessionCreateRequest"
    assert session.audio.input.turn_detection.silence_duration_ms == 500
    segment = next(model for model in parsed if model.type.endswith(".segment"))
    assert (segment.speaker, segment.start, segment.end) == ("A", 0.32, 0.9)


def test_the_strict_parse_catches_what_the_sdk_would_let_through():
    good = protocol.server_events(events.Segment("item_1", "s", 0.0, 1.0, "x", "A"))[0]
    with pytest.raises(AssertionError, match="not declare"):
        strict_parse({**good, "words": []})
    with pytest.raises(ValueError):
        strict_parse({key: value for key, value in good.items() if key != "speaker"})
    with pytest.raises(AssertionError, match="not a Realtime server event"):
        strict_parse({**good, "type": "transcript.segment"})


# ---- client events -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("message", "code", "param"), [
    ("{not json", "invalid_json", None),
    ("[1, 2]", "invalid_type", None),
    ('{"audio": "AAAA"}', "missing_required_parameter", "type"),
    ('{"type": "response.create"}', "invalid_value", "type"),
    ('{"type": "input_audio_buffer.shout"}', "invalid_value", "type"),
])
def test_bad_client_events_are_refused_by_name(message, code, param):
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_client_event(message)
    assert (caught.value.code, caught.value.param) == (code, param)
    assert "input_audio_buffer.append" in caught.value.message or code in ("invalid_json", "invalid_type",
                                                                           "missing_required_parameter")


def test_append_takes_base64_audio_only():
    assert protocol.audio_of({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\1\2").decode()}) \
        == b"\1\2"
    for event, code in (({"type": "input_audio_buffer.append"}, "missing_required_parameter"),
                        ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "invalid_value"),
                        ({"type": "input_audio_buffer.append", "audio": "AAAA", "rate": 8000}, "unknown_parameter")):
        with pytest.raises(ProtocolError) as caught:
            protocol.audio_of(event)
        assert caught.value.code == code


def test_session_update_changes_only_what_it_names():
    state = update({"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "far_field"},
        "transcription": {"model": "gpt-4o-transcribe", "language": "de", "prompt": "Kubernetes, Grafana"},
        "turn_detection": {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200,
                           "silence_duration_ms": 700, "create_response": False}}}})
    config = state.config
    assert (config.format_type, config.model, config.language, config.prompt) == ("audio/pcmu", "base", "de",
                                                                                  "Kubernetes, Grafana")
    assert config.turn_detection == ServerVad(threshold=0.6, prefix_padding_ms=200, silence_duration_ms=700)
    echoed = strict_parse(protocol.session_event("session.updated", state)).session.audio.input
    assert echoed.transcription.model == "gpt-4o-transcribe" and echoed.noise_reduction.type == "far_field"
    assert echoed.format.type == "audio/pcmu"

    manual = update({"type": "transcription", "audio": {"input": {"turn_detection": None}}}, state)
    assert manual.config.turn_detection is None and manual.config.language == "de"  # the rest stays
    off = update({"type": "transcription", "audio": {"input": {"transcription": None}}}, manual)
    assert not off.config.transcribe
    assert strict_parse(protocol.session_event("session.updated", off)).session.audio.input.transcription is None
    assert update({"type": "transcription", "audio": {"input": {"transcription": {"model": "tiny.en"}}}}
                  ).config.model == "tiny.en"


@pytest.mark.parametrize(("session", "code", "param"), [
    ({"type": "realtime"}, "invalid_value", "session.type"),
    ({"type": "transcription", "include": ["item.input_audio_transcription.logprobs"]}, "invalid_value",
     "session.include"),
    ({"type": "transcription", "voice": "alloy"}, "unknown_parameter", "session.voice"),
    ({"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
     "invalid_value", "session.audio.input.format.rate"),
    ({"type": "transcription", "audio": {"input": {"format": {"type": "audio/opus"}}}}, "invalid_value",
     "session.audio.input.format.type"),
    ({"type": "transcription", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}, "invalid_value",
     "session.audio.input.turn_detection.type"),
    ({"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}}},
     "invalid_value", "session.audio.input.turn_detection.threshold"),
    ({"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                       "silence_duration_ms": "long"}}}},
     "invalid_type", "session.audio.input.turn_detection.silence_duration_ms"),
    ({"type": "transcription", "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                       "idle_timeout_ms": 5000}}}},
     "unknown_parameter", "session.audio.input.turn_detection.idle_timeout_ms"),
    ({"type": "transcription", "audio": {"input": {"transcription": {"model": "large-v9"}}}}, "model_not_found",
     "session.audio.input.transcription.model"),
    ({"type": "transcription", "audio": {"input": {"transcription": {"delay": "low"}}}}, "unknown_parameter",
     "session.audio.input.transcription.delay"),
    ({"type": "transcription", "audio": {"input": {"noise_reduction": {"type": "studio"}}}}, "invalid_value",
     "session.audio.input.noise_reduction.type"),
])
def test_session_update_refusals_name_the_field(session, code, param):
    error = refused(session)
    assert (error.code, error.param) == (code, param), error.message
    assert param.rsplit(".", 1)[-1] in error.message


# ---- the handshake -----------------------------------------------------------------------------------------
def websocket(headers: dict[str, str]) -> WebSocket:
    scope = {"type": "websocket", "path": "/v1/realtime", "query_string": b"intent=transcription",
             "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]}
    return WebSocket(scope, receive=None, send=None)


def test_the_key_subprotocol_is_never_selected():
    offered = {"Sec-WebSocket-Protocol": "openai-insecure-api-key.secret, realtime"}
    assert _chosen_subprotocol(websocket(offered)) == "realtime"
    assert _chosen_subprotocol(websocket({"Sec-WebSocket-Protocol": "openai-insecure-api-key.secret"})) is None


# ---- audio -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [24_000, 8_000])
def test_stream_resampling_equals_resampling_the_whole_stream(rate):
    from scipy.signal import resample_poly

    rng = np.random.default_rng(7)
    signal = rng.standard_normal(rate * 2).astype(np.float32) * 0.1
    resampler, pieces, offset = StreamResampler(rate), [], 0
    while offset < len(signal):
        size = int(rng.integers(1, 2500))
        pieces.append(resampler.push(signal[offset: offset + size]))
        offset += size
    streamed = np.concatenate(pieces)
    divisor = math.gcd(rate, 16_000)
    whole = resample_poly(signal, 16_000 // divisor, rate // divisor)
    assert len(whole) - len(streamed) < 40  # only the last few ms wait for the next chunk
    np.testing.assert_allclose(streamed, whole[: len(streamed)], atol=1e-6)


@pytest.mark.parametrize(("format_type", "encode", "decode"), [("audio/pcmu", "lin2ulaw", "ulaw2lin"),
                                                               ("audio/pcma", "lin2alaw", "alaw2lin")])
def test_g711_decodes_as_the_standard_library_does(format_type, encode, decode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    every_code = bytes(range(256))
    reference = np.frombuffer(getattr(audioop, decode)(every_code, 2), "<i2") / 32768.0
    from core.live.audio import _G711

    np.testing.assert_array_equal(_G711[format_type], reference.astype(np.float32))
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 16000).astype("<i2")
    decoded = StreamDecoder(format_type).push(getattr(audioop, encode)(tone.tobytes(), 2))
    assert abs(len(decoded) - 16000) < 40 and 0.4 < np.abs(decoded).max() < 0.55


def test_pcm_must_be_whole_samples():
    with pytest.raises(InvalidInput, match="whole number of 2-byte samples"):
        StreamDecoder("audio/pcm").push(b"\0\0\0")
    with pytest.raises(InvalidInput, match="accepted: audio/pcm"):
        StreamDecoder("audio/flac")


def test_silero_run_incrementally_matches_one_pass():
    from faster_whisper.utils import get_assets_path
    from faster_whisper.vad import SileroVADModel

    from core.live.vad import FrameScorer
    from tests.speech import SAMPLE_RATE

    rng = np.random.default_rng(3)
    t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    audio += rng.standard_normal(len(audio)).astype(np.float32) * 0.01
    audio = audio[: len(audio) // 512 * 512]
    whole = SileroVADModel(f"{get_assets_path()}/silero_vad_v6.onnx")(audio.copy()).reshape(-1)
    scorer, pieces, offset = FrameScorer(), [], 0
    while offset < len(audio):
        size = int(rng.integers(100, 3000))
        pieces.append(scorer.push(audio[offset: offset + size]))
        offset += size
    # faster-whisper's one pass zeroes the last 64 samples of its input (`context[-1] = 0` writes through a view
    # of the audio), so only its last frame may differ
    np.testing.assert_allclose(np.concatenate(pieces)[:-1], whole[:-1], atol=1e-5)


# ---- turns, agreement, speakers, priority ---------------------------------------------------------------
def test_turns_start_after_enough_speech_and_stop_after_the_silence():
    detector = TurnDetector(ServerVad(threshold=0.5, silence_duration_ms=320))
    assert detector.push(np.array([0.1, 0.9, 0.1, 0.9, 0.9])) == []  # a click, then two frames: not yet
    (started,) = detector.push(np.array([0.9]))
    assert started.kind == "started" and started.ms == 3 * 32
    assert detector.push(np.array([0.4] * 20)) == []  # above threshold - 0.15: still speech
    changes = detector.push(np.array([0.2] * 10))
    assert [(c.kind, c.ms, c.speech_end_ms) for c in changes] == [("stopped", 36 * 32, 26 * 32)]
    with pytest.raises(InvalidInput, match="threshold"):
        ServerVad(threshold=1.5)


def test_only_words_two_drafts_agree_on_are_sent_and_the_final_completes_them():
    prefix = StablePrefix()
    assert prefix.update("and so my") == ""
    assert prefix.update("And so, my fellow") == "And so, my"
    assert prefix.update("and so my fellow Americans ask") == " fellow"
    assert prefix.update("and so my fellow americans, asked not") == " americans,"
    assert prefix.update("what a different draft") == ""  # never retracts what was sent
    assert prefix.rest_of("And so my fellow Americans, ask not what your country") == " ask not what your country"
    other = StablePrefix()
    other.update("hello world")
    other.update("hello world again")
    assert other.rest_of("Jello word again") == ""


def test_a_late_first_draft_shows_all_but_its_last_words_then_agreement_goes_on():
    """Drafts that start late (the decoder was busy with earlier finals) must still put text on screen while a long
    turn is spoken: a first draft of LATE_DRAFT_S or more of audio is trusted but its last UNSURE_TAIL_WORDS."""
    early = StablePrefix()
    assert early.update("so what do we need", seconds=LATE_DRAFT_S - 0.5) == ""  # early: agreement as before
    late = StablePrefix()
    assert late.update("so what do we need to", seconds=LATE_DRAFT_S) == "so what do we"
    assert late.update("so what do we need to talk about", seconds=LATE_DRAFT_S + 1) == " need to"
    assert late.update("so what do we need to talk about it", seconds=LATE_DRAFT_S + 2) == " talk about"
    short = StablePrefix()
    assert short.update("okay yeah", seconds=LATE_DRAFT_S + 1) == ""  # nothing but the unsure tail


def _space(references=None, link=0.7, name=0.85) -> VoiceSpace:
    return VoiceSpace(model=None, link_similarity=link, name_similarity=name, references=references or {})


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_speakers_keep_labels_and_take_library_names():
    ada = _unit(1, 0, 0, 0)
    speakers = LiveSpeakers(_space({"Ada": ada}))
    assert speakers.assign(_unit(0, 1, 0, 0), 3.0) == "A"
    assert speakers.assign(_unit(0, 0, 1, 0), 3.0) == "B"
    assert speakers.assign(_unit(0.1, 1, 0, 0), 2.0) == "A"
    assert speakers.assign(_unit(1, 0.2, 0, 0), 2.0) == "Ada"  # a known voice: its name at once
    assert speakers.assign(_unit(0, 0, 0, 1), 2.0) == "C"  # a new voice, the next letter
    assert [_letters(i) for i in (0, 25, 26)] == ["A", "Z", "AA"]
    # an unnamed speaker whose voice, over its turns, comes to match a library voice takes the name from then on
    later = LiveSpeakers(_space({"Bob": _unit(1, 1, 0, 0)}, link=0.3))
    assert later.assign(_unit(1, 0.2, 0, 0), 1.0) == "A"  # 0.83 to Bob: not enough alone
    assert later.assign(_unit(0.2, 1, 0, 0), 5.0) == "Bob"  # joins A (0.38 > 0.3); A's voice is now 0.91 Bob's
    assert later.assign(_unit(1, 0.2, 0, 0), 1.0) == "Bob"  # and stays so
    assert later.assign(_unit(0, 0, 1, 0), 1.0) == "B"


def test_live_decodes_go_first_and_batch_steps_wait_a_bounded_time():
    priority = LivePriority(max_pause_s=0.5)
    started = time.perf_counter()
    priority.yield_to_live()
    assert time.perf_counter() - started < 0.05  # nothing live: no wait
    priority.live_waiting(True)
    started = time.perf_counter()
    priority.yield_to_live()
    assert 0.45 < time.perf_counter() - started < 1.5  # live waiting: paused, but only up to the bound
    release = threading.Timer(0.1, priority.live_waiting, args=(False,))
    release.start()
    started = time.perf_counter()
    priority.yield_to_live()
    assert time.perf_counter() - started < 0.4  # resumes as soon as live work is done


def test_a_session_opened_after_its_handler_was_cancelled_is_closed():
    """The server shutting down cancels a handler while `live.open` (which may load a model) runs in a thread:
    the session that then opens is closed, so its slot does not stay taken."""
    import asyncio

    from openai_api.realtime import open_session

    closed = threading.Event()

    class Session:
        def close(self) -> None:
            closed.set()

    class Live:
        def open(self, config: object, on_event: object) -> Session:
            time.sleep(0.3)
            return Session()

    async def cancelled_while_opening() -> None:
        task = asyncio.create_task(open_session(Live(), None, None))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)

    asyncio.run(cancelled_while_opening())
    assert closed.wait(2), "the late session was closed"

    async def opened() -> Session:
        return await open_session(Live(), None, None)

    closed.clear()
    assert isinstance(asyncio.run(opened()), Session) and not closed.is_set()
