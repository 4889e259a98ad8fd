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
from core.speakers.voices import READY, REENROL, VoiceLibrary, Voiceprint, reenrol_note

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ADA = "Ada Lovelace"
DIARIZE = TranscribeOptions(diarization=True, align_output=False)
OLD_MODEL = "GE2EEmbedding/256/sha256:0000000000000000"  # an earlier speaker model, as model_identity() names one


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


def test_voices_of_another_speaker_model_are_named_in_one_warning_never_compared(settings, engine,
                                                                                voice_recordings, tmp_path):
    """A library enrolled partly with an earlier speaker model: "Bob" holds the real voiceprint of a meeting
    speaker, stored under another model's identity (GE2E's format, a digest no installed model has), which is
    what a GE2E library looks like to a CAM++ server. Were it compared, Bob would be named."""
    own = dataclasses.replace(settings, data_dir=tmp_path)
    service = Service(own, Engine(own, engine.registry))
    meeting = voice_recordings["meeting"]
    first = service.engine.transcribe(meeting.path, DIARIZE)
    (male,) = male_turns(first, meeting)
    other = next(label for label in first.speakers if label != male)
    samples = decode_audio(meeting.path).samples
    ada, model = service.engine.voiceprint(samples, source="test", turns=first.diarization, label=male)
    bob, _ = service.engine.voiceprint(samples, source="test", turns=first.diarization, label=other)
    service.voices.add(ADA, [ada], model)
    service.voices.add("Bob", [bob], OLD_MODEL)
    service.voices.add("Cy", [Voiceprint(np.ones(256, dtype=np.float32) / 16, 10.0, "test")], OLD_MODEL)
    assert model != OLD_MODEL

    result = service.engine.transcribe(meeting.path, DIARIZE)
    assert male_turns(result, meeting) == {ADA} and "Bob" not in result.speakers
    assert {match.name for match in result.voices} == {ADA, None}
    notes = [warning for warning in result.warnings if "another speaker model" in warning]
    assert notes == [reenrol_note(["Bob", "Cy"])]
    assert notes[0].startswith("Bob, Cy were enrolled with another speaker model and are not recognised until "
                               "enrolled again; enrol them again: ")
    assert [(voice.name, state) for voice, state in service.voice_listing().voices] == [
        (ADA, READY), ("Bob", REENROL), ("Cy", REENROL)]

    service.voices.add("Bob", [bob], model)  # enrolled again with this model: the mark goes
    assert [state for _, state in service.voice_listing().voices] == [READY, READY, REENROL]
    again = service.engine.transcribe(meeting.path, DIARIZE)
    assert "Bob" in again.speakers and ADA in again.speakers
    assert [w for w in again.warnings if "another speaker model" in w] == [reenrol_note(["Cy"])]


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
    assert f"{ADA}\t{READY}\t1 voiceprint(s)" in listed.stdout and "cli: enrol-male.wav" in listed.stdout

    job = run_cli(models_dir, data, meeting, voice_recordings["without"].path, "--diarize", "--no-align",
                  "--formats", "json,srt", "--output-dir", out)  # one run, two files: the models load once
    assert job.returncode == 0, job.stderr
    result = json.loads((out / "three-people.json").read_text())
    assert ADA in result["speakers"] and [m["name"] for m in result["voices"]].count(ADA) == 1
    assert f"[{ADA}]" in (out / "three-people.srt").read_text() or ADA in (out / "three-people.srt").read_text()
    assert all(m["name"] is None for m in json.loads((out / "two-others.json").read_text())["voices"])
    off = run_cli(models_dir, data, meeting, "--diarize", "--no-align", "--no-recognize-voices", "--output-dir", out)
    assert off.returncode == 0 and "voices" not in json.loads((out / "three-people.json").read_text())

    removed = run_cli(models_dir, data, "voices", "remove", ADA)
    assert removed.returncode == 0 and "forgotten" in removed.stdout
    assert "is empty" in run_cli(models_dir, data, "voices", "list").stdout  # no job names anyone now
    again = run_cli(models_dir, data, "voices", "remove", ADA)
    assert again.returncode == 1 and f"no voice called {ADA!r}" in again.stderr


def test_cli_lists_voices_to_re_enrol_and_enrolling_again_clears_the_mark(models_dir, settings, engine,
                                                                         voice_recordings, tmp_path):
    """Old-model voices are rows written under another identity (see the engine test above)."""
    data, export = tmp_path / "data", tmp_path / "earlier.json"
    model = Service(settings, engine).voice_model()
    library = VoiceLibrary(data)
    size = int(model.split("/")[1])  # "Class/dimension/sha256:digest"
    library.add("Grace", [Voiceprint(np.ones(size, dtype=np.float32) / size ** 0.5, 5.0, "test")], model)
    library.add(ADA, [Voiceprint(np.ones(256, dtype=np.float32) / 16, 5.0, "test")], OLD_MODEL)
    earlier = {"format": "whisperx-worker voice library", "version": 1, "embedding_model": OLD_MODEL,
               "voices": [{"name": "Bob", "voiceprints": [{"vector": [0.5, -0.5] * 128, "seconds": 3.0}]}]}
    export.write_text(json.dumps(earlier), encoding="utf-8")

    imported = run_cli(models_dir, data, "voices", "import", export)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == ["1 voice(s) imported: Bob", reenrol_note(["Bob"])]
    listed = run_cli(models_dir, data, "voices", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].endswith(f"this server's speaker model: {model}")
    assert [line.split("\t")[:2] for line in lines[1:4]] == [[ADA, REENROL], ["Bob", REENROL], ["Grace", READY]]
    assert lines[4:] == [reenrol_note([ADA, "Bob"])]

    added = run_cli(models_dir, data, "voices", "add", ADA, voice_recordings["enrol"].path)
    assert added.returncode == 0, added.stderr
    lines = run_cli(models_dir, data, "voices", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in lines[1:4]] == [[ADA, READY, "2 voiceprint(s)"],
                                                             ["Bob", REENROL, "1 voiceprint(s)"],
                                                             ["Grace", READY, "1 voiceprint(s)"]]
    assert lines[4:] == [reenrol_note(["Bob"])]
