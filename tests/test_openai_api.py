"""The OpenAI-compatible API (`openai_api/`), driven through the real `openai` SDK and `curl -F` against the real
server started by `app.py`: `APP_MODE=api` (keys on, /ping on its own port, an 8 MB upload limit) and `APP_MODE=ui`
(the Gradio page and the API on one port, one queue of size 1 so that the shared limit can be reached).

Nothing is mocked: the open profile's real models transcribe festival and espeak-ng speech.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import soundfile
from openai import OpenAI
from openai.types.audio import Transcription, TranscriptionDiarized, TranscriptionVerbose, TranslationVerbose

from tests import speech
from tests.servers import free_port, log_tail, stop_process, wait_until_answering
from tests.subtitles import parse_srt

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
KEYS = ("first-key-0123", "second-key-4567")
START_TIMEOUT_S = 300
pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Server:
    url: str  # the API's base, e.g. http://127.0.0.1:PORT
    health_url: str  # where /ping answers
    process: subprocess.Popen
    log_path: Path
    tmp_dir: Path
    first_pings: tuple[int, ...] = ()  # /ping statuses seen while starting

    def client(self, key: str = KEYS[1]) -> OpenAI:
        return OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=600)

    def log(self) -> str:
        return log_tail(self.log_path, 200_000)

    def health(self) -> dict:
        # behind the same guard as /v1 (the key is ignored where the API is open)
        return httpx.get(self.url + "/health", headers={"Authorization": f"Bearer {KEYS[1]}"}, timeout=10).json()

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def start(models_dir: Path, mode: str, **extra: str) -> Server:
    port, health_port = free_port(), free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"openai-{mode}-{port}.log"
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"wxw-openai-{mode}-"))
    env = {**os.environ, "APP_MODE": mode, "MODELS_DIR": str(models_dir), "DEVICE": "cpu", "PRELOAD": "1",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PORT": str(port),
           "PORT_HEALTH": str(health_port if mode == "api" else port), "TMPDIR": str(tmp_dir),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0",
           "GRADIO_ANALYTICS_ENABLED": "False", **extra}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    server = Server(base, f"http://127.0.0.1:{health_port if mode == 'api' else port}", process, log_path, tmp_dir)
    try:
        if mode == "api":
            server.first_pings = _pings_until_ready(server)
        else:
            wait_until_answering(base + "/config", process, log_path, START_TIMEOUT_S, ready=lambda status: True)
    except BaseException:
        server.stop()
        raise
    return server


def _pings_until_ready(server: Server) -> tuple[int, ...]:
    """Every /ping status until 200; while it says 204, a transcription is refused with 503."""
    seen: list[int] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log()[-3000:]}")
        try:
            status = httpx.get(server.health_url + "/ping", timeout=5).status_code
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == 200:
            return tuple(seen)
        if status == 204 and seen.count(204) == 1 and len(seen) == 1:
            with pytest.raises(openai.InternalServerError) as caught:
                server.client().audio.transcriptions.create(file=("a.wav", b"RIFF"), model="whisper-1")
            assert caught.value.status_code == 503 and caught.value.code == "model_loading"
            assert caught.value.response.headers["Retry-After"].isdigit()
            seen.append(503)
        time.sleep(0.3)
    raise RuntimeError(f"/ping never answered 200:\n{server.log()[-3000:]}")


@pytest.fixture(scope="module")
def api_server(models_dir):
    server = start(models_dir, "api", API_KEYS=",".join(KEYS), MAX_UPLOAD_MB="8")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ui_server(models_dir):
    server = start(models_dir, "ui", MAX_QUEUE="2")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def long_recording(dialogue, tmp_path_factory) -> Path:
    """The dialogue five times over (~2 minutes): a job long enough to still be running while others arrive."""
    samples, rate = soundfile.read(str(dialogue.path), dtype="float32")
    path = tmp_path_factory.mktemp("long") / "long.wav"
    soundfile.write(str(path), np.concatenate([samples] * 5), rate)
    return path


def wav_data_url(samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, speech.SAMPLE_RATE, format="WAV")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def curl(*args: str) -> tuple[int, str, dict[str, str]]:
    """`curl` with `args`; (status, body, headers)."""
    with tempfile.NamedTemporaryFile(suffix=".headers") as headers:
        done = subprocess.run(["curl", "-sS", "-D", headers.name, "-o", "-", *args], capture_output=True, text=True,
                              timeout=600, check=True)
        blocks = Path(headers.name).read_text().replace("\r\n", "\n").strip().split("\n\n")
    lines = blocks[-1].splitlines()  # the final answer, after any "100 Continue"
    status = int(lines[0].split()[1])
    parsed = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, done.stdout, {key.lower(): value for key, value in parsed.items()}


# ---- APP_MODE=api -----------------------------------------------------------------------------------
def test_ping_while_loading_then_ready(api_server):
    # bound at once, 204 (and 503 for a job) while the models load, then 200
    assert api_server.first_pings == (204, 503, 204, 200) or api_server.first_pings == (204, 503, 200), \
        api_server.first_pings
    assert httpx.get(api_server.health_url + "/ping").status_code == 200  # PORT_HEALTH
    assert httpx.get(api_server.url + "/ping").status_code == 200  # and the API's own port
    health = api_server.health()
    assert health["status"] == "ok" and health["default_model"] == "tiny.en", health
    assert "2 API key(s) required" in api_server.log()


def test_models_lists_installed_and_openai_names(api_server):
    names = [model.id for model in api_server.client().models.list()]
    assert names[0] == "tiny.en" and "base" in names and "whisper-1" in names and "gpt-4o-transcribe" in names
    assert api_server.client().models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        api_server.client().models.retrieve("whisper-2")


def test_json_text_srt_vtt(api_server, monologue):
    client = api_server.client()
    with monologue.path.open("rb") as audio:
        plain = client.audio.transcriptions.create(file=audio, model="whisper-1")
    assert isinstance(plain, Transcription)
    assert speech.word_error_rate(monologue.script, plain.text) <= 0.15, plain.text
    assert plain.usage.seconds == pytest.approx(soundfile.info(str(monologue.path)).duration, abs=0.05)
    text = client.audio.transcriptions.create(file=monologue.path, model="whisper-1", response_format="text")
    assert isinstance(text, str) and text.strip() == plain.text
    srt = client.audio.transcriptions.create(file=monologue.path, model="whisper-1", response_format="srt")
    cues = parse_srt(srt)
    assert cues and speech.word_error_rate(monologue.script, " ".join(cue[3] for cue in cues)) <= 0.15
    vtt = client.audio.transcriptions.create(file=monologue.path, model="whisper-1", response_format="vtt")
    assert vtt.startswith("WEBVTT") and "-->" in vtt


def test_verbose_json_with_words(api_server, monologue):
    verbose = api_server.client().audio.transcriptions.create(
        file=monologue.path, model="gpt-4o-mini-transcribe", response_format="verbose_json",
        timestamp_granularities=["word", "segment"], language="en", prompt="Speech recognition.", temperature=0)
    assert isinstance(verbose, TranscriptionVerbose)
    assert verbose.language == "english" and verbose.duration > 4
    assert [segment.id for segment in verbose.segments] == list(range(len(verbose.segments)))
    assert all(segment.tokens and segment.end > segment.start and segment.seek == round(segment.start * 100)
               for segment in verbose.segments)
    words = verbose.words
    assert len(words) >= 12 and all(word.end >= word.start for word in words)
    assert [word.start for word in words] == sorted(word.start for word in words)
    assert speech.word_error_rate(monologue.script, " ".join(word.word for word in words)) <= 0.15
    without = api_server.client().audio.transcriptions.create(file=monologue.path, model="whisper-1",
                                                              response_format="verbose_json")
    assert without.words is None and without.segments  # words only when asked for, as OpenAI


def test_curl_form_spellings(api_server, monologue):
    """`timestamp_granularities` without [] and our extras as further fields, the way curl users write them."""
    status, body, headers = curl(
        f"{api_server.url}/v1/audio/transcriptions", "-H", f"Authorization: Bearer {KEYS[0]}",
        "-F", f"file=@{monologue.path}", "-F", "model=whisper-1", "-F", "response_format=verbose_json",
        "-F", "timestamp_granularities=word", "-F", "chunking_strategy=auto", "-F", "hotwords=fox",
        "-F", "beam_size=3")
    assert status == 200 and headers["content-type"].startswith("application/json"), body
    data = json.loads(body)
    assert data["words"] and speech.word_error_rate(monologue.script, data["text"]) <= 0.15


def test_translation(api_server, tmp_path):
    """Spanish speech (espeak-ng) through the multilingual model comes back in English."""
    spanish = tmp_path / "es.wav"
    subprocess.run(["espeak-ng", "-v", "es", "-s", "130", "-w", str(spanish),
                    "Buenos días. Quisiera reservar una mesa para dos personas esta noche."], check=True)
    translation = api_server.client().audio.translations.create(file=spanish, model="base",
                                                                response_format="verbose_json")
    assert isinstance(translation, TranslationVerbose)
    words = set(translation.text.lower().replace(",", " ").replace(".", " ").split())
    assert len(words & {"good", "reserve", "book", "table", "people", "night", "tonight", "two"}) >= 3, translation.text
    assert not words & {"buenos", "días", "quisiera", "mesa", "personas", "noche"}, translation.text  # not transcribed
    assert not words & {"mesa", "personas", "noche", "buenos"}, translation.text
    assert translation.language == "english" and translation.task == "translate"  # OpenAI: "always `english`"
    text = api_server.client().audio.translations.create(file=spanish, model="base", response_format="text")
    assert "table" in text.lower()


def test_diarized_json_names_two_known_speakers(api_server, dialogue):
    """Festival's two voices, each given by a separate sample: every turn gets the right name."""
    male = speech.synthesize("I have been waiting here for almost twenty minutes, and nobody has come by.",
                             speech.MALE)
    female = speech.synthesize("Welcome to our restaurant. Let me show you the menu and the specials today.",
                               speech.FEMALE)
    diarized = api_server.client().audio.transcriptions.create(
        file=dialogue.path, model="gpt-4o-transcribe-diarize", response_format="diarized_json",
        chunking_strategy="auto", known_speaker_names=["Bob", "Alice"],
        known_speaker_references=[wav_data_url(male), wav_data_url(female)])
    assert isinstance(diarized, TranscriptionDiarized) and diarized.task == "transcribe"
    assert {segment.type for segment in diarized.segments} == {"transcript.text.segment"}
    assert speech.word_error_rate(dialogue.script, diarized.text) <= 0.2
    expected = {"male": "Bob", "female": "Alice"}
    for start, end, who in dialogue.turns:
        spoken = [segment.speaker for segment in diarized.segments
                  if start - 0.3 <= (segment.start + segment.end) / 2 <= end + 0.3]
        assert spoken and max(set(spoken), key=spoken.count) == expected[who], (who, spoken)


def test_diarized_json_labels_speakers_with_letters(api_server, dialogue):
    diarized = api_server.client().audio.transcriptions.create(file=dialogue.path, model="whisper-1",
                                                               response_format="diarized_json")
    assert {segment.speaker for segment in diarized.segments} == {"A", "B"}
    assert diarized.segments[0].speaker == "A"


def test_diarized_json_marks_overlapped_speech(api_server, pyannote_sample):
    """pyannote's real two-speaker sample has people talking at once: those segments carry `overlap_with`, the
    other speaker lettered as `speaker` is (an extra field, which the SDK keeps); the other segments have no such
    key, so OpenAI's shape is unchanged for them."""
    path, reference = pyannote_sample
    diarized = api_server.client().audio.transcriptions.create(
        file=path, model="gpt-4o-transcribe-diarize", response_format="diarized_json",
        extra_body={"num_speakers": 2})
    assert isinstance(diarized, TranscriptionDiarized)
    speakers = {segment.speaker for segment in diarized.segments}
    assert speakers == {"A", "B"}
    overlapped = [segment for segment in diarized.segments if "overlap_with" in (segment.model_extra or {})]
    assert overlapped, [segment.model_dump() for segment in diarized.segments]
    for segment in overlapped:
        assert segment.overlap_with == sorted(set(segment.overlap_with)) and segment.overlap_with
        assert set(segment.overlap_with) <= speakers - {segment.speaker}, segment
    both = [(max(a[0], b[0]), min(a[1], b[1])) for i, a in enumerate(reference) for b in reference[i + 1:]
            if a[2] != b[2] and min(a[1], b[1]) > max(a[0], b[0])]  # where two reference speakers talk at once
    assert any(segment.start < end and segment.end > start for segment in overlapped for start, end in both)


def test_stream_sends_deltas_then_done(api_server, monologue):
    events = list(api_server.client().audio.transcriptions.create(file=monologue.path, model="whisper-1",
                                                                  stream=True))
    assert [event.type for event in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1) and events[:-1]
    assert events[-1].type == "transcript.text.done"
    assert "".join(event.delta for event in events[:-1]) == events[-1].text
    assert speech.word_error_rate(monologue.script, events[-1].text) <= 0.15


def test_keys(api_server, monologue):
    for key in ("wrong-key", KEYS[0][:-1], KEYS[0] + "x"):
        with pytest.raises(openai.AuthenticationError) as caught:
            api_server.client(key).audio.transcriptions.create(file=monologue.path, model="whisper-1")
        assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        api_server.client("wrong-key").models.list()
    status, body, _ = curl(f"{api_server.url}/v1/audio/transcriptions", "-F", f"file=@{monologue.path}")
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    assert api_server.client(KEYS[0]).models.list().data  # either key works
    assert KEYS[0] not in api_server.log() and KEYS[1] not in api_server.log()


@pytest.mark.parametrize(("kwargs", "param", "needle"), [
    ({"response_format": "xml"}, "response_format", "accepted: json, text, srt, vtt, verbose_json, diarized_json"),
    ({"timestamp_granularities": ["sentence"]}, "timestamp_granularities[]", "accepted: word, segment"),
    ({"language": "xx"}, "language", "language"),
    ({"temperature": 3}, "temperature", "temperature"),
    ({"extra_body": {"colour": "red"}}, "colour", "unknown field 'colour'"),
    ({"extra_body": {"min_speakers": "two"}}, "min_speakers", "min_speakers must be a number"),
    ({"stream": True, "response_format": "srt"}, "stream", "stream=true streams text"),
    ({"known_speaker_names": ["Ada"], "response_format": "diarized_json"}, "known_speaker_names[]",
     "same number of entries"),
    ({"known_speaker_names": ["Ada"], "known_speaker_references": ["https://example.com/ada.wav"],
      "response_format": "diarized_json"}, "known_speaker_references[0]", "data URL"),
    ({"chunking_strategy": {"type": "fixed"}}, "chunking_strategy", "accepted: server_vad"),
    ({"include": ["logprobs"]}, "include[]", "log probabilities are not available"),
    ({"include": ["everything"]}, "include[]", "accepted: logprobs"),
])
def test_bad_fields_are_400_naming_the_field(api_server, monologue, kwargs, param, needle):
    with pytest.raises(openai.BadRequestError) as caught:
        api_server.client().audio.transcriptions.create(file=monologue.path, model="whisper-1", **kwargs)
    assert caught.value.param == param and needle in caught.value.message, caught.value.body
    assert caught.value.type == "invalid_request_error"


def test_bad_media_model_and_size(api_server, tmp_path):
    client = api_server.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(file=("notes.wav", b"these are my notes, not audio\n" * 20),
                                           model="whisper-1")
    assert caught.value.param == "file" and "not a media file" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:  # refused before a stream starts, as a plain 400
        client.audio.transcriptions.create(file=("empty.wav", b""), model="whisper-1", stream=True)
    assert caught.value.param == "file" and "empty" in caught.value.message
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.transcriptions.create(file=("a.wav", b"RIFF"), model="large-v2")
    assert caught.value.param == "model" and caught.value.code == "model_not_found"
    assert "installed: tiny.en" in caught.value.message
    with pytest.raises(openai.APIStatusError) as caught:  # over MAX_UPLOAD_MB=8, under the body's slack
        client.audio.transcriptions.create(file=("big.wav", b"\0" * (9 * 2**20)), model="whisper-1")
    assert caught.value.status_code == 413 and caught.value.code == "file_too_large"
    assert _job_files(api_server) == []


def _job_files(server: Server) -> list[str]:
    """What jobs left in the server's temporary directory (each job's directory must be gone)."""
    return [path.name for path in server.tmp_dir.iterdir() if path.name.startswith("wxw-job-")]


def test_oversized_body_is_refused_before_it_is_read(api_server, tmp_path):
    """Declared too large (Content-Length) or streamed without a length (chunked): 413 either way, from curl."""
    big = tmp_path / "big.wav"
    with big.open("wb") as handle:
        handle.truncate(40 * 2**20)
    url = f"{api_server.url}/v1/audio/transcriptions"
    auth = ("-H", f"Authorization: Bearer {KEYS[0]}")
    for extra in ((), ("-H", "Transfer-Encoding: chunked")):
        status, body, _ = curl(url, *auth, *extra, "-F", f"file=@{big}", "-F", "model=whisper-1")
        assert status == 413 and json.loads(body)["error"]["param"] == "file", body
    assert "limit of 8 MB" in json.loads(body)["error"]["message"]
    assert api_server.health()["status"] == "ok"


def test_a_client_that_leaves_during_its_upload_is_not_a_server_error(api_server):
    """Half a multipart body, then the connection closes: nothing is logged as a failure, no job file stays."""
    import socket

    host, port = api_server.url.split("//")[1].split(":")
    head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEYS[0]}\r\n"
            "Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 999999\r\n\r\n")
    part = b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + b"\0" * 50_000
    failures = api_server.log().count("openai request failed")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(head.encode() + part)
        time.sleep(1)
    time.sleep(1)
    assert api_server.log().count("openai request failed") == failures, api_server.log()[-2000:]
    assert _job_files(api_server) == []
    assert api_server.client(KEYS[0]).models.list().data  # and the server goes on


def test_unknown_path_is_an_openai_error(api_server):
    response = httpx.post(api_server.url + "/v1/audio/speech", json={})
    assert response.status_code in (404, 405) and "error" in response.json()


@pytest.mark.parametrize("stream", ["false", "true"])
def test_disconnect_cancels_the_job(api_server, long_recording, monologue, stream):
    """curl sends a long recording and is killed once the job runs: the engine stops the job at its next step,
    and the server serves the next request."""
    cancelled = api_server.log().count("client disconnected: job cancelled (stopped)")
    client = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {KEYS[0]}",
                               "-F", f"file=@{long_recording}", "-F", "model=whisper-1", "-F", f"stream={stream}",
                               f"{api_server.url}/v1/audio/transcriptions"])
    try:
        _wait(lambda: api_server.health()["queue"]["running"], "the long job to start")
    finally:
        client.kill()
        client.wait()
    _wait(lambda: api_server.log().count("client disconnected: job cancelled (stopped)") > cancelled,
          "the job to stop")
    assert not api_server.health()["queue"]["running"]
    _wait(lambda: _job_files(api_server) == [], "the cancelled job's files to be removed")
    result = api_server.client().audio.transcriptions.create(file=monologue.path, model="whisper-1")
    assert speech.word_error_rate(monologue.script, result.text) <= 0.15


def _wait(condition, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# ---- APP_MODE=ui: the page and the API on one port, one queue ---------------------------------------------
def test_ui_mode_serves_the_api_open_on_loopback(ui_server, monologue):
    result = ui_server.client("anything").audio.transcriptions.create(file=monologue.path, model="whisper-1")
    assert speech.word_error_rate(monologue.script, result.text) <= 0.15
    assert "without keys (bound to loopback only)" in ui_server.log()
    assert httpx.get(ui_server.url + "/ping").status_code == 200
    assert httpx.get(ui_server.url + "/").status_code == 200  # the page is still there
    for method, path, status in (("GET", "/v1/audio/transcriptions", 405), ("GET", "/v1/nope", 404)):
        response = httpx.request(method, ui_server.url + path)
        assert response.status_code == status and set(response.json()["error"]) == {"message", "type", "param",
                                                                                     "code"}, response.text
    assert httpx.get(ui_server.url + "/not-a-page-route").json() == {"detail": "Not Found"}  # the page's own answer


def test_ui_mode_one_queue_for_page_and_api(ui_server, long_recording, monologue):
    """MAX_QUEUE=2: a page job runs, two API jobs wait behind it (a job waiting in the engine counts once, not
    once for its admission and again for the engine); then both the API (429) and the page ("queue is full") are
    refused; the waiting API jobs run once the page's is done."""
    from gradio_client import Client, handle_file

    page = Client(ui_server.url + "/", verbose=False)
    page_job = page.submit(handle_file(str(long_recording)), api_name="/transcribe")
    _wait(lambda: ui_server.health()["queue"]["running"], "the page's job to start", timeout_s=120)
    finished: dict[str, float] = {}
    api_result: dict[str, str] = {}

    def api_job(name: str) -> None:
        api_result[name] = ui_server.client().audio.transcriptions.create(file=monologue.path,
                                                                           model="whisper-1").text
        finished[name] = time.monotonic()

    waiting = [threading.Thread(target=api_job, args=(name,)) for name in ("api-1", "api-2")]
    waiting[0].start()
    _wait(lambda: ui_server.health()["queue"]["waiting"] >= 1, "the first API job to wait")
    time.sleep(2)  # its upload decoded: it now waits inside the engine, for the engine's run lock
    assert ui_server.health()["queue"]["waiting"] == 1
    waiting[1].start()
    _wait(lambda: ui_server.health()["queue"]["waiting"] >= 2, "the second API job to wait")
    with pytest.raises(openai.RateLimitError) as caught:
        ui_server.client().audio.transcriptions.create(file=monologue.path, model="whisper-1")
    assert caught.value.code == "queue_full" and int(caught.value.response.headers["Retry-After"]) > 0
    refused = page.submit(handle_file(str(monologue.path)), api_name="/transcribe")
    with pytest.raises(Exception, match=r"(?i)queue is full"):
        refused.result(timeout=60)
    result = page_job.result(timeout=600)
    finished["page"] = time.monotonic()
    for thread in waiting:
        thread.join(timeout=600)
    assert finished["page"] <= min(finished["api-1"], finished["api-2"]), finished  # they waited behind the page
    for text in api_result.values():
        assert speech.word_error_rate(monologue.script, text) <= 0.15
    assert result["segments"], result
    assert ui_server.health()["queue"] == {"running": False, "waiting": 0, "max": 2}


def test_ui_mode_page_job_waits_behind_an_api_job(ui_server, long_recording, monologue):
    from gradio_client import Client, handle_file

    finished: dict[str, float] = {}

    def api_job() -> None:
        ui_server.client().audio.transcriptions.create(file=long_recording, model="whisper-1")
        finished["api"] = time.monotonic()

    running = threading.Thread(target=api_job)
    running.start()
    _wait(lambda: ui_server.health()["queue"]["running"], "the API's job to start")
    result = Client(ui_server.url + "/", verbose=False).predict(handle_file(str(monologue.path)),
                                                                 api_name="/transcribe")
    finished["page"] = time.monotonic()
    running.join(timeout=600)
    assert finished["api"] <= finished["page"], finished
    assert speech.word_error_rate(monologue.script, result["text"]) <= 0.15
