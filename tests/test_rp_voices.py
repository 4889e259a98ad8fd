"""The voice library through the real RunPod worker (`rp_handler.py --rp_serve_api`, real SDK, real HTTP): a
request keeps its speaker samples, later jobs name that person, and the CLI forgets them on the same DATA_DIR
(two processes on one library, as on a shared volume); voices of an earlier speaker model are named in a warning
until a request enrols them again."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.speakers.voices import DB_NAME, VoiceLibrary, Voiceprint, reenrol_note
from tests.rp_server import launch, stop_workers, wait_ready

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ADA = "Ada Lovelace"
OLD_MODEL = "GE2EEmbedding/256/sha256:0000000000000000"  # an earlier speaker model, as model_identity() names one


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def worker(models_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("rp-voices")
    started = launch(models_dir, home, DATA_DIR=str(home / "data"))
    try:
        wait_ready(started)
        yield started
    finally:
        stop_workers({"voices": started})


def test_kept_samples_name_the_person_in_later_jobs(worker, voice_recordings, models_dir):
    without, meeting = b64(voice_recordings["without"].path), b64(voice_recordings["meeting"].path)
    sample = {"name": ADA, "url": b64(voice_recordings["enrol"].path)}
    first = worker.output({"audio_base64": without, "diarization": True, "align_output": False,
                           "speaker_samples": [sample], "remember_speaker_samples": True})
    assert all(entry["name"].startswith("SPEAKER_") for entry in first["speakers"].values()), first["speakers"]
    assert all(match["name"] is None for match in first["voices"])
    assert "speaker_samples" in first["timings"]

    second = worker.output({"audio_base64": meeting, "diarization": True, "align_output": False,
                            "output_formats": ["srt"]})
    named = {label: entry for label, entry in second["speakers"].items() if entry["name"] == ADA}
    assert len(named) == 1 and len(second["speakers"]) == 3, second["speakers"]
    (label, entry), = named.items()
    assert label.startswith("SPEAKER_") and entry["score"] >= 0.85 and entry["time"] > 3
    assert ADA in second["outputs"]["srt"] and ADA in {segment["speaker"] for segment in second["segments"]}
    assert ADA in {turn["speaker"] for turn in second["diarization"]}

    off = worker.output({"audio_base64": meeting, "diarization": True, "align_output": False,
                         "recognize_voices": False})
    assert "voices" not in off and ADA not in str(off["speakers"])

    data_dir = worker.log_path.parent / "data"
    assert (data_dir / DB_NAME).is_file() and ADA not in worker.logs()  # the name is user content too
    env = {**os.environ, "MODELS_DIR": str(models_dir), "DATA_DIR": str(data_dir)}
    removed = subprocess.run([sys.executable, "-m", "core", "voices", "remove", ADA], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert removed.returncode == 0, removed.stderr
    third = worker.output({"audio_base64": meeting, "diarization": True, "align_output": False})
    assert "voices" not in third and ADA not in str(third)


def test_voices_of_an_earlier_model_are_named_until_a_request_enrols_them_again(worker, voice_recordings):
    """The library as an upgrade leaves it: voiceprints written under another model's identity (rows in the
    worker's DATA_DIR, written from this process as a second process on the volume would)."""
    library = VoiceLibrary(worker.log_path.parent / "data")
    for name in (ADA, "Grace Hopper"):
        library.add(name, [Voiceprint(np.ones(256, dtype=np.float32) / 16, 9.0, "runpod: earlier")], OLD_MODEL)
    meeting = b64(voice_recordings["meeting"].path)
    first = worker.output({"audio_base64": meeting, "diarization": True, "align_output": False})
    assert ADA not in str(first["speakers"]) and reenrol_note([ADA, "Grace Hopper"]) in first["warnings"]

    sample = {"name": ADA, "url": b64(voice_recordings["enrol"].path)}
    second = worker.output({"audio_base64": meeting, "diarization": True, "align_output": False,
                            "speaker_samples": [sample], "remember_speaker_samples": True})
    assert [entry["name"] for entry in second["speakers"].values()].count(ADA) == 1, second["speakers"]
    notes = [warning for warning in second["warnings"] if "another speaker model" in warning]
    assert notes == [reenrol_note(["Grace Hopper"])]
    assert {voice.name: voice.voiceprints for voice in library.voices()} == {ADA: 2, "Grace Hopper": 1}
    assert "Grace Hopper" not in worker.logs()  # names are user content: warnings go to the result only


@pytest.mark.parametrize(("payload", "needle"), [
    ({"remember_speaker_samples": "yes"}, "remember_speaker_samples must be a boolean"),
    ({"remember_speaker_samples": True, "speaker_samples": [{"name": "SPEAKER_03", "url": "https://e.com/a.wav"}]},
     "speaker_samples[0].name: 'SPEAKER_03' is a diarization label"),
    ({"recognize_voices": 1}, "recognize_voices must be a boolean"),
    # refused before the audio is fetched (this machine has no network: a fetch would fail otherwise), so a
    # voice to remember is never kept by a job that is refused
    ({"language": "xx", "remember_speaker_samples": True, "speaker_samples": [{"name": "Zed", "url": "UklGRg=="}]},
     "language='xx' is not"),
    ({"language": "de", "model": "tiny.en", "remember_speaker_samples": True,
      "speaker_samples": [{"name": "Zed", "url": "UklGRg=="}]}, "is English-only"),
    ({"diarization": True, "diarization_model": "no-such-pipeline"}, "diarization_model='no-such-pipeline' is not"),
])
def test_bad_voice_fields_are_refused_before_any_work(worker, payload, needle):
    error = worker.error({"audio": "https://example.com/talk.wav", **payload})
    assert needle in error
    assert "Zed" not in {voice.name for voice in VoiceLibrary(worker.log_path.parent / "data").voices()}
