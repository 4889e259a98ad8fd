"""Fast checks of the OpenAI-compatible API's pieces that need no model: settings, the access policy (keys, the
page's users by HTTP Basic, open) and its start-up log line, speaker labels, the shared queue's arithmetic and
Gradio's queue guard. The server itself is tested end to end in tests/test_openai_api.py, every route's
guard in tests/test_route_auth.py."""

from __future__ import annotations

import asyncio
import base64
import logging
import types

import pytest
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from core import Settings
from core.errors import InvalidInput
from core.service import Service
from openai_api.auth import KEYS, OPEN, PAGE_USERS, Access, log_access
from openai_api.errors import ApiError, WebSocketRefused
from openai_api.jobs import SharedQueue
from openai_api.responses import deltas, speaker_labels


def test_settings_read_the_api_variables():
    settings = Settings.from_env({"APP_MODE": "API", "PORT": "9000", "PORT_HEALTH": "9001",
                                  "API_KEYS": " key-one , key-two ,", "MAX_QUEUE": "3"})
    assert (settings.app_mode, settings.port, settings.port_health, settings.api_keys, settings.max_queue) == (
        "api", 9000, 9001, ("key-one", "key-two"), 3)
    assert "key-one" not in repr(settings)  # keys are secrets: never in a repr or a log
    defaults = Settings.from_env({})
    assert (defaults.port, defaults.port_health, defaults.api_keys, defaults.max_queue) == (8000, None, (), 32)
    for variable, value in (("API_KEYS", ","), ("PORT", "http"), ("MAX_QUEUE", "0")):
        with pytest.raises(InvalidInput) as caught:
            Settings.from_env({variable: value})
        assert caught.value.field == variable


def _headers(authorization: str | None = None, **extra: str) -> Headers:
    given = {"authorization": authorization} if authorization is not None else {}
    return Headers({**given, **{name.replace("_", "-"): value for name, value in extra.items()}})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


PAGE_USERS_SETTINGS = (("alice", "s3cret:pw"), ("bob", "hunter2"))


def test_the_policy_follows_the_settings():
    assert Access.from_settings(Settings()).policy == OPEN
    assert Access.from_settings(Settings(ui_auth=PAGE_USERS_SETTINGS)).policy == PAGE_USERS
    assert Access.from_settings(Settings(api_keys=("k",), ui_auth=PAGE_USERS_SETTINGS)).policy == KEYS


def test_bearer_keys():
    access = Access(keys=("alpha-key", "beta-key"))
    assert access.refusal(_headers("Bearer beta-key")) is None
    assert access.refusal(_headers("bearer  alpha-key ")) is None
    assert access.refusal(_headers(sec_websocket_protocol="realtime, openai-insecure-api-key.alpha-key")) is None
    for header in (None, "", "Bearer", "Bearer alpha", "Bearer alpha-keyy", "Basic alpha-key", "alpha-key"):
        refusal = access.refusal(_headers(header))
        assert refusal.status == 401 and refusal.code == "invalid_api_key", header
        assert "API_KEYS" in refusal.message and refusal.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert Access().refusal(_headers()) is None  # neither API_KEYS nor UI_AUTH: open


def test_with_api_keys_the_page_users_are_not_accepted():
    """"With API_KEYS, keys as today": a page user's Basic credentials do not open the API."""
    access = Access.from_settings(Settings(api_keys=("alpha-key",), ui_auth=PAGE_USERS_SETTINGS))
    refusal = access.refusal(_headers(_basic("bob", "hunter2")))
    assert refusal.code == "invalid_api_key" and "page's users are not accepted" in refusal.message
    assert access.refusal(_headers("Bearer alpha-key")) is None


def test_page_users_by_http_basic():
    access = Access.from_settings(Settings(ui_auth=PAGE_USERS_SETTINGS))
    assert access.refusal(_headers(_basic("alice", "s3cret:pw"))) is None  # a colon in the password is kept
    assert access.refusal(_headers(_basic("bob", "hunter2"))) is None
    wrong = [_basic("alice", "hunter2"), _basic("bob", "hunter"), _basic("carol", "hunter2"), _basic("", ""),
             "Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode(),
             "Basic " + base64.b64encode(b"\xff\xfe:x").decode()]
    for header in wrong:
        refusal = access.refusal(_headers(header))
        assert refusal.status == 401 and refusal.code == "invalid_credentials", header
        assert refusal.message.startswith("wrong user name or password")
    for header, start in ((None, "this API is behind the web page's login (UI_AUTH)"),
                          ("Bearer hunter2", "API keys are not accepted: this server has no API_KEYS")):
        refusal = access.refusal(_headers(header))
        assert refusal.message.startswith(start), refusal.message
    for refusal in (access.refusal(_headers(header)) for header in (None, "Bearer x", *wrong)):
        # how to get in: the page's users by HTTP Basic, or keys; and a challenge a browser answers
        assert "Authorization: Basic base64(user:password)" in refusal.message and "API_KEYS" in refusal.message
        assert refusal.headers["WWW-Authenticate"] == 'Basic realm="whisperx-worker", charset="UTF-8"'
        assert "hunter2" not in refusal.message and "s3cret" not in refusal.message


def test_a_refused_websocket_handshake_carries_the_same_error_as_a_request():
    access = Access(keys=("alpha-key",))

    def handshake(**headers: str) -> HTTPConnection:
        raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
        return HTTPConnection({"type": "websocket", "path": "/v1/realtime", "headers": raw})

    access.check(handshake(authorization="Bearer alpha-key"))
    access.check(handshake(sec_websocket_protocol="openai-insecure-api-key.alpha-key"))
    with pytest.raises(WebSocketRefused) as caught:
        access.check(handshake(sec_websocket_protocol="openai-insecure-api-key.beta-key"))
    assert caught.value.error.status == 401 and "API_KEYS" in caught.value.error.message
    assert caught.value.error.code == "invalid_api_key"
    with pytest.raises(ApiError):
        access.check(HTTPConnection({"type": "http", "path": "/v1/models", "headers": []}))


def test_the_signed_in_page_opens_a_websocket_from_its_own_origin_only():
    """A browser's WebSocket cannot send Authorization: beside the page, its login cookie is accepted on the
    handshake (the Live tab), when the Origin is the server's own host; never for HTTP, never with API_KEYS."""
    sessions = {"good-token": "alice"}

    def page_session(connection: HTTPConnection) -> str | None:
        return sessions.get(connection.cookies.get("access-token-x", ""))

    def connect(kind: str = "websocket", **headers: str) -> HTTPConnection:
        raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
        return HTTPConnection({"type": kind, "path": "/v1/realtime", "headers": raw})

    access = Access.from_settings(Settings(ui_auth=PAGE_USERS_SETTINGS), page_session=page_session)
    own = {"host": "10.0.0.5:7860", "origin": "http://10.0.0.5:7860", "cookie": "access-token-x=good-token"}
    access.check(connect(**own))
    access.check(connect(**{**own, "host": "internal:7860", "x_forwarded_host": "10.0.0.5:7860"}))  # a proxy
    refused = [{**own, "origin": "https://evil.example"}, {**own, "origin": ""},
               {k: v for k, v in own.items() if k != "origin"}, {**own, "cookie": "access-token-x=stale"},
               {k: v for k, v in own.items() if k != "cookie"}]
    for headers in refused:
        with pytest.raises(WebSocketRefused):
            access.check(connect(**headers))
    with pytest.raises(ApiError):  # plain HTTP keeps HTTP Basic: a cookie would make it open to cross-site forms
        access.check(connect("http", **own))
    keyed = Access.from_settings(Settings(api_keys=("k",), ui_auth=PAGE_USERS_SETTINGS), page_session=page_session)
    with pytest.raises(WebSocketRefused):  # with API_KEYS, keys alone (the Live tab then asks for one)
        keyed.check(connect(**own))


@pytest.mark.parametrize(("host", "settings", "level", "needle"), [
    ("0.0.0.0", {}, logging.WARNING, "is OPEN to anyone who can reach 0.0.0.0: set API_KEYS"),
    ("10.1.2.3", {}, logging.WARNING, "is OPEN"),
    ("127.0.0.1", {}, logging.INFO, "bound to loopback only"),
    ("localhost", {}, logging.INFO, "bound to loopback only"),
    ("0.0.0.0", {"api_keys": ("k1-secret",)}, logging.INFO, "1 API key(s) required"),
    ("0.0.0.0", {"api_keys": ("k1-secret",), "ui_auth": (("ann", "pw-secret"),)}, logging.INFO,
     "1 API key(s) required"),
    ("0.0.0.0", {"ui_auth": (("ann", "pw-secret"), ("bo", "pw2-secret"))}, logging.INFO,
     "sign-in required as one of the page's 2 user(s) by HTTP Basic (UI_AUTH; no API_KEYS)"),
])
def test_startup_log_says_which_policy_guards_the_api(caplog, host, settings, level, needle):
    caplog.set_level(logging.INFO, logger="openai_api.auth")
    log_access(Access.from_settings(Settings(**settings)), host)
    record = caplog.records[-1]
    assert record.levelno == level and needle in record.getMessage()
    assert "secret" not in caplog.text and "ann" not in caplog.text


def test_speaker_labels_letters_and_names():
    labels = [f"SPEAKER_{i:02d}" for i in range(28)]
    named = speaker_labels(labels, {"SPEAKER_01": "Ada"})
    assert [named[label] for label in labels[:4]] == ["A", "Ada", "C", "D"]
    assert named["SPEAKER_26"] == "AA" and named["SPEAKER_27"] == "AB"


def test_deltas_join_to_the_text():
    from core.transcript.result import Segment

    first = deltas([Segment(start=0, end=1, text=" Hello there."), Segment(start=1, end=2, text="  ")], True)
    rest = deltas([Segment(start=2, end=3, text=" General Kenobi.")], False)
    assert "".join(first + rest) == "Hello there. General Kenobi."


def test_the_last_delta_carries_speech_found_after_the_deltas():
    from openai_api.responses import rest_of

    assert rest_of("Hello there. General Kenobi.", "Hello there.") == " General Kenobi."
    assert rest_of("Hello there.", "Hello there.") == ""
    assert rest_of("Hello, you there. General Kenobi.", "Hello there.") == ""  # found inside: the done event has it


def _queue(page_waiting: int = 0, in_engine: int = 0) -> SharedQueue:
    """The real Service over a stand-in engine that only reports how many jobs it holds (no models load)."""
    service = Service(Settings(), engine=types.SimpleNamespace(jobs_in_progress=in_engine))  # type: ignore[arg-type]
    return SharedQueue(service, 2, page_waiting=lambda: page_waiting)


def test_shared_queue_counts_every_waiting_job():
    assert _queue().waiting() == 0
    assert _queue(in_engine=1).waiting() == 0  # the running job is not waiting
    assert _queue(page_waiting=1, in_engine=2).waiting() == 2
    queue = _queue(in_engine=1)
    first = queue.admit()
    queue.admit()
    with pytest.raises(ApiError) as caught:
        queue.admit()
    assert caught.value.status == 429 and caught.value.headers["Retry-After"].isdigit()
    first.release()
    first.release()  # a ticket is released once
    assert queue.waiting() == 1
    queue.admit()


def test_the_page_is_refused_when_api_jobs_fill_the_queue():
    pushed = []

    class GradioQueue:
        async def push(self, body, request, username):
            pushed.append(body)
            return True, "event-id", "success"

    gradio_queue = GradioQueue()
    queue = _queue(in_engine=1)
    queue.guard(gradio_queue)
    assert asyncio.run(gradio_queue.push("job-1", None, None))[2] == "success"
    queue.admit()
    queue.admit()
    ok, message, state = asyncio.run(gradio_queue.push("job-2", None, None))
    assert (ok, state) == (False, "queue_full") and "Queue is full" in message
    assert pushed == ["job-1"]


def test_api_mode_refuses_to_start_without_its_default_model(models_dir, tmp_path):
    """A misbuilt image fails at once with the reason (before binding), so RunPod never routes to it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.servers import free_port

    env = {**os.environ, "APP_MODE": "api", "MODELS_DIR": str(models_dir), "WHISPER_MODEL": "large-v9",
           "PORT": str(free_port()), "GRADIO_SERVER_NAME": "127.0.0.1", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "app.py"], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "the default ASR model 'large-v9' is not installed" in done.stderr + done.stdout
