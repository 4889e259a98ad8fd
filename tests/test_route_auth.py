"""A login covers every route on the port. The real app (`app.py`) runs in APP_MODE=ui with UI_AUTH and in
APP_MODE=api with API_KEYS; every route its servers serve is read from the app objects themselves
(tests/route_table.py) and requested without credentials, and each must be refused (401/403) unless it is public
by design: the lists below name each such route and why. A route added later without the guard fails this test
(`test_the_check_flags_a_route_added_without_the_guard`).

The page's users reach the API by HTTP Basic through the real `openai` SDK, with one real transcription (the open
profile's tiny.en on CPU); the keys of API_KEYS by Bearer. In headless Chromium, signing in on the page works and
nothing the page asks for is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from fastapi import WebSocket  # at module level: the handler below is annotated with it (FastAPI resolves the name)
from openai import OpenAI

from tests import speech
from tests.route_table import Route, routes_of, served_routes, unguarded
from tests.servers import free_port, log_tail, stop_process, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT_S = 240
USER, PASSWORD = "alice", "s3cret-pw"
KEY = "route-key-0123"
# app.py as the image runs it, after one hook that records the route table of each uvicorn server it starts
LAUNCH = ("import sys; from pathlib import Path; from tests.route_table import record_served_apps;"
          "record_served_apps(Path(sys.argv[1])); import app; sys.exit(app.main())")
pytestmark = pytest.mark.slow

_STATIC = "Gradio's front end (its package's scripts, styles, icons), the same for everyone: draws the login form"
_SESSION = "the caller's own sign-in state: null without a session; the login form asks for it"
# APP_MODE=ui with UI_AUTH: Gradio 6.17's routes that answer without its login, each for a reason; everything else
# (the page's config, uploads, files, the queue, /gradio_api/info, the API under /v1, /health) is refused.
UI_PUBLIC: dict[Route, str] = {
    Route("GET", "/"): "the login form, which the image's HEALTHCHECK probes (Gradio answers the page's config only "
                       "after the login; it also embeds the API's description, /transcribe's parameters and "
                       "defaults: no data and no way in)",
    Route("HEAD", "/"): "the same, headers only",
    Route("POST", "/login"): "the login form posts here",
    Route("POST", "/login/"): "the login form posts here",
    Route("GET", "/logout"): "ends the caller's own session",
    Route("GET", "/gradio_api/user"): _SESSION,
    Route("GET", "/gradio_api/user/"): _SESSION,
    Route("GET", "/gradio_api/token"): _SESSION,
    Route("GET", "/gradio_api/token/"): _SESSION,
    Route("GET", "/gradio_api/app_id"): "a random number naming this server's app (no data)",
    Route("GET", "/gradio_api/app_id/"): "a random number naming this server's app (no data)",
    Route("GET", "/assets/{path:path}"): _STATIC,
    Route("GET", "/svelte/{path:path}"): _STATIC,
    Route("GET", "/static/{path:path}"): _STATIC,
    Route("GET", "/favicon.ico"): _STATIC,
    Route("GET", "/theme.css"): _STATIC,
    Route("GET", "/gradio_api/theme.css"): _STATIC,
    Route("GET", "/manifest.json"): _STATIC,
    Route("GET", "/pwa_icon"): _STATIC,
    Route("GET", "/pwa_icon/{size}"): _STATIC,
    Route("GET", "/robots.txt"): "tells crawlers to stay away",
    Route("GET", "/gradio_api/startup-events"): "starts the app's start-up events once (Gradio's queue), then "
                                                "answers false; no data",
    Route("GET", "/gradio_api/heartbeat/{session_hash}"): "keeps a page's session alive (\"ALIVE\" events only) "
                                                          "by the random id the signed-in page made",
    Route("GET", "/gradio_api/upload_progress"): "an upload's progress by its random id; the upload itself "
                                                 "needs the login",
    Route("POST", "/gradio_api/cancel"): "the Stop button: needs a session's random id and the event id that "
                                         "the login-checked /gradio_api/queue/join gave it",
    Route("POST", "/gradio_api/reset"): "a no-op kept by Gradio for old clients",
    Route("POST", "/gradio_api/reset/"): "a no-op kept by Gradio for old clients",
    Route("GET", "/ping"): "readiness for load balancers and health checks: says only whether the models are loaded",
}
# APP_MODE=api with API_KEYS (and on its PORT_HEALTH server): only readiness is public
API_PUBLIC: dict[Route, str] = {
    Route("GET", "/ping"): "RunPod load balancing's health check: 200 or 204, whether the models are loaded",
}


@dataclasses.dataclass
class Server:
    url: str
    routes: list[Route]
    process: subprocess.Popen
    log_path: Path
    tmp_dir: Path
    health: tuple[str, list[Route]] | None = None  # APP_MODE=api's PORT_HEALTH server: (url, routes)

    def log(self) -> str:
        return log_tail(self.log_path, 100_000)


def _start(models_dir: Path, mode: str, **extra: str) -> Server:
    port, health_port = free_port(), free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"route-auth-{mode}-{port}.log"
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"wxw-route-auth-{mode}-"))
    env = {**os.environ, "APP_MODE": mode, "MODELS_DIR": str(models_dir), "DEVICE": "cpu", "PRELOAD": "0",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PORT": str(port),
           "PORT_HEALTH": str(health_port), "TMPDIR": str(tmp_dir), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0", "GRADIO_ANALYTICS_ENABLED": "False",
           **extra}
    for variable in ("UI_AUTH", "API_KEYS"):
        if variable not in extra:
            env.pop(variable, None)
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-c", LAUNCH, str(tmp_dir)], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url + "/ping", process, log_path, START_TIMEOUT_S, ready=lambda status: True)
        server = Server(url, served_routes(tmp_dir, port), process, log_path, tmp_dir)
        if mode == "api":
            server.health = (f"http://127.0.0.1:{health_port}", served_routes(tmp_dir, health_port))
    except BaseException:
        stop_process(process)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return server


def _stop(server: Server) -> None:
    stop_process(server.process)
    shutil.rmtree(server.tmp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ui_server(models_dir) -> Iterator[Server]:
    server = _start(models_dir, "ui", UI_AUTH=f"{USER}:{PASSWORD},bob:other-pw")
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def api_server(models_dir) -> Iterator[Server]:
    server = _start(models_dir, "api", API_KEYS=KEY, UI_AUTH=f"{USER}:{PASSWORD}")  # with keys, keys alone
    yield server
    _stop(server)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _client(server: Server, key: str = "unused", headers: dict[str, str] | None = None) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key=key, default_headers=headers, max_retries=0, timeout=600)


# ---- every route ------------------------------------------------------------------------------------------
def test_ui_mode_every_route_refuses_without_the_login(ui_server):
    table = set(ui_server.routes)
    assert {Route("POST", "/v1/audio/transcriptions"), Route("POST", "/gradio_api/upload")} <= table
    assert not set(UI_PUBLIC) - table, "an allowed route that the app no longer serves: drop it from UI_PUBLIC"
    assert unguarded(ui_server.url, ui_server.routes, UI_PUBLIC) == []
    page = httpx.get(ui_server.url + "/", timeout=30).text
    assert '"auth_required":true' in page and '"components":[]' in page, "the public page is the login form"
    assert "sign-in required as one of the page's 2 user(s) by HTTP Basic" in ui_server.log()
    assert PASSWORD not in ui_server.log()


def test_api_mode_every_route_refuses_without_a_key(api_server):
    assert Route("POST", "/v1/audio/transcriptions") in api_server.routes
    assert unguarded(api_server.url, api_server.routes, API_PUBLIC) == []
    health_url, health_routes = api_server.health
    assert health_routes == [Route("GET", "/ping")]
    assert unguarded(health_url, health_routes, API_PUBLIC) == []
    assert "1 API key(s) required" in api_server.log() and KEY not in api_server.log()


def test_the_check_flags_a_route_added_without_the_guard(models_dir):
    """The API's routers as served, with routes added later: one on the guarded router (an HTTP route and a
    WebSocket, as `/v1/realtime` is) is covered without a line of its own; one added beside it without the guard is
    what the checks above report."""
    import uvicorn
    from fastapi import FastAPI

    from core import Settings
    from core.service import Service
    from openai_api.auth import Access
    from openai_api.errors import EXCEPTION_HANDLERS
    from openai_api.jobs import SharedQueue
    from openai_api.routes import SpeechApi, create_routers

    service = Service(Settings(models_dir=models_dir, device="cpu", api_keys=(KEY,)))
    api = SpeechApi(service, SharedQueue(service, 2))
    guarded, public = create_routers(api, Access.from_settings(service.settings))

    async def later() -> dict[str, str]:
        return {"status": "a route added later"}

    async def realtime(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
        await websocket.send_text("hello")
        await websocket.close()

    guarded.add_api_route("/v1/later", later)
    guarded.add_api_websocket_route("/v1/later-socket", realtime)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None,  # as openai_api.server.create_app
                  exception_handlers=dict(EXCEPTION_HANDLERS))
    app.include_router(guarded)
    app.include_router(public)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url + "/ping", _Running(thread), ARTIFACTS / "none.log", 30)
        routes = routes_of(app)
        assert {Route("GET", "/v1/later"), Route("WEBSOCKET", "/v1/later-socket"),
                Route("WEBSOCKET", "/v1/realtime")} <= set(routes)
        assert unguarded(url, routes, API_PUBLIC) == [], "added to the guarded router: covered"
        assert httpx.get(url + "/v1/later", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        _websocket_checks(url)

        app.add_api_route("/v1/forgotten", later)  # beside the guarded router, as a careless change would
        assert unguarded(url, routes_of(app), API_PUBLIC) == ["GET /v1/forgotten -> 200"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _Running:
    """A thread standing in for a process in `wait_until_answering` (poll() is None while it runs)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread

    def poll(self) -> int | None:
        return None if self.thread.is_alive() else 1


def _websocket_checks(url: str) -> None:
    """A WebSocket handshake is checked like a request: a key by header, or by the subprotocol a browser sends."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ws_url = url.replace("http", "ws", 1) + "/v1/later-socket"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {KEY}"}, open_timeout=10) as socket:
        assert socket.recv(timeout=10) == "hello"
    with connect(ws_url, subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"], open_timeout=10) as socket:
        assert socket.subprotocol == "realtime" and socket.recv(timeout=10) == "hello"
    for refused in ({}, {"subprotocols": ["realtime", "openai-insecure-api-key.wrong"]}):
        with pytest.raises(InvalidStatus) as caught, connect(ws_url, open_timeout=10, **refused):
            pass
        assert caught.value.response.status_code == 401  # the handshake gets the same answer as a request
        assert json.loads(caught.value.response.body)["error"]["code"] == "invalid_api_key"


# ---- the page's users reach the API by HTTP Basic; keys by Bearer -----------------------------------------
def test_a_page_user_transcribes_through_the_openai_sdk_by_http_basic(ui_server, monologue):
    client = _client(ui_server, headers=_basic(USER, PASSWORD))
    assert "whisper-1" in [model.id for model in client.models.list()]
    with monologue.path.open("rb") as audio:
        result = client.audio.transcriptions.create(file=audio, model="whisper-1")
    assert speech.word_error_rate(monologue.script, result.text) <= 0.15, result.text
    assert _client(ui_server, headers=_basic("bob", "other-pw")).models.retrieve("whisper-1").id == "whisper-1"


def test_ui_mode_refusals_are_openai_errors_saying_how_to_get_in(ui_server):
    for headers, start in ((_basic(USER, "wrong-pw"), "wrong user name or password"),
                           (_basic("mallory", PASSWORD), "wrong user name or password"),
                           (None, "API keys are not accepted: this server has no API_KEYS")):
        with pytest.raises(openai.AuthenticationError) as caught:
            _client(ui_server, headers=headers).models.list()  # without headers: the SDK's Bearer key
        error = caught.value
        assert error.status_code == 401 and error.code == "invalid_credentials"
        assert set(error.body) == {"message", "type", "param", "code"} and error.body["message"].startswith(start)
        assert "Authorization: Basic base64(user:password)" in error.body["message"]
        assert "API_KEYS" in error.body["message"]
        assert error.response.headers["WWW-Authenticate"] == 'Basic realm="whisperx-worker", charset="UTF-8"'
    bare = httpx.post(ui_server.url + "/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF")}, timeout=30)
    assert bare.status_code == 401
    assert bare.json()["error"]["message"].startswith("this API is behind the web page's login (UI_AUTH)")


def test_the_signed_in_page_opens_a_live_session_with_its_login_cookie(ui_server):
    """The Live tab's WebSocket (a browser's: no Authorization header) carries the page's login cookie: accepted
    from the page's own origin, refused from another site's page or without a sign-in."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    signed_in = httpx.post(ui_server.url + "/login", data={"username": USER, "password": PASSWORD}, timeout=30)
    assert signed_in.status_code == 200, signed_in.text
    cookie = "; ".join(f"{name}={value}" for name, value in signed_in.cookies.items())
    ws_url = ui_server.url.replace("http", "ws", 1) + "/v1/realtime?intent=transcription"
    with connect(ws_url, origin=ui_server.url, additional_headers={"Cookie": cookie}, subprotocols=["realtime"],
                 open_timeout=60) as socket:
        assert json.loads(socket.recv(timeout=60))["type"] == "session.created"
    stale = "; ".join(f"{name}=stale-{value}" for name, value in signed_in.cookies.items())
    for origin, headers in (("https://evil.example", {"Cookie": cookie}), (ui_server.url, {}),
                            (ui_server.url, {"Cookie": stale})):
        with pytest.raises(InvalidStatus) as caught, connect(ws_url, origin=origin, additional_headers=headers,
                                                             open_timeout=30):
            pass
        assert caught.value.response.status_code == 401, (origin, headers)


def test_api_mode_takes_keys_and_only_keys(api_server):
    assert "whisper-1" in [model.id for model in _client(api_server, KEY).models.list()]
    health = httpx.get(api_server.url + "/health", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(api_server, "wrong-key").models.list()
    assert caught.value.code == "invalid_api_key" and "API_KEYS" in caught.value.body["message"]
    assert caught.value.response.headers["WWW-Authenticate"] == 'Bearer realm="whisperx-worker"'
    with pytest.raises(openai.AuthenticationError) as caught:  # UI_AUTH is set too: with keys, keys alone
        _client(api_server, headers=_basic(USER, PASSWORD)).models.list()
    assert "the page's users are not accepted while API_KEYS is set" in caught.value.body["message"]


@pytest.mark.browser
def test_signing_in_on_the_page_works_and_nothing_it_asks_for_is_refused(ui_server, browser):
    """The routes refused beside Gradio's login (ui/server.py's UNUSED_GRADIO_ROUTES) are ones the page never
    asks for: in Chromium, the login form, signing in and the whole page load, and every request the page makes
    once signed in is answered."""
    from ui.server import UNUSED_GRADIO_ROUTES

    context = browser.new_context()
    page = context.new_page()
    asked: list[tuple[str, int]] = []
    page.on("response", lambda response: asked.append((httpx.URL(response.url).path, response.status)))
    try:
        page.goto(ui_server.url + "/")
        page.get_by_label("username").fill(USER)
        page.get_by_label("password").fill(PASSWORD)
        signing_in = len(asked)
        page.get_by_role("button", name="Login").click()
        page.locator("#wx-transcribe").wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # the page's load events (the voice library's list); never idle: a heartbeat
    finally:
        context.close()
    assert not [path for path, _ in asked if path.startswith(UNUSED_GRADIO_ROUTES)]
    assert not [(path, status) for path, status in asked[signing_in:] if status in (401, 403)]
