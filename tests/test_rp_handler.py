"""The RunPod worker through the real SDK and real HTTP: `python rp_handler.py --rp_serve_api` in a subprocess
(`tests/rp_server.py`: a `strict` worker with the production guards and a `lenient` one that may fetch from the
local media server; after every job, each checks that the job left no files in its TMPDIR). The peers' own
payloads are in `test_rp_peers.py`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

import rp_handler
from core import InvalidInput, Result
from core.media.fetch import JOB_DIR_PREFIX
from rp_worker import progress as rp_progress
from rp_worker.inputs import parse_input
from tests import speech
from tests.rp_server import MAX_UPLOAD_MB, Worker, worker_env
from tests.servers import media_server

ROOT = Path(__file__).resolve().parents[1]
SECRET_TOKEN = "hf_rpTEST0kenN3verEch0ed9876543210"
SRT_CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+?)(?:\n\n|\n?$)", re.M | re.S)


@pytest.fixture(scope="module")
def strict(rp_workers) -> Worker:
    return rp_workers["strict"]


@pytest.fixture(scope="module")
def lenient(rp_workers) -> Worker:
    return rp_workers["lenient"]


@pytest.fixture(scope="module")
def files(dialogue) -> Iterator[str]:
    """The local media server (127.0.0.1: only the lenient worker may fetch from it)."""
    served = {"dialogue.wav": dialogue.path.read_bytes(),
              "big.wav": b"RIFF" + b"\0" * (MAX_UPLOAD_MB * 2**20 + 10), "notes.txt": b"just some text\n" * 50}
    with media_server(served) as base:
        yield base


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def wav_b64(samples: np.ndarray) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16_000, format="WAV")
    return base64.b64encode(buffer.getvalue()).decode()


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
    assert output["word_timing"] == "whisper" and all(seg["words"] for seg in output["segments"])
    assert len(output["word_timestamps"]) == sum(len(seg["words"]) for seg in output["segments"])
    assert SECRET_TOKEN not in json.dumps(output)
    reply = lenient.run({"audio_file": f"{files}/status/404", "huggingface_access_token": SECRET_TOKEN})
    assert reply["status"] == "FAILED" and SECRET_TOKEN not in reply["error"]
    logs = lenient.wait_for_log(f"job {reply['id']} refused")  # the job's last log line, written before the reply
    assert SECRET_TOKEN not in logs
    assert SECRET_TOKEN[3:12] not in logs


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


# ---- security and hygiene through the real worker ---------------------------------------------------
@pytest.mark.slow
def test_sdk_never_logs_outputs_even_when_asked_for_debug(lenient, files, dialogue):
    """The lenient worker was started with RUNPOD_LOG_LEVEL=DEBUG and --rp_log_level DEBUG: the SDK would log
    every handler output (the transcript); the worker keeps it at INFO, and our own lines carry no text."""
    reply = lenient.run({"audio_file": f"{files}/file/dialogue.wav", "align_output": False})
    assert reply["status"] == "COMPLETED"
    logs = lenient.wait_for_log(f"job {reply['id']} done")
    assert "Handler output" not in logs and "Log level set to INFO" in logs
    for segment in reply["output"]["segments"]:
        assert segment["text"] not in logs, segment["text"]


@pytest.mark.slow
def test_model_names_only_from_the_installed_list_and_loaded_once(strict, models_dir, dialogue):
    name = default_model(models_dir)
    for path in (str(models_dir / "asr" / name), f"../{name}", "~/x", "asr/../../etc", "C:\\models\\x"):
        message = strict.error({"audio_base64": b64(dialogue.path), "model": path})
        assert "not a path" in message and name in message, message
    audio = wav_b64(np.zeros(16_000, dtype=np.float32))
    for spelling in (name, name.upper(), f"  {name} ", f"Systran/faster-whisper-{name}", f"whisper-{name}"):
        assert strict.output({"audio_base64": audio, "model": spelling})["model"] == name
    assert strict.logs().count(f"loaded ASR model {name} (") == 1, "one model, one loaded copy"


@pytest.mark.slow
def test_a_bad_speaker_sample_refuses_the_job_naming_it(lenient, files):
    job = {"audio_file": f"{files}/file/dialogue.wav", "diarization": True, "speaker_verification": True}
    for url, needle in ((f"{files}/status/404", "speaker_samples[1]: download failed: HTTP 404"),
                        (f"{files}/file/notes.txt", "speaker_samples[1]: it is a text file")):
        samples = [{"name": "Ada", "url": f"{files}/file/dialogue.wav"}, {"name": "Bob", "url": url}]
        reply = lenient.run({**job, "speaker_samples": samples})
        assert reply["status"] == "FAILED" and reply["error"].startswith(needle), reply
        logs = lenient.wait_for_log(f"job {reply['id']} refused")
        assert "progress: transcribe" not in logs.split(f"job {reply['id']}", 1)[1], "refused before transcribing"


@pytest.mark.slow
def test_bad_media_errors_name_the_field(strict):
    text = base64.b64encode(b"plain text, no media here\n" * 40).decode()
    for field in ("audio_base64", "audio_file"):
        message = strict.error({field: text})
        assert message.startswith(f"{field}: it is a text file"), message
    garbage = base64.b64encode(bytes(range(256)) * 8).decode()
    message = strict.error({"audio_base64": garbage})
    assert message.startswith("audio_base64: could not decode audio"), message
    assert "input" not in message.split(":", 1)[1] and "wxw-job" not in message, message


@pytest.mark.slow
@pytest.mark.parametrize("payload", ["just a string", [1, 2]])
def test_input_that_is_not_an_object_gets_an_error(models_dir, tmp_path, payload):
    """Through the SDK's job runner (`--test_input`), which hands any JSON `input` to the handler as RunPod does.
    (The SDK's local HTTP server refuses a non-object `input` itself, with a 422, before any handler runs.)"""
    job = json.dumps({"input": payload})
    completed = subprocess.run([sys.executable, "rp_handler.py", "--test_input", job], cwd=ROOT, capture_output=True,
                               text=True, timeout=300, env=worker_env(models_dir, tmp_path, PRELOAD="0"))
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1 and "failed with error: input must be a JSON object" in output, output[-2000:]
    assert "Traceback" not in output


@pytest.mark.slow
def test_silence_gives_an_empty_transcript_and_warnings(strict):
    output = strict.output({"audio_base64": wav_b64(np.zeros(3 * 16_000, dtype=np.float32)), "num_speakers": 2})
    assert output["segments"] == [] and output["text"] == "" and output["transcription"] == ""
    assert any("no speech found" in warning for warning in output["warnings"]), output["warnings"]
    assert any("num_speakers ignored" in warning and "diarization=true" in warning
               for warning in output["warnings"]), output["warnings"]


# ---- in-process units (no models) ----------------------------------------------------------------
class _FakeRegistry:
    default_asr_name = "tiny.en"

    def asr(self, name: str | None = None) -> None:
        return None

    def available_asr_models(self) -> list[str]:
        return ["tiny.en"]


class _FakeEngine:
    """Just enough engine for the handler's plumbing (a stand-in, so these tests need no model): it records
    calls and fails as told."""

    def __init__(self, settings: Any, failure: BaseException | None = None) -> None:
        self.settings, self.failure, self.registry, self.seen = settings, failure, _FakeRegistry(), []

    def check_options(self, options: Any) -> None:
        pass  # the real checks need the models: tests/test_rp_voices.py runs them through the worker

    def transcribe(self, audio: Any, options: Any, *, on_progress: Any, on_segments: Any = None,
                   cancel: Any = None) -> Result:
        self.seen.append((audio, options))
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
    tone = np.sin(np.arange(8000) / 5).astype(np.float32)
    job = {"id": "j1", "input": {"audio_base64": wav_b64(tone)}}
    broken = _FakeEngine(fake_settings, RuntimeError("tensor exploded\nsecond line"))
    assert rp_handler.handle(job, _service(broken), sink=lambda *_: None) == {
        "error": "internal error: RuntimeError: tensor exploded"}
    refused = _FakeEngine(fake_settings, InvalidInput("language: nope", field="language"))
    assert rp_handler.handle(job, _service(refused), sink=lambda *_: None) == {"error": "language: nope"}
    fine = _FakeEngine(fake_settings)
    output = rp_handler.handle(job, _service(fine), sink=lambda *_: None)
    assert output["language"] == "en" and output["transcription"] == "" and output["translation"] is None
    audio, options = fine.seen[0]
    assert np.allclose(audio.samples, tone, atol=1e-4) and options.model == "tiny.en"
    assert not any(tmp_path.glob(f"{JOB_DIR_PREFIX}*"))


def test_a_job_stopped_while_its_audio_downloads_stops_at_once(tmp_path):
    """The download is the first step a stop must reach: the handler returns within a chunk, not when the whole
    file (or DOWNLOAD_TIMEOUT_S) is done, and keeps no file."""
    from core import Settings

    settings = Settings(models_dir=tmp_path, max_upload_mb=1, allow_private_urls=True)
    engine, cancel = _FakeEngine(settings), threading.Event()
    with media_server() as base:  # /slow: 500 bytes over 5 s
        job = {"id": "stopped-download", "input": {"audio": f"{base}/slow"}}
        threading.Timer(0.5, cancel.set).start()
        began = time.perf_counter()
        output = rp_handler.handle(job, _service(engine), sink=lambda *_: None, cancel=cancel)
        took = time.perf_counter() - began
    assert output == {"error": "the job was stopped before it finished"} and took < 2.5, (output, took)
    assert engine.seen == []


def test_the_streaming_handler_leaves_the_event_loop_free_while_the_job_runs(fake_settings, monkeypatch):
    """RUNPOD_STREAM=1: the SDK iterates the handler on its event loop, which must keep turning (heartbeats, stop
    signals) while a job runs and yields nothing; run through the SDK's own `run_job_generator`."""
    import asyncio

    from runpod.serverless.modules import rp_job

    class _SlowEngine(_FakeEngine):
        def transcribe(self, audio: Any, options: Any, **kwargs: Any) -> Result:
            time.sleep(1.5)
            return super().transcribe(audio, options, **kwargs)

    monkeypatch.setattr(rp_handler, "_service", _service(_SlowEngine(fake_settings)))
    monkeypatch.setattr(rp_handler, "_progress_sink", lambda _job, _message: None)
    job = {"id": "streamed-1", "input": {"audio_base64": wav_b64(np.zeros(8000, dtype=np.float32))}}

    async def run() -> tuple[list[Any], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.1)
                ticks += 1

        ticker = asyncio.create_task(tick())
        items = [item async for item in rp_job.run_job_generator(rp_handler.stream_handler, job)]
        ticker.cancel()
        return items, ticks

    items, ticks = asyncio.run(run())
    assert items[-1]["output"]["language"] == "en", items
    assert ticks >= 10, f"the event loop turned {ticks} times in a 1.5 s job"


def test_token_reaches_the_engine_only(fake_settings):
    engine = _FakeEngine(fake_settings)
    job = {"id": "j2", "input": {"audio_base64": wav_b64(np.zeros(1600, dtype=np.float32)),
                                 "huggingface_access_token": SECRET_TOKEN}}
    result = rp_handler.handle(job, _service(engine), sink=lambda *_: None)
    assert engine.seen[0][1].huggingface_access_token == SECRET_TOKEN
    assert SECRET_TOKEN not in json.dumps(result) and SECRET_TOKEN not in repr(engine.seen[0][1])


def test_model_spellings_resolve_to_one_installed_name(settings):
    from core.errors import ModelUnavailable
    from core.service import Service, model_key

    service = Service(settings)
    name = service.default_model
    for spelling in (None, "", name, name.upper(), f" {name}\t", f"openai/whisper-{name}",
                     f"Systran/faster-whisper-{name}"):
        assert service.resolve_model(spelling) == name, spelling
    assert model_key("turbo") == model_key("large-v3-turbo") == model_key("deepdml/faster-whisper-large-v3-turbo")
    for bad in (str(settings.models_dir / "asr" / name), f"./{name}", f"a/b/{name}", "..", "tiny en", "x\x00"):
        with pytest.raises(ModelUnavailable, match="not a path") as caught:
            service.resolve_model(bad)
        assert caught.value.field == "model"
    with pytest.raises(ModelUnavailable, match="'large-v2' is not installed; installed: "):
        service.resolve_model("large-v2")


def test_progress_is_throttled_but_reports_each_stage():
    clock = iter([0.0, 0.1, 0.2, 0.7, 0.75, 0.8]).__next__
    sent: list[str] = []
    reporter = rp_progress.ProgressReporter({"id": "j"}, lambda _job, message: sent.append(message), clock=clock)
    for stage, fraction in [("decode", 0.0), ("transcribe", 0.1), ("transcribe", 0.2), ("transcribe", 0.4),
                            ("transcribe", 0.45), ("align", 0.6)]:
        reporter(stage, fraction)
    assert sent == ["decode 0%", "transcribe 10%", "transcribe 40%", "align 60%"]


def test_a_failing_progress_sink_does_not_fail_the_job():
    def broken(_job: Any, _message: str) -> None:
        raise ConnectionError("runpod api down")

    rp_progress.ProgressReporter({"id": "j"}, broken)("decode", 0.0)
    sender = rp_progress.OrderedSender(broken)
    sender({"id": "j"}, "decode 0%")
    sender.close()


def test_progress_arrives_in_order_and_never_after_the_result(fake_settings):
    """A slow, jittery RunPod API: every update still arrives in order, and all before `handle` returns."""
    arrived: list[str] = []
    returned = threading.Event()
    late: list[str] = []

    def slow_api(_job: Any, message: str) -> None:
        time.sleep(0.02 * (len(arrived) % 3))
        (late if returned.is_set() else arrived).append(message)

    class ChattyEngine(_FakeEngine):
        def transcribe(self, audio: Any, options: Any, *, on_progress: Any, on_segments: Any = None,
                       cancel: Any = None) -> Result:
            for step in range(1, 21):
                on_progress(f"stage{step}", step / 20)  # a new stage each time: none is throttled
            return Result(segments=(), language="en")

    job = {"id": "j3", "input": {"audio_base64": wav_b64(np.zeros(1600, dtype=np.float32))}}
    rp_handler.handle(job, _service(ChattyEngine(fake_settings)), sink=slow_api)
    returned.set()
    assert arrived == ["fetch 0%", *[f"stage{step} {step * 5}%" for step in range(1, 21)]]
    assert not any(thread.name == "progress" and thread.is_alive() for thread in threading.enumerate())
    assert late == []


def test_a_stuck_progress_api_delays_the_result_only_briefly():
    release = threading.Event()
    sender = rp_progress.OrderedSender(lambda _job, _message: release.wait(10), drain_timeout_s=0.2)
    for step in range(3):
        sender({"id": "j"}, f"update {step}")
    started = time.monotonic()
    sender.close()
    assert time.monotonic() - started < 1.0
    sender({"id": "j"}, "after close")  # refused: nothing is queued once closed
    release.set()


def test_sdk_log_level_is_never_debug():
    for given, expected in (({}, "INFO"), ({"RUNPOD_LOG_LEVEL": "DEBUG"}, "INFO"),
                            ({"RUNPOD_DEBUG_LEVEL": "trace"}, "INFO"), ({"RUNPOD_LOG_LEVEL": "WARN"}, "WARN")):
        env = dict(given)
        assert rp_handler.quiet_sdk_logs(env) == expected
        assert env["RUNPOD_LOG_LEVEL"] == env["RUNPOD_DEBUG_LEVEL"] == expected
    for argv, fixed in ((["x", "--rp_log_level", "DEBUG"], ["x", "--rp_log_level", "INFO"]),
                        (["x", "--rp_log_level=TRACE"], ["x", "--rp_log_level=INFO"]),
                        (["x", "--rp_log_level", "ERROR"], ["x", "--rp_log_level", "ERROR"])):
        rp_handler._force_sdk_log_level(argv)
        assert argv == fixed


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
            parse_input(payload)


def test_unknown_field_message_lists_runpod_fields():
    with pytest.raises(InvalidInput) as caught:
        parse_input({"audio": "https://example.com/a.wav", "speed": 2})
    assert caught.value.field == "speed"
    for name in ("audio", "audio_base64", "audio_file", "word_timestamps", "translate", "diarize",
                 "speaker_verification", "speaker_samples", "suppress_tokens", "debug"):
        assert f"{name}," in caught.value.message or caught.value.message.endswith(name)


@pytest.mark.parametrize(("samples", "needle"), [
    ("https://x/a.wav", "must be a list"),
    ([{"name": "Ada", "file_path": "/etc/passwd"}], "local files are not read"),
    ([{"name": "Ada"}], "speaker_samples[0].url"),
    ([{"url": "UklGRg=="}], "name is required"),
    ([{"name": 3, "url": "https://x/a.wav"}], "name must be a string"),
    ([{"url": "https://x/a.wav"}] * 21, "at most 20"),
    # a label as a name would merge two speakers (a clip of an earlier run, named after its file)
    ([{"name": "SPEAKER_01", "url": "https://x/a.wav"}], "is a diarization label"),
    (["https://cdn.example.com/clips/SPEAKER_00.wav"], "is a diarization label"),
])
def test_speaker_samples_are_checked_before_any_work(samples, needle):
    with pytest.raises(InvalidInput) as caught:
        parse_input({"audio": "https://example.com/a.wav", "speaker_verification": True, "speaker_samples": samples})
    assert needle in caught.value.message and caught.value.field.startswith("speaker_samples")


def test_speaker_sample_names_default_to_the_file_name():
    request = parse_input({"audio_file": "https://example.com/a.wav", "speaker_verification": True,
                           "speaker_samples": [{"url": "https://cdn.example.com/voices/Ada%20L.m4a?sig=1"},
                                               "https://cdn.example.com/bob.wav"]})
    assert [sample.name for sample in request.speaker_samples] == ["Ada L", "bob"]


def test_import_is_cheap():
    """`import rp_handler` loads no model, no torch and no runpod (app.py imports it only for APP_MODE=runpod)."""
    code = "import sys, rp_handler; print(sorted({'torch', 'whisperx', 'runpod'} & set(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "[]", completed.stdout + completed.stderr


class _Probe:
    """The real engine, telling the test when the job has finished segments (so the stop comes mid-transcription);
    everything else is the engine's own."""

    def __init__(self, engine: Any) -> None:
        self._engine, self.finished = engine, threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def transcribe(self, audio: Any, options: Any, **kwargs: Any) -> Result:
        passed_on = kwargs.pop("on_segments", None)

        def on_segments(segments: Any) -> None:
            self.finished.set()
            if passed_on is not None:
                passed_on(segments)

        return self._engine.transcribe(audio, options, on_segments=on_segments, **kwargs)


@pytest.mark.slow
def test_a_stopped_job_returns_what_it_finished_marked_partial(engine, settings, dialogue, tmp_path, monkeypatch):
    """RunPod stops a job (a /cancel, the execution timeout) by cancelling the handler's task (the SDK's
    `JobScaler.stop_job`): run through the SDK's own `run_job`, the job ends at its next step and its output is
    what it had finished, marked `"partial": true` with a warning saying up to where, its formats included."""
    import asyncio

    from runpod.serverless.modules import rp_job

    from core.service import Service
    from tests.browser import tiled

    probe = _Probe(engine)
    monkeypatch.setattr(rp_handler, "_service", Service(settings, engine=probe))
    monkeypatch.setattr(rp_handler, "_progress_sink", lambda _job, _message: None)
    long = tiled(dialogue.path, 3, tmp_path / "long.wav")
    job = {"id": "stopped-1", "input": {"audio_base64": b64(long), "output_formats": ["json", "srt"],
                                        "chunk_size": 5, "batch_size": 1}}

    async def stopped_midway() -> dict[str, Any]:
        task = asyncio.create_task(rp_job.run_job(rp_handler.handler, job))
        while not probe.finished.is_set():
            assert not task.done(), task.result()
            await asyncio.sleep(0.1)
        task.cancel()  # what the SDK does on RunPod's stop signal
        return await task

    returned = asyncio.run(stopped_midway())
    assert "error" not in returned, returned
    output = returned["output"]
    assert output["partial"] is True and output["segments"] and output["outputs"]["srt"].strip()
    assert output["segments"][-1]["end"] < output["duration"] - 20, "it stopped well before the end"
    assert any(w.startswith("partial: the job was stopped at") for w in output["warnings"])
