"""The voice library end to end in the engine: enrol a person from clips of them alone, then transcribe other
recordings (real open-profile models, festival voices with known turns)."""

from __future__ import annotations

import dataclasses

import pytest

from core import TranscribeOptions
from core.engine import Engine
from core.media.decode import decode_audio
from core.service import Service

pytestmark = pytest.mark.slow
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
