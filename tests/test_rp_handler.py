"""The RunPod worker through the real SDK and real HTTP: `python rp_handler.py --rp_serve_api` in a subprocess.

Two workers share the module: `strict` (the production guards) and `lenient` (ALLOW_PRIVATE_URLS=1, so it may
fetch from the local media server). Each has its own TMPDIR, checked at the end for left-over job files.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import rp_handler
from core import InvalidInput, Result
from core.media_source import JOB_DIR_PREFIX
from tests import speech
from tests.servers import free_port, stop_process
from tests.test_media_source import media_server

ROOT = Path(__file__).resolve().parents[1]
SECRET_TOKEN = "hf_rpTEST0kenN3verEch0ed9876543210"
MAX_UPLOAD_MB = 2
SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+?)(?:\n\n|\n?$)", re.M | re.S)


# ---- workers -------------------------------------------------------------------------------------
@dataclasses.dataclass
class Worker:
    url: str
    process: subprocess.Popen
    log_path: Path
    tmpdir: Path
    baseline: frozenset[str] = frozenset()  # TMPDIR entries the process made at start-up (torch, runpod)

    def run(self, payload: Any, timeout_s: float = 300) -> dict[str, Any]:
        response = requests.post(f"{self.url}/runsync", json={"input": payload}, timeout=timeout_s)
        response.raise_for_status()
        return response.json()

    def output(self, payload: Any) -> dict[str, Any]:
        reply = self.run(payload)
        assert reply.get("status") == "COMPLETED", reply.get("error")
        return reply["output"]

    def error(self, payload: Any) -> str:
        reply = self.run(payload)
        assert reply.get("status") == "FAILED" and "output" not in reply, reply
        return reply["error"]

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tmp_entries(self) -> frozenset[str]:
        return frozenset(str(path.relative_to(self.tmpdir)) for path in self.tmpdir.rglob("*"))




def worker_env(models_dir: Path, tmpdir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("ALLOW_PRIVATE_URLS", "MAX_UPLOAD_MB")}
    env.update(MODELS_DIR=str(models_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="0",
               TMPDIR=str(tmpdir), DEVICE="cpu", **extra)
    return env


def _launch(models_dir: Path, home: Path, **extra: str) -> Worker:
    tmpdir = home / "tmp"
    tmpdir.mkdir(parents=True)
    port = free_port()
    log_path = home / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "rp_handler.py", "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port",
             str(port)], cwd=ROOT, env=worker_env(models_dir, tmpdir, **extra), stdout=log, stderr=subprocess.STDOUT)
    return Worker(f"http://127.0.0.1:{port}", process, log_path, tmpdir)


def _wait_ready(worker: Worker, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.logs()[-3000:]}")
        try:
            if requests.get(f"{worker.url}/openapi.json", timeout=2).status_code == 200:
                worker.baseline = worker.tmp_entries()
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"worker not ready after {timeout_s}s:\n{worker.logs()[-3000:]}")




@pytest.fixture(scope="module")
def workers(models_dir, tmp_path_factory) -> Iterator[dict[str, Worker]]:
    """Both workers start together (start-up is mostly imports and model loads, ~10 s each)."""
    home = tmp_path_factory.mktemp("workers")
    started = {
        "strict": _launch(models_dir, home / "strict", MAX_UPLOAD_MB=str(MAX_UPLOAD_MB)),
        "lenient": _launch(models_dir, home / "lenient", MAX_UPLOAD_MB=str(MAX_UPLOAD_MB), ALLOW_PRIVATE_URLS="1"),
    }
    try:
        for worker in started.values():
            _wait_ready(worker)
        yield started
    finally:
        for worker in started.values():
            stop_process(worker.process)


@pytest.fixture(scope="module")
def strict(workers) -> Worker:
    return workers["strict"]


@pytest.fixture(scope="module")
def lenient(workers) -> Worker:
    return workers["lenient"]


@pytest.fixture(scope="module")
def files(dialogue) -> Iterator[str]:
    """The local media server (127.0.0.1: only the lenient worker may fetch from it)."""
    served = {"dialogue.wav": dialogue.path.read_bytes(),
              "big.wav": b"RIFF" + b"\0" * (MAX_UPLOAD_MB * 2**20 + 10), "notes.txt": b"just some text\n" * 50}
    with media_server(served) as base:
        yield base


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def default_model(models_dir: Path) -> str:
    return json.loads((models_dir / "manifest.json").read_text())["defaults"]["asr"]


def parse_srt(text: str) -> list[tuple[int, str, str, str]]:
    cues = [(int(m[1]), m[2], m[3], m[4].strip()) for m in SRT_CUE.finditer(text.strip() + "\n")]
    assert cues, f"no SRT cues in {text[:200]!r}"
    assert [cue[0] for cue in cues] == list(range(1, len(cues) + 1))
    assert all(start <= end for _, start, end, _ in cues)
    return cues


# ---- through the real worker ---------------------------------------------------------------------
@pytest.mark.slow
def test_dialogue_base64_with_diarization_srt_vtt(strict, dialogue):
    output = strict.output({"audio_base64": b64(dialogue.path), "diarization": True, "output_formats": ["srt", "vtt"]})
    wer = speech.word_error_rate(dialogue.script, output["text"])
    turns = [(turn["start"], turn["end"], turn["speaker"]) for turn in output["diarization"]]
    der = speech.diarization_error_rate(dialogue.turns, turns)
    print(f"rp_handler dialogue: WER={wer:.3f} DER={der:.3f}")
    assert wer < 0.25, output["text"]
    assert der < 0.2, turns  # measured 0.13 with tiny.en + the open GE2E pipeline
    cues = parse_srt(output["outputs"]["srt"])
    assert all(re.match(r"^\[SPEAKER_\d\d\]: \S", text) for *_, text in cues), cues
    assert output["outputs"]["vtt"].startswith("WEBVTT")
    assert {seg["speaker"] for seg in output["segments"]} <= set(output["speakers"])
    assert len(output["speakers"]) >= 2
    assert output["detected_language"] == output["language"] == "en"
    assert "progress: transcribe" in strict.logs() and re.search(r"progress: diarize \d+%", strict.logs())


@pytest.mark.slow
def test_http_url_through_a_redirect(lenient, files, dialogue):
    output = lenient.output({"audio": f"{files}/redirect?to=/file/dialogue.wav", "align_output": False})
    assert speech.word_error_rate(dialogue.script, output["text"]) < 0.25, output["text"]
    assert "speakers" not in output and all(seg["words"] == [] for seg in output["segments"])


@pytest.mark.slow
def test_faster_whisper_worker_fields(strict, dialogue, models_dir):
    model = default_model(models_dir)
    output = strict.output({"audio_base64": b64(dialogue.path), "model": model, "transcription": "srt",
                            "word_timestamps": True, "enable_vad": True, "translate": False})
    assert output["detected_language"] == "en" and output["model"] == model
    cues = parse_srt(output["transcription"])
    assert speech.word_error_rate(dialogue.script, " ".join(text for *_, text in cues)) < 0.25


@pytest.mark.slow
def test_whisperx_worker_fields_and_token_never_leaks(lenient, files, dialogue):
    output = lenient.output({"audio_file": f"{files}/file/dialogue.wav", "align_output": True, "diarization": True,
                             "min_speakers": 1, "max_speakers": 3, "huggingface_access_token": SECRET_TOKEN})
    assert 1 <= len(output["speakers"]) <= 3
    assert speech.word_error_rate(dialogue.script, output["text"]) < 0.25
    assert all(word["start"] is not None for seg in output["segments"] for word in seg["words"])
    assert output["word_timestamps"] == "whisper" and all(seg["words"] for seg in output["segments"])
    assert SECRET_TOKEN not in json.dumps(output)
    failed = lenient.error({"audio_file": f"{files}/status/404", "huggingface_access_token": SECRET_TOKEN})
    assert SECRET_TOKEN not in failed
    time.sleep(0.5)  # let the worker flush its logs
    assert SECRET_TOKEN not in lenient.logs()
    assert SECRET_TOKEN[3:12] not in lenient.logs()


BAD_INPUTS = [  # (payload, substrings the error must contain)
    ({"audio_base64": "QUJD", "colour": "red"}, ["unknown field 'colour'", "audio_base64", "audio_file", "language"]),
    ({"audio_base64": "QUJD", "diarization": "yes"}, ["diarization", "boolean"]),
    ({"audio_base64": "QUJD", "beam_size": 0}, ["beam_size", "range"]),
    ({"audio_base64": "QUJD", "output_formats": ["doc"]}, ["output_formats", "srt"]),
    ({"audio_base64": "QUJD", "audio": "https://example.com/a.wav"}, ["exactly one", "got 2"]),
    ({"language": "en"}, ["exactly one audio source", "audio_base64"]),
    ({"audio": 42}, ["audio", "string"]),
    ({"audio": "file:///etc/passwd"}, ["audio", "file:", "not allowed", "http"]),
    ({"audio_file": "ftp://example.com/a.wav"}, ["audio_file", "not allowed"]),
    ({"audio": "http://127.0.0.1:9/clip.wav"}, ["audio", "refused", "127.0.0.1"]),
    ({"audio": "http://169.254.169.254/latest/meta-data/"}, ["refused", "metadata"]),
    ({"audio_base64": "this is not base64!"}, ["audio_base64", "not valid base64"]),
    ({"audio_base64": base64.b64encode(b"plain text, no media here" * 40).decode()}, ["text file, not a media file"]),
    ({"audio_base64": base64.b64encode(b"\0" * (MAX_UPLOAD_MB * 2**20 + 1)).decode()}, ["over the limit"]),
    ({"audio_base64": "QUJD", "min_speakers": 3, "max_speakers": 2}, ["min_speakers", "max_speakers"]),
    ({"audio_base64": "QUJD", "model": "no-such-model"}, ["no-such-model", "installed"]),
    ({"audio_base64": "QUJD", "huggingface_access_token": 123}, ["huggingface_access_token", "string"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("payload", "needles"), BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_is_a_clear_error(strict, payload, needles):
    message = strict.error(payload)
    for needle in needles:
        assert needle.lower() in message.lower(), message
    assert not message.startswith("internal error"), message


@pytest.mark.slow
@pytest.mark.parametrize(("path", "needles"), [("/status/404", ["HTTP 404"]), ("/file/big.wav", ["over the limit"]),
                                                ("/file/notes.txt", ["text file, not a media file"]),
                                                ("/loop", ["too many redirects"])])
def test_bad_urls_are_clear_errors(lenient, files, path, needles):
    message = lenient.error({"audio": f"{files}{path}"})
    for needle in needles:
        assert needle.lower() in message.lower(), message


@pytest.mark.slow
def test_worker_keeps_serving_after_bad_jobs(strict, dialogue):
    strict.error({"audio_base64": "!!!"})
    strict.error({"nonsense": True})
    output = strict.output({"audio_base64": b64(dialogue.path), "align_output": False})
    assert speech.word_error_rate(dialogue.script, output["text"]) < 0.25


@pytest.mark.slow
def test_test_input_json_runs_offline(models_dir, tmp_path):
    job = (ROOT / "test_input.json").read_text()
    assert len(job) < 100_000
    completed = subprocess.run([sys.executable, "rp_handler.py", "--test_input", job], cwd=ROOT, capture_output=True,
                               text=True, timeout=300, env=worker_env(models_dir, tmp_path))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "completed successfully" in completed.stdout + completed.stderr
    assert not list(tmp_path.glob(f"{JOB_DIR_PREFIX}*"))


@pytest.mark.slow
def test_no_job_files_left_behind(workers):
    """Runs last in this module: every job above, good or bad, must have removed its files."""
    for name, worker in workers.items():
        leftovers = sorted(worker.tmp_entries() - worker.baseline)
        assert leftovers == [], f"{name} worker left {leftovers}"
        assert not any(entry.startswith(JOB_DIR_PREFIX) for entry in worker.baseline)


def test_startup_fails_fast_without_the_default_model(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    completed = subprocess.run([sys.executable, "rp_handler.py", "--test_input", '{"input": {"audio": "x"}}'],
                               cwd=ROOT, capture_output=True, text=True, timeout=120,
                               env=worker_env(empty, tmp_path, WHISPER_MODEL="tiny.en"))
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert "'tiny.en' is not installed" in output and str(empty) in output, output[-2000:]
    assert "Traceback" not in output


# ---- in-process units (no models) ----------------------------------------------------------------
class _FakeRegistry:
    def asr(self, name: str | None = None) -> None:
        return None


class _FakeEngine:
    """Just enough engine for the handler's plumbing: it records calls and fails as told."""

    def __init__(self, settings: Any, failure: BaseException | None = None) -> None:
        self.settings, self.failure, self.registry, self.seen = settings, failure, _FakeRegistry(), []

    def transcribe(self, path: Path, options: Any, *, on_progress: Any) -> Result:
        self.seen.append((path, path.read_bytes(), options))
        on_progress("transcribe", 0.5)
        if self.failure is not None:
            raise self.failure
        return Result(segments=(), language="en")


def _service(engine: _FakeEngine) -> Any:
    from core.service import Service

    return Service(engine.settings, engine=engine)


@pytest.fixture
def fake_settings(tmp_path):
    from core import Settings

    return Settings(models_dir=tmp_path, max_upload_mb=1)


def test_handler_maps_errors_in_one_place(fake_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    job = {"id": "j1", "input": {"audio_base64": base64.b64encode(b"RIFF....WAVEfmt ").decode()}}
    broken = _FakeEngine(fake_settings, RuntimeError("tensor exploded\nsecond line"))
    assert rp_handler.handle(job, _service(broken), sink=lambda *_: None) == {
        "error": "internal error: RuntimeError: tensor exploded"}
    refused = _FakeEngine(fake_settings, InvalidInput("language: nope", field="language"))
    assert rp_handler.handle(job, _service(refused), sink=lambda *_: None) == {"error": "language: nope"}
    fine = _FakeEngine(fake_settings)
    assert rp_handler.handle(job, _service(fine), sink=lambda *_: None)["language"] == "en"
    path, data, _ = fine.seen[0]
    assert data.startswith(b"RIFF") and path.suffix == ".wav"
    assert not path.exists() and not any(tmp_path.glob(f"{JOB_DIR_PREFIX}*"))


def test_token_reaches_the_engine_only(fake_settings):
    engine = _FakeEngine(fake_settings)
    job = {"id": "j2", "input": {"audio_base64": "UklGRg==", "huggingface_access_token": SECRET_TOKEN}}
    result = rp_handler.handle(job, _service(engine), sink=lambda *_: None)
    assert engine.seen[0][2].huggingface_access_token == SECRET_TOKEN
    assert SECRET_TOKEN not in json.dumps(result) and SECRET_TOKEN not in repr(engine.seen[0][2])


def test_progress_is_throttled_but_reports_each_stage():
    clock = iter([0.0, 0.1, 0.2, 0.7, 0.75, 0.8]).__next__
    sent: list[str] = []
    reporter = rp_handler.ProgressReporter({"id": "j"}, lambda _job, message: sent.append(message), clock=clock)
    for stage, fraction in [("decode", 0.0), ("transcribe", 0.1), ("transcribe", 0.2), ("transcribe", 0.4),
                            ("transcribe", 0.45), ("align", 0.6)]:
        reporter(stage, fraction)
    assert sent == ["decode 0%", "transcribe 10%", "transcribe 40%", "align 60%"]


def test_a_failing_progress_sink_does_not_fail_the_job():
    def broken(_job: Any, _message: str) -> None:
        raise ConnectionError("runpod api down")

    rp_handler.ProgressReporter({"id": "j"}, broken)("decode", 0.0)


def _big_result() -> dict[str, Any]:
    words = [{"word": f"w{i}", "start": i * 0.1, "end": i * 0.1 + 0.05, "score": 0.9} for i in range(400)]
    segments = [{"start": 0.0, "end": 40.0, "text": "word " * 400, "words": words}]
    return {"segments": segments, "text": "word " * 400, "warnings": [],
            "outputs": {"srt": "s" * 30_000, "vtt": "v" * 20_000, "txt": "t" * 2_000}}


def test_oversized_results_drop_words_then_the_largest_outputs(monkeypatch):
    result = _big_result()
    assert rp_handler.fit_result(result) is result
    monkeypatch.setattr(rp_handler, "MAX_RESULT_BYTES", 40_000)
    fitted = rp_handler.fit_result(result)
    assert rp_handler._json_size(fitted) <= 40_000
    assert fitted["segments"][0]["words"] == [] and set(fitted["outputs"]) == {"vtt", "txt"}
    assert "segments[].words" in fitted["warnings"][-1] and "outputs.srt" in fitted["warnings"][-1]
    assert result["segments"][0]["words"], "the input must not be modified"
    only_words = rp_handler.fit_result(_big_result(), limit=rp_handler._json_size(_big_result()) - 1000)
    assert set(only_words["outputs"]) == {"srt", "vtt", "txt"} and only_words["segments"][0]["words"] == []


def test_input_must_be_an_object():
    for payload in ("just a string", None, ["audio"]):
        with pytest.raises(InvalidInput, match="input must be a JSON object"):
            rp_handler.parse_input(payload)


def test_unknown_field_message_lists_audio_fields():
    with pytest.raises(InvalidInput) as caught:
        rp_handler.parse_input({"audio": "https://example.com/a.wav", "speed": 2})
    assert caught.value.field == "speed"
    for name in ("audio", "audio_base64", "audio_file", "word_timestamps", "translate", "diarize"):
        assert f"{name}," in caught.value.message or caught.value.message.endswith(name)


def test_import_is_cheap():
    """`import rp_handler` loads no model, no torch and no runpod (app.py imports it only for APP_MODE=runpod)."""
    code = "import sys, rp_handler; print(sorted({'torch', 'whisperx', 'runpod'} & set(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "[]", completed.stdout + completed.stderr
