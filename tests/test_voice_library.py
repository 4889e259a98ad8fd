"""The voice library's store (core/speakers/voices.py), without models: names, voiceprints of several embedding
models (those of another model are to re-enrol, never compared), a first-schema file migrated in place, forgetting
for good, export/import (version 2, and version 1 files), and two processes writing to one file.

Model identities here are strings in `recognition.model_identity`'s format; "old" voiceprints are rows written under
another identity, which is what a library enrolled with GE2E looks like to a server running CAM++."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInput
from core.speakers.voices import (
    DB_NAME,
    EXPORT_FORMAT,
    NEWER_LIBRARY,
    READY,
    REENROL,
    UNCHECKED,
    Listing,
    Voice,
    VoiceLibrary,
    Voiceprint,
    reenrol_note,
    voice_status,
)

ROOT = Path(__file__).resolve().parents[1]
FIRST_SCHEMA = ROOT / "tests" / "fixtures" / "voices-v1"  # made by the code before this schema (its README)
GE2E = "GE2EEmbedding/256/sha256:9673b89abbbb6372"  # the model of that file
MODEL = "CAMPPlus/192/sha256:0123456789abcdef"
OTHER = "GE2EEmbedding/256/sha256:fedcba9876543210"


def voiceprint(seed: int, source: str = "test", size: int = 256) -> Voiceprint:
    vector = np.random.default_rng(seed).normal(size=size).astype(np.float32)
    return Voiceprint(vector / np.linalg.norm(vector), 12.5, source)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_an_absent_library_is_empty_and_reading_creates_nothing(tmp_path):
    library = VoiceLibrary(tmp_path / "data")
    assert library.voices() == [] and library.models() == {}
    assert library.references(MODEL).vectors == {} and library.references(MODEL).reenrol == ()
    assert library.export()["voices"] == []
    assert not (tmp_path / "data").exists()


def test_add_list_rename_remove(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(1, "cli: ada-1.wav")], MODEL)
    voice = library.add("ada", [voiceprint(2, "cli: ada-2.wav")], MODEL)  # the same person, any case
    assert (voice.name, voice.voiceprints, voice.seconds) == ("Ada", 2, 25.0)
    assert voice.sources == ("cli: ada-1.wav", "cli: ada-2.wav") and voice.created.endswith("+00:00")
    library.add("Grace", [voiceprint(3)], MODEL)
    assert [v.name for v in library.voices()] == ["Ada", "Grace"] and library.models() == {MODEL: 3}
    references = library.references(MODEL)
    assert np.allclose(references.vectors["Ada"], unit(voiceprint(1).vector + voiceprint(2).vector), atol=1e-6)
    assert references.reenrol == ()
    assert library.rename("grace", "Grace Hopper").name == "Grace Hopper"
    with pytest.raises(InvalidInput, match="already has a voice called 'Ada'"):
        library.rename("Grace Hopper", "ADA")
    library.remove("ada")
    assert [v.name for v in library.voices()] == ["Grace Hopper"]
    with pytest.raises(InvalidInput, match="no voice called 'Ada' in the library; known: Grace Hopper"):
        library.remove("Ada")
    assert (tmp_path / DB_NAME).stat().st_mode & 0o077 == 0, "voiceprints are readable by this user only"


def test_names_are_one_person_whatever_their_case_spaces_or_unicode_form(tmp_path):
    """SQLite's NOCASE folds ASCII only: "Élodie" and "élodie", or José written with a combining accent, are one
    voice all the same; a rename onto such a name is refused; extra spaces find the voice."""
    library = VoiceLibrary(tmp_path)
    library.add("Élodie", [voiceprint(1)], MODEL)
    assert (library.add("élodie", [voiceprint(2)], MODEL).name, len(library.voices())) == ("Élodie", 1)
    library.add("Jos\u00e9", [voiceprint(3)], MODEL)
    assert library.add("Jose\u0301", [voiceprint(4)], MODEL).voiceprints == 2 and len(library.voices()) == 2
    library.add("Ödön", [voiceprint(5)], MODEL)
    library.add("Bob", [voiceprint(6)], MODEL)
    with pytest.raises(InvalidInput, match="already has a voice called 'Ödön'"):
        library.rename("Bob", "ödön")
    library.add("Ada Lovelace", [voiceprint(7)], MODEL)
    assert library.voice("Ada  Lovelace").name == "Ada Lovelace"
    library.remove(" ada   lovelace ")
    assert "Ada Lovelace" not in {voice.name for voice in library.voices()}


@pytest.mark.parametrize(("name", "needle"), [("", "give the person's name"), ("SPEAKER_01", "diarization label"),
                                             ("x" * 101, "at most 100"), ("Ada\x00", "control characters"),
                                             (7, "must be a text")])
def test_bad_names_are_refused(tmp_path, name, needle):
    with pytest.raises(InvalidInput, match=needle):
        VoiceLibrary(tmp_path).add(name, [voiceprint(1)], MODEL)
    assert VoiceLibrary(tmp_path).voices() == []


def test_voices_of_another_model_are_to_re_enrol_never_compared(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(1, size=192)], MODEL)
    library.add("Bob", [voiceprint(2)], OTHER)  # enrolled with the earlier model
    library.add("Cy", [voiceprint(3, size=192), voiceprint(4, size=192)], MODEL)
    library.add("Cy", [voiceprint(5)], OTHER)  # enrolled with both
    now = library.references(MODEL)
    assert sorted(now.vectors) == ["Ada", "Cy"] and now.reenrol == ("Bob",)
    assert np.allclose(now.vectors["Cy"], unit(voiceprint(3, size=192).vector + voiceprint(4, size=192).vector),
                       atol=1e-6), "only the voiceprints of the job's model count"
    before = library.references(OTHER)
    assert sorted(before.vectors) == ["Bob", "Cy"] and before.reenrol == ("Ada",)
    assert np.allclose(before.vectors["Cy"], voiceprint(5).vector, atol=1e-6)
    voices = {voice.name: voice for voice in library.voices()}
    assert voices["Cy"].models == tuple(sorted((MODEL, OTHER))) and voices["Cy"].voiceprints == 3
    assert [voice_status(voices[name], MODEL) for name in ("Ada", "Bob", "Cy")] == [READY, REENROL, READY]
    assert voice_status(voices["Bob"], None) == UNCHECKED
    assert library.models() == {MODEL: 3, OTHER: 2}

    # enrolling Bob again with the current model makes him usable; his old voiceprint stays, harmlessly
    assert library.add("bob", [voiceprint(6, size=192)], MODEL).models == tuple(sorted((MODEL, OTHER)))
    now = library.references(MODEL)
    assert now.reenrol == () and np.allclose(now.vectors["Bob"], voiceprint(6, size=192).vector, atol=1e-6)
    assert np.allclose(library.references(OTHER).vectors["Bob"], voiceprint(2).vector, atol=1e-6)
    with pytest.raises(InvalidInput, match="model must name"):
        library.add("Dan", [voiceprint(7)], "")


def test_one_wording_for_voices_to_re_enrol():
    assert reenrol_note(["Ada"]) == (
        "Ada was enrolled with another speaker model and is not recognised until enrolled again; enrol them again: "
        "Remember this voice on the page, `python -m core voices add NAME FILE`, or RunPod's "
        "remember_speaker_samples")
    assert reenrol_note(["Ada", "Bob"]).startswith("Ada, Bob were enrolled with another speaker model and are not "
                                                   "recognised until enrolled again; enrol them again: ")
    many = reenrol_note([f"Person {k}" for k in range(13)])
    assert many.startswith("Person 0, Person 1, ") and "Person 9 and 3 more were enrolled" in many
    ada, bob = (Voice(name, 1, 3.0, "2025-01-01T00:00:00+00:00", ("test",), (model,))
                for name, model in (("Ada", MODEL), ("Bob", OTHER)))
    listing = Listing(MODEL, tuple((voice, voice_status(voice, MODEL)) for voice in (ada, bob)))
    assert listing.reenrol == ["Bob"] and listing.note == reenrol_note(["Bob"])
    assert Listing(MODEL, ((ada, READY),)).note == ""


def test_a_first_schema_library_is_migrated_in_place(tmp_path):
    """A file the code before this schema wrote: its voiceprints take its one model, and it stays usable by it."""
    shutil.copy(FIRST_SCHEMA / DB_NAME, tmp_path / DB_NAME)
    library = VoiceLibrary(tmp_path)
    voices = library.voices()
    assert [(v.name, v.voiceprints, v.models) for v in voices] == [("Ada Lovelace", 2, (GE2E,)),
                                                                   ("Grace Hopper", 1, (GE2E,))]
    assert voices[0].sources == ("cli: ada-1.wav", "cli: ada-2.wav") and voices[0].seconds == 23.0
    old = library.references(GE2E)
    assert old.reenrol == () and np.allclose(old.vectors["Ada Lovelace"],
                                             unit(voiceprint(1).vector + voiceprint(2).vector), atol=1e-6)
    assert np.allclose(old.vectors["Grace Hopper"], voiceprint(3).vector, atol=1e-6)
    new = library.references(MODEL)  # after an upgrade to another speaker model: every voice to re-enrol
    assert new.vectors == {} and new.reenrol == ("Ada Lovelace", "Grace Hopper")
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert {row[0] for row in db.execute("SELECT model FROM voiceprints")} == {GE2E}
        # what the code before this schema reads: a "model" it never has, so it refuses the file, never mixes
        assert db.execute("SELECT value FROM library WHERE key = 'embedding_model'").fetchone()[0] == NEWER_LIBRARY
    library.add("Ada Lovelace", [voiceprint(4, size=192)], MODEL)  # re-enrolled
    assert library.references(MODEL).reenrol == ("Grace Hopper",)
    assert VoiceLibrary(tmp_path).voice("ada lovelace").voiceprints == 3, "migrated once, nothing lost"
    library.remove("Grace Hopper")  # still forgotten for good
    assert b"Grace Hopper" not in b"".join(path.read_bytes() for path in tmp_path.iterdir())


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
    source.add("Ada", [voiceprint(1, size=192), voiceprint(2, size=192)], MODEL)
    source.add("Grace", [voiceprint(3)], OTHER)  # to re-enrol
    source.add("Ada", [voiceprint(4)], OTHER)
    data = json.loads(json.dumps(source.export()))
    assert data["format"] == EXPORT_FORMAT and data["version"] == 2 and "embedding_model" not in data
    assert [[p["model"] for p in voice["voiceprints"]] for voice in data["voices"]] == [[MODEL, MODEL, OTHER],
                                                                                       [OTHER]]
    target = VoiceLibrary(tmp_path / "b")
    assert target.import_data(data) == ["Ada", "Grace"]
    assert target.import_data(data) == ["Ada", "Grace"]  # twice: nothing doubled
    assert [(v.name, v.voiceprints, v.models) for v in target.voices()] == [
        ("Ada", 3, tuple(sorted((MODEL, OTHER)))), ("Grace", 1, (OTHER,))]
    for model in (MODEL, OTHER):
        before, after = source.references(model), target.references(model)
        assert after.reenrol == before.reenrol and sorted(after.vectors) == sorted(before.vectors)
        for name, vector in before.vectors.items():
            assert np.allclose(after.vectors[name], vector, atol=1e-6)


def test_an_export_imported_back_into_its_own_library_adds_nothing_and_the_cap_holds(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(seed) for seed in range(60)], MODEL)
    library.import_data(json.loads(json.dumps(library.export())))
    assert library.voice("Ada").voiceprints == 60, "each voiceprint is found again, not added twice"
    crowded = {"format": EXPORT_FORMAT, "version": 2, "voices": [{"name": "ada", "voiceprints": [
        {"model": MODEL, "vector": voiceprint(100 + seed).vector.tolist(), "seconds": 5.0} for seed in range(41)]}]}
    with pytest.raises(InvalidInput, match="more than 100 voiceprints"):
        library.import_data(crowded)
    assert library.voice("Ada").voiceprints == 60, "a refused import stores nothing"


def test_a_version_1_export_is_imported_under_its_model(tmp_path):
    """An export the code before per-voiceprint models wrote: the file's one model applies to every voiceprint."""
    data = json.loads((FIRST_SCHEMA / "export.json").read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["embedding_model"] == GE2E
    library = VoiceLibrary(tmp_path)
    library.add("Ada Lovelace", [voiceprint(9, size=192)], MODEL)
    assert library.import_data(data) == ["Ada Lovelace", "Grace Hopper"]
    assert [(v.name, v.voiceprints, v.models) for v in library.voices()] == [
        ("Ada Lovelace", 3, tuple(sorted((MODEL, GE2E)))), ("Grace Hopper", 1, (GE2E,))]
    assert library.references(MODEL).reenrol == ("Grace Hopper",)
    old = library.references(GE2E)
    assert np.allclose(old.vectors["Ada Lovelace"], unit(voiceprint(1).vector + voiceprint(2).vector), atol=1e-6)
    del data["embedding_model"]
    with pytest.raises(InvalidInput, match="embedding_model must name the speaker-embedding model"):
        VoiceLibrary(tmp_path / "c").import_data(data)


def test_an_import_of_another_dimension_under_a_known_model_is_refused(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add("Ada", [voiceprint(1, size=192)], MODEL)
    data = {"format": EXPORT_FORMAT, "version": 2, "voices": [
        {"name": "Bob", "voiceprints": [{"model": MODEL, "vector": [0.5] * 3, "seconds": 3.0}]}]}
    with pytest.raises(InvalidInput, match=r"of 'CAMPPlus/192/sha256:0123456789abcdef' have 3 numbers, the "
                                           r"library's 192: not the same model"):
        library.import_data(data)
    assert [v.name for v in library.voices()] == ["Ada"]


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d.update(format="zip"), "not a voice library export"),
    (lambda d: d.update(version=9), "version 9 is not supported; accepted: 1, 2"),
    (lambda d: d["voices"][0]["voiceprints"][0].pop("model"), r"voices\[0\].voiceprints\[0\].model must name"),
    (lambda d: d["voices"][1].update(name="SPEAKER_00"), r"voices\[1\].name: .SPEAKER_00. is a diarization label"),
    (lambda d: d["voices"][0]["voiceprints"][0].update(vector=[1.0, "x"]), r"voices\[0\].voiceprints\[0\].vector"),
    (lambda d: d["voices"][1]["voiceprints"][0].update(vector=[0.5] * 3), "has 3 numbers, the others of its model "
                                                                           "256"),
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
        target.import_data(data)
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
    from ui.items import file_url
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


READER = """
import sys
from pathlib import Path
from core.speakers.voices import VoiceLibrary
references = VoiceLibrary(Path(sys.argv[1])).references(sys.argv[2])
assert sorted(references.vectors) == ["Ada Lovelace", "Grace Hopper"], references
"""


def test_two_processes_opening_a_first_schema_library_migrate_it_once(tmp_path):
    shutil.copy(FIRST_SCHEMA / DB_NAME, tmp_path / DB_NAME)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(tmp_path), GE2E], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for reader in readers:
        assert reader.wait(timeout=120) == 0, reader.stderr.read()
    assert [v.voiceprints for v in VoiceLibrary(tmp_path).voices()] == [2, 1]
