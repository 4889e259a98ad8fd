"""The Gradio app's `/transcribe` endpoint through `gradio_client`, against the real server (open profile, CPU)."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, AuthenticationError

from core.options import option_fields
from tests import speech
from tests.subtitles import parse_srt
from ui.controls import HIDDEN_OPTIONS
from ui.errors import GENERIC_ERROR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def diarized(client, dialogue) -> dict:
    """The dialogue with diarization, three formats and one advanced option (5 s chunks: a segment per line)."""
    return client.predict(handle_file(str(dialogue.path)), diarization=True, output_formats=["srt", "vtt", "rttm"],
                          chunk_size=5, api_name="/transcribe")


@pytest.fixture(scope="module")
def not_media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("not-media")
    (folder / "notes.txt").write_text("meeting notes, not a recording\n" * 40)
    (folder / "notes.wav").write_text("a text file that calls itself audio\n" * 40)
    return folder


def test_result_has_segments_speakers_and_the_asked_formats(diarized, dialogue):
    assert diarized["segments"] and diarized["language"] == "en" and diarized["model"] == "tiny.en"
    assert len(diarized["speakers"]) == 2
    assert {seg["speaker"] for seg in diarized["segments"]} == set(diarized["speakers"]), "5 s chunks: both voices"
    assert all(seg["end"] - seg["start"] <= 5.5 for seg in diarized["segments"]), "chunk_size reached the engine"
    assert set(diarized["outputs"]) == {"srt", "vtt", "rttm"}
    cues = parse_srt(diarized["outputs"]["srt"])
    assert len(cues) == len(diarized["segments"]) and all(cue[3].startswith("[SPEAKER_0") for cue in cues)
    assert diarized["outputs"]["vtt"].startswith("WEBVTT")
    rttm = diarized["outputs"]["rttm"].splitlines()
    assert len(rttm) == len(diarized["diarization"]) and all(line.startswith("SPEAKER dialogue 1 ") for line in rttm)
    assert json.loads(json.dumps(diarized)) == diarized


def test_accuracy_bounds_hold_through_the_api(diarized, dialogue):
    """The bounds of tests/test_engine.py: the app adds nothing and loses nothing."""
    wer = speech.word_error_rate(dialogue.script, diarized["text"])
    assert wer <= 0.25, (wer, diarized["text"])
    turns = [(t["start"], t["end"], t["speaker"]) for t in diarized["diarization"]]
    errors = speech.diarization_error_rate(dialogue.turns, turns, detailed=True)
    assert errors["confusion"] + errors["false alarm"] <= 0.02 * errors["total"], errors
    assert errors["diarization error rate"] <= 0.18, errors


def test_result_warnings_are_returned(diarized):
    assert any("Whisper" in warning for warning in diarized["warnings"]), "the open profile has no wav2vec2"


@pytest.mark.parametrize("name", ["notes.txt", "notes.wav"])
def test_non_media_upload_is_a_readable_error_and_the_server_keeps_serving(client, not_media, dialogue, name):
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(not_media / name)), api_name="/transcribe")
    message = str(caught.value)
    assert message.startswith(f"{name}: it is a text file, not a media file"), message
    assert "Traceback" not in message and GENERIC_ERROR not in message
    result = client.predict(handle_file(str(dialogue.path)), output_formats=["txt"], api_name="/transcribe")
    assert result["text"] and result["outputs"]["txt"].strip()


@pytest.mark.parametrize(("options", "field", "fragment"), [
    ({"num_speakers": 2, "min_speakers": 3}, "num_speakers", "below min_speakers"),
    ({"beam_size": 2.5}, "beam_size", "must be an integer"),
    ({"vad_onset": 1.5}, "vad_onset", "out of range"),
    ({"output_formats": ["json", "docx"]}, "output_formats", "unknown format 'docx'"),
    ({"task": "summarize"}, "task", "accepted: transcribe, translate"),
    ({"language": "klingon"}, "language", "not a Whisper language"),
    ({"model": "large-v9"}, "large-v9", "installed: tiny.en"),
    ({"diarization": "yes"}, "diarization", "boolean"),
])
def test_option_errors_name_the_field(client, dialogue, options, field, fragment):
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(dialogue.path)), api_name="/transcribe", **options)
    assert field in str(caught.value) and fragment in str(caught.value), str(caught.value)


def test_missing_audio_is_a_readable_error(client):
    with pytest.raises(AppError, match="audio: pass a file"):
        client.predict(None, api_name="/transcribe")


def test_view_api_documents_the_endpoint_with_the_options_defaults(client, models_dir):
    info = client.view_api(print_info=False, return_format="dict")
    assert list(info["named_endpoints"]) == ["/transcribe", "/realign"] and not info["unnamed_endpoints"]
    endpoint = info["named_endpoints"]["/transcribe"]
    params = endpoint["parameters"]
    assert params[0]["parameter_name"] == "audio" and not params[0]["parameter_has_default"]
    expected = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                for f in option_fields() if f.name not in HIDDEN_OPTIONS}
    # the server's default model: WHISPER_MODEL (the tests pin tiny.en, tests/conftest.py), else the manifest's
    expected["model"] = (os.environ.get("WHISPER_MODEL")
                         or json.loads((models_dir / "manifest.json").read_text())["defaults"]["asr"])
    documented = {p["parameter_name"]: p["parameter_default"] for p in params[1:]}
    assert list(documented) == list(expected), "options follow the audio, in field order"
    assert documented == expected
    assert all(p["parameter_has_default"] for p in params[1:])
    assert [r["component"] for r in endpoint["returns"]] == ["Json"]


def test_queue_runs_one_job_at_a_time_and_is_bounded(models_dir):
    """The button and the API share one concurrency group of size 1; the queue has a maximum length."""
    from core import Settings
    from ui.server import DEFAULT_CONCURRENCY, QUEUE_MAX_SIZE, create_demo

    demo = create_demo(Settings(models_dir=models_dir, device="cpu"))
    jobs = [fn for fn in demo.fns.values() if fn.api_name in ("transcribe", "on_transcribe")]
    assert len(jobs) == 2 and len({fn.concurrency_id for fn in jobs}) == 1
    assert all(fn.concurrency_limit == "default" for fn in jobs)
    assert demo._queue.default_concurrency_limit == DEFAULT_CONCURRENCY == 1
    assert demo._queue.max_size == QUEUE_MAX_SIZE > 0


# ---- a second server: login and an upload limit ------------------------------------------------------------
USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture(scope="module")
def guarded_server(models_dir):
    """UI_AUTH and MAX_UPLOAD_MB=1; PRELOAD=0 keeps it light (nothing here runs a model)."""
    from tests.ui_server import start_server

    server = start_server(models_dir, UI_AUTH=f"{USER}:{PASSWORD}", MAX_UPLOAD_MB="1", PRELOAD="0")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory):
    import numpy as np
    import soundfile

    path = tmp_path_factory.mktemp("big") / "long.wav"
    soundfile.write(str(path), np.zeros(16000 * 40, dtype=np.float32), 16000)  # 1.28 MB
    return path


def test_ui_auth_requires_login(guarded_server):
    with pytest.raises(AuthenticationError):
        Client(guarded_server.url, verbose=False)
    with pytest.raises(ValueError, match=r"Incorrect credentials|Could not login"):
        Client(guarded_server.url, auth=(USER, "wrong"), verbose=False)
    client = Client(guarded_server.url, auth=(USER, PASSWORD), verbose=False)
    assert "/transcribe" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_uploads_over_max_upload_mb_are_refused_with_a_message(guarded_server, big_wav):
    with httpx.Client(base_url=guarded_server.url, timeout=30) as http:
        assert http.get("config").status_code == 401
        assert http.post("login", data={"username": USER, "password": PASSWORD}).status_code == 200
        config = http.get("config").json()
        assert config["max_file_size"] == 1024 * 1024
        labels = [c["props"].get("label") or "" for c in config["components"]]
        assert any("up to 1 MB" in label for label in labels), "the page states the limit"
        with big_wav.open("rb") as handle:
            response = http.post("gradio_api/upload", files={"files": (big_wav.name, handle, "audio/wav")})
    assert response.status_code == 413 and "maximum allowed size" in response.text
    client = Client(guarded_server.url, auth=(USER, PASSWORD), verbose=False)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big_wav)), api_name="/transcribe")
