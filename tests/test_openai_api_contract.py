"""Fast checks of the OpenAI-compatible API's pieces that need no model: settings, the key check, the start-up
log about an open API, speaker labels, the shared queue's arithmetic and Gradio's queue guard. The server itself
is tested end to end in tests/test_openai_api.py."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest
from starlette.requests import Request

from core import Settings
from core.errors import InvalidInput
from core.service import Service
from openai_api.errors import ApiError
from openai_api.jobs import SharedQueue
from openai_api.responses import deltas, speaker_labels
from openai_api.routes import SpeechApi
from openai_api.server import log_access


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


def _request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def _api(**settings: object) -> SpeechApi:
    service = Service(Settings(**settings))
    return SpeechApi(service, SharedQueue(service, 2))


def test_bearer_keys():
    api = _api(api_keys=("alpha-key", "beta-key"))
    api.check_key(_request("Bearer beta-key"))
    api.check_key(_request("bearer alpha-key"))
    for header in (None, "", "Bearer", "Bearer alpha", "Bearer alpha-keyy", "Basic alpha-key", "alpha-key"):
        with pytest.raises(ApiError) as caught:
            api.check_key(_request(header))
        assert caught.value.status == 401 and caught.value.code == "invalid_api_key"
    _api().check_key(_request(None))  # no API_KEYS: open


@pytest.mark.parametrize(("host", "keys", "level", "needle"), [
    ("0.0.0.0", (), logging.WARNING, "is OPEN to anyone who can reach 0.0.0.0: set API_KEYS"),
    ("10.1.2.3", (), logging.WARNING, "is OPEN"),
    ("127.0.0.1", (), logging.INFO, "bound to loopback only"),
    ("localhost", (), logging.INFO, "bound to loopback only"),
    ("0.0.0.0", ("k1-secret",), logging.INFO, "1 API key(s) required"),
])
def test_startup_log_says_whether_the_api_is_open(caplog, host, keys, level, needle):
    caplog.set_level(logging.INFO, logger="openai_api.server")
    log_access(Service(Settings(api_keys=keys)), host)
    record = caplog.records[-1]
    assert record.levelno == level and needle in record.getMessage()
    assert "k1-secret" not in caplog.text


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


class _Engine:
    jobs_in_progress = 0


def _queue(page_waiting: int = 0, in_engine: int = 0) -> SharedQueue:
    service = types.SimpleNamespace(engine=_Engine())
    service.engine.jobs_in_progress = in_engine
    return SharedQueue(service, 2, page_waiting=lambda: page_waiting)  # type: ignore[arg-type]


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
