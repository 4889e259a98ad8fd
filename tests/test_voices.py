"""The voice library end to end in the engine: enrol a person from clips of them alone, then transcribe other
recordings (real open-profile models, festival voices with known turns)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import TranscribeOptions
from core.engine import Engine
from core.media.decode import decode_audio
from core.service import Service
from core.speakers.voices import Voiceprint

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ADA = "Ada Lovelace"
DIARIZE = TranscribeOptions(diarization=True, align_output=False)


@pytest.fixture(scope="module")
def library_service(settings, engine, tmp_path_factory):
    """A service on its own DATA_DIR, sharing the session's loaded models."""
    own = dataclasses.replace(settings, data_dir=tmp_path_factory.mktemp("voices-data"))
    return Service(own, Engine(own, engine.registry))


def male_turns(result, recording) -> set[str]:
    """The labels the result gives the male voice's reference turns (by most overlap)."""
    labels = set()
    for start, end, speaker in recording.turns:
        if speaker != "male":
            continue
        overlaps = {}
        for turn in result.diarization:
            overlaps[turn.speaker] = overlaps.get(turn.speaker, 0.0) + max(0.0, min(end, turn.end) -
                                                                           max(start, turn.start))
        labels.add(max(overlaps, key=overlaps.get))
    return labels


def test_enrolled_voice_is_named_in_another_recording_only(library_service, voice_recordings):
    service = library_service
    enrol = decode_audio(voice_recordings["enrol"].path)
    voice = service.remember_voice(ADA, [(enrol.samples, "test: enrol-male.wav", "enrol-male.wav")])
    assert voice.name == ADA and voice.voiceprints == 1 and voice.seconds > 8

    meeting = service.engine.transcribe(voice_recordings["meeting"].path, DIARIZE)
    print("meeting", meeting.voices, meeting.speakers)
    assert male_turns(meeting, voice_recordings["meeting"]) == {ADA}
    assert ADA in meeting.speakers and len(meeting.speakers) == 3
    others = [s for s in meeting.speakers if s != ADA]
    assert all(s.startswith("SPEAKER_") for s in others)
    named = [match for match in meeting.voices if match.name == ADA]
    assert len(named) == 1 and named[0].score >= 0.85
    assert all(segment.speaker in meeting.speakers for segment in meeting.segments)
    assert {segment.speaker for segment in meeting.segments} >= {ADA}

    without = service.engine.transcribe(voice_recordings["without"].path, DIARIZE)
    print("without", without.voices)
    assert all(match.name is None for match in without.voices)
    assert all(s.startswith("SPEAKER_") for s in without.speakers)

    off = service.engine.transcribe(voice_recordings["meeting"].path,
                                    dataclasses.replace(DIARIZE, recognize_voices=False))
    assert off.voices is None and all(s.startswith("SPEAKER_") for s in off.speakers)

    service.voices.remove(ADA)
    after = service.engine.transcribe(voice_recordings["meeting"].path, DIARIZE)
    assert after.voices is None and all(s.startswith("SPEAKER_") for s in after.speakers)


def test_a_library_of_another_embedding_model_is_a_warning_never_compared(settings, engine, voice_recordings,
                                                                         tmp_path):
    own = dataclasses.replace(settings, data_dir=tmp_path)
    other = Engine(own, engine.registry)
    vector = np.ones(256, dtype=np.float32) / 16
    other.voices.add(ADA, [Voiceprint(vector, 10.0, "test")], "WeSpeakerResNet34/256/sha256:0000000000000000")
    result = other.transcribe(voice_recordings["without"].path, DIARIZE)
    assert result.voices is None and all(s.startswith("SPEAKER_") for s in result.speakers)
    warning = next(w for w in result.warnings if w.startswith("voices not recognised"))
    assert "WeSpeakerResNet34" in warning and "GE2EEmbedding" in warning and "cannot be compared" in warning


def run_cli(models_dir, data_dir, *args):
    env = {**os.environ, "MODELS_DIR": str(models_dir), "DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_cli_enrols_names_and_forgets(models_dir, voice_recordings, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    meeting = voice_recordings["meeting"].path
    refused = run_cli(models_dir, data, "voices", "add", "Bob", meeting)
    assert refused.returncode == 1 and "more than one voice" in refused.stderr and "Traceback" not in refused.stderr
    assert not (data / "voices.sqlite3").exists() or "is empty" in run_cli(models_dir, data, "voices", "list").stdout

    added = run_cli(models_dir, data, "voices", "add", ADA, voice_recordings["enrol"].path)
    assert added.returncode == 0, added.stderr
    listed = run_cli(models_dir, data, "voices", "list")
    assert ADA in listed.stdout and "cli: enrol-male.wav" in listed.stdout and "GE2EEmbedding" in listed.stdout

    job = run_cli(models_dir, data, meeting, "--diarize", "--no-align", "--formats", "json,srt", "--output-dir", out)
    assert job.returncode == 0, job.stderr
    result = json.loads((out / "three-people.json").read_text())
    assert ADA in result["speakers"] and [m["name"] for m in result["voices"]].count(ADA) == 1
    assert f"[{ADA}]" in (out / "three-people.srt").read_text() or ADA in (out / "three-people.srt").read_text()
    job = run_cli(models_dir, data, voice_recordings["without"].path, "--diarize", "--no-align", "--output-dir", out)
    assert all(m["name"] is None for m in json.loads((out / "two-others.json").read_text())["voices"])
    off = run_cli(models_dir, data, meeting, "--diarize", "--no-align", "--no-recognize-voices", "--output-dir", out)
    assert off.returncode == 0 and "voices" not in json.loads((out / "three-people.json").read_text())

    removed = run_cli(models_dir, data, "voices", "remove", ADA)
    assert removed.returncode == 0 and "forgotten" in removed.stdout
    job = run_cli(models_dir, data, meeting, "--diarize", "--no-align", "--output-dir", out)
    assert job.returncode == 0 and ADA not in (out / "three-people.json").read_text()
    again = run_cli(models_dir, data, "voices", "remove", ADA)
    assert again.returncode == 1 and f"no voice called {ADA!r}" in again.stderr
