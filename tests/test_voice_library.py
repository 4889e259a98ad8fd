"""The voice library's store (core/speakers/voices.py), without models: names, one embedding model per library,
forgetting for good, export/import, and two processes writing to one file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInput
from core.speakers.voices import DB_NAME, EXPORT_FORMAT, VoiceLibrary, VoiceLibraryMismatch, Voiceprint

ROOT = Path(__file__).resolve().parents[1]
MODEL = "GE2EEmbedding/256/sha256:0123456789abcdef"
OTHER = "WeSpeakerResNet34/256/sha256:fedcba9876543210"


def voiceprint(seed: int, source: str = "test") -> Voiceprint:
    vector = np.random.default_rng(seed).normal(size=256).astype(np.float32)
    return Voiceprint(vector / np.linalg.norm(vector), 12.5, source)


def test_an_absent_library_is_empty_and_reading_creates_nothing(tmp_path):
    library = VoiceLibrary(tmp_path / "data")
    assert library.voices() == [] and library.references(MODEL) == {} and library.model() is None
    assert library.export()["voices"] == []
    assert not (tmp_path / "data").exists()


def test_add_list_rename_remove(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(1, "cli: ada-1.wav")], MODEL)
    voice = library.add("ada", [voiceprint(2, "cli: ada-2.wav")], MODEL)  # the same person, any case
    assert (voice.name, voice.voiceprints, voice.seconds) == ("Ada", 2, 25.0)
    assert voice.sources == ("cli: ada-1.wav", "cli: ada-2.wav") and voice.created.endswith("+00:00")
    library.add("Grace", [voiceprint(3)], MODEL)
    assert [v.name for v in library.voices()] == ["Ada", "Grace"] and library.model() == MODEL
    references = library.references(MODEL)
    expected = voiceprint(1).vector + voiceprint(2).vector
    assert np.allclose(references["Ada"], expected / np.linalg.norm(expected), atol=1e-6)
    assert library.rename("grace", "Grace Hopper").name == "Grace Hopper"
    with pytest.raises(InvalidInput, match="already has a voice called 'Ada'"):
        library.rename("Grace Hopper", "ADA")
    library.remove("ada")
    assert [v.name for v in library.voices()] == ["Grace Hopper"]
    with pytest.raises(InvalidInput, match="no voice called 'Ada' in the library; known: Grace Hopper"):
        library.remove("Ada")
    assert (tmp_path / DB_NAME).stat().st_mode & 0o077 == 0, "voiceprints are readable by this user only"


@pytest.mark.parametrize(("name", "needle"), [("", "give the person's name"), ("SPEAKER_01", "diarization label"),
                                             ("x" * 101, "at most 100"), ("Ada\x00", "control characters"),
                                             (7, "must be a text")])
def test_bad_names_are_refused(tmp_path, name, needle):
    with pytest.raises(InvalidInput, match=needle):
        VoiceLibrary(tmp_path).add(name, [voiceprint(1)], MODEL)
    assert VoiceLibrary(tmp_path).voices() == []


def test_a_library_of_another_embedding_model_is_refused_never_compared(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(1)], MODEL)
    for attempt in (lambda: library.references(OTHER), lambda: library.add("Bob", [voiceprint(2)], OTHER)):
        with pytest.raises(VoiceLibraryMismatch) as refused:
            attempt()
        assert MODEL in refused.value.message and OTHER in refused.value.message
        assert "cannot be compared" in refused.value.message
    assert [v.name for v in library.voices()] == ["Ada"]
    library.remove("Ada")  # an empty library takes the next model's voices
    library.add("Bob", [voiceprint(2)], OTHER)
    assert library.model() == OTHER


def test_a_forgotten_voice_is_gone_from_the_file(tmp_path):
    library = VoiceLibrary(tmp_path)
    ada, grace = voiceprint(1), voiceprint(2)
    library.add("Ada Lovelace", [ada], MODEL)
    library.add("Grace", [grace], MODEL)
    library.remove("Ada Lovelace")
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert np.asarray(ada.vector, dtype="<f4").tobytes()[:64] not in stored
    assert b"Ada Lovelace" not in stored
    assert np.asarray(grace.vector, dtype="<f4").tobytes()[:64] in stored


def test_export_and_import(tmp_path):
    source = VoiceLibrary(tmp_path / "a")
    source.add("Ada", [voiceprint(1), voiceprint(2)], MODEL)
    source.add("Grace", [voiceprint(3)], MODEL)
    data = json.loads(json.dumps(source.export()))
    assert data["format"] == EXPORT_FORMAT and data["embedding_model"] == MODEL
    target = VoiceLibrary(tmp_path / "b")
    assert target.import_data(data, MODEL) == ["Ada", "Grace"]
    assert target.import_data(data, MODEL) == ["Ada", "Grace"]  # twice: nothing doubled
    assert [(v.name, v.voiceprints) for v in target.voices()] == [("Ada", 2), ("Grace", 1)]
    for name, vector in source.references(MODEL).items():
        assert np.allclose(target.references(MODEL)[name], vector, atol=1e-6)
    with pytest.raises(VoiceLibraryMismatch, match="cannot be compared"):
        VoiceLibrary(tmp_path / "c").import_data(data, OTHER)
    assert not (tmp_path / "c" / DB_NAME).exists() or VoiceLibrary(tmp_path / "c").voices() == []


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d.update(format="zip"), "not a voice library export"),
    (lambda d: d.update(version=9), "version 9 is not supported"),
    (lambda d: d["voices"][1].update(name="SPEAKER_00"), r"voices\[1\].name: .SPEAKER_00. is a diarization label"),
    (lambda d: d["voices"][0]["voiceprints"][0].update(vector=[1.0, "x"]), r"voices\[0\].voiceprints\[0\].vector"),
    (lambda d: d["voices"][1]["voiceprints"][0].update(vector=[0.5] * 3), "has 3 numbers, the others 256"),
    (lambda d: d["voices"][1].update(name="ada"), "the same name appears twice"),
])
def test_a_bad_import_names_the_place_and_stores_nothing(tmp_path, mutate, needle):
    source = VoiceLibrary(tmp_path / "a")
    source.add("Ada", [voiceprint(1)], MODEL)
    source.add("Grace", [voiceprint(2)], MODEL)
    data = json.loads(json.dumps(source.export()))
    mutate(data)
    target = VoiceLibrary(tmp_path / "b")
    with pytest.raises(InvalidInput, match=needle):
        target.import_data(data, MODEL)
    assert target.voices() == []


WRITER = """
import sys, numpy as np
from pathlib import Path
from core.speakers.voices import VoiceLibrary, Voiceprint
library = VoiceLibrary(Path(sys.argv[1]))
for k in range(25):
    v = np.random.default_rng(k).normal(size=256).astype(np.float32)
    library.add(f"{sys.argv[2]} {k}", [Voiceprint(v / np.linalg.norm(v), 3.0, "writer")], "M")
    library.references("M")
"""


def test_two_processes_share_one_library(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), who], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for who in ("web", "worker")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    assert len(VoiceLibrary(tmp_path).voices()) == 50


def test_the_page_remembers_a_named_speaker_from_its_turns_in_the_file(tmp_path):
    """What "Remember this voice" takes from the page's state (the browser test runs it for real)."""
    from core.errors import WorkerError
    from ui.handlers import file_url
    from ui.voices import _audio_path, _named_turns

    recording = tmp_path / "talk #1.wav"
    recording.write_bytes(b"RIFF")
    item = {"name": "talk #1.wav", "names": {"SPEAKER_01": "Ada"}, "audio_url": file_url(str(recording)),
            "result": {"speakers": ["SPEAKER_00", "SPEAKER_01"],
                       "diarization": [{"start": 0.0, "end": 2.0, "speaker": "SPEAKER_00"},
                                       {"start": 2.0, "end": 5.0, "speaker": "SPEAKER_01"},
                                       {"start": 6.0, "end": 9.5, "speaker": "SPEAKER_01"}]}}
    name, turns = _named_turns(item, "SPEAKER_01")
    assert name == "Ada" and [(t.start, t.end) for t in turns] == [(2.0, 5.0), (6.0, 9.5)]
    assert _audio_path(item) == recording
    with pytest.raises(WorkerError, match="Give SPEAKER_00 a name first"):
        _named_turns(item, "SPEAKER_00")
    with pytest.raises(WorkerError, match="Choose a speaker"):
        _named_turns(item, None)
    with pytest.raises(WorkerError, match="recording of this transcript is not on the server"):
        _audio_path({**item, "audio_url": None})
