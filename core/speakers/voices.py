"""The voice library: people's voices by name, kept across recordings in one SQLite file under DATA_DIR.

Each voice has one or more voiceprints (an L2-normalised vector from a diarization pipeline's speaker-embedding
model, with when and from what it was enrolled, and the identity of the model that made it). Vectors of two models
are never compared: a job uses the voiceprints its own model made, and a voice without any is "to re-enrol" (it
keeps its name, sources and old voiceprints; enrolling it again with the current model makes it usable). That is
what upgrading the speaker model does to a library, since no audio is kept to embed again. Voiceprints of other
models stay harmlessly (a server with two pipelines uses each its own); forgetting a voice deletes them all.

Two processes may share the file (a web app and a RunPod worker on one volume): WAL journal, a busy timeout and
short write transactions (`BEGIN IMMEDIATE`). Voiceprints are personal data: they live only in this file (never in
logs), and a removed voice is overwritten on disk (`secure_delete`, WAL truncated), not just unlinked. Nothing is
created until the first voice is added: a job reading an absent library sees it empty. A file of the first schema
(one model per library, in the `library` table) is migrated in place on first open (`_migrate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import re
import sqlite3
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidInput

DB_NAME = "voices.sqlite3"
EXPORT_FORMAT = "whisperx-worker voice library"
EXPORT_VERSION = 2  # 2: each voiceprint names its model; 1 (still imported): one `embedding_model` for the file
IMPORT_VERSIONS = (1, 2)
SCHEMA_VERSION = 1  # PRAGMA user_version; 0: the first schema, one model per library
MAX_NAME_CHARS = 100
MAX_SOURCE_CHARS = 200
MAX_MODEL_CHARS = 200
MAX_IMPORT_VOICES = 1000
MAX_VOICEPRINTS = 100  # per voice and model
MAX_NAMES_LISTED = 10  # in the re-enrolment note; the rest are counted
BUSY_TIMEOUT_S = 15.0
# What a migrated file tells the code before per-voiceprint models, which then refuses it (`VoiceLibraryMismatch`
# there, naming this) rather than comparing its own vectors with another model's.
NEWER_LIBRARY = "one per voiceprint (a library of a newer whisperx-worker)"
_LABEL = re.compile(r"speaker_\d+", re.IGNORECASE)  # diarization's own labels: never a person's name
_SCHEMA = """
CREATE TABLE IF NOT EXISTS library (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                                   created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voiceprints (id INTEGER PRIMARY KEY,
                                        voice_id INTEGER NOT NULL REFERENCES voices(id) ON DELETE CASCADE,
                                        vector BLOB NOT NULL, seconds REAL NOT NULL, source TEXT NOT NULL,
                                        enrolled TEXT NOT NULL, model TEXT NOT NULL DEFAULT '');
"""

# How every listing (page, CLI) words a voice's state, and every job its warning: one wording, here.
READY = "ready"
REENROL = "re-enrol: made with another speaker model"
UNCHECKED = "unchecked: no speaker model installed"
HOW_TO_REENROL = ("enrol them again: Remember this voice on the page, `python -m core voices add NAME FILE`, or "
                  "RunPod's remember_speaker_samples")


@dataclasses.dataclass(frozen=True)
class Voiceprint:
    vector: np.ndarray  # L2-normalised, float32
    seconds: float  # speech it was made from
    source: str  # what it was enrolled from, e.g. "cli: ada.wav"
    enrolled: str = ""  # ISO time (UTC); set when stored
    model: str = ""  # identity of the embedding model that made it (`recognition.model_identity`); set when stored


@dataclasses.dataclass(frozen=True)
class Voice:
    name: str
    voiceprints: int  # of every model
    seconds: float
    created: str
    sources: tuple[str, ...]
    models: tuple[str, ...] = ()  # the embedding models its voiceprints were made with

    def usable_by(self, model: str) -> bool:
        """Whether a job embedding voices with `model` can recognise this voice."""
        return model in self.models


@dataclasses.dataclass(frozen=True)
class References:
    """What a job embedding voices with one model compares its speakers with."""

    vectors: dict[str, np.ndarray]  # name → normalised mean of that model's voiceprints
    reenrol: tuple[str, ...] = ()  # voices with no voiceprint of that model, by name


def voice_status(voice: Voice, model: str | None) -> str:
    """A voice's state in a listing, for the server's speaker model (None: no diarization pipeline to ask)."""
    if model is None:
        return UNCHECKED
    return READY if voice.usable_by(model) else REENROL


def reenrol_note(names: Sequence[str]) -> str:
    """The one sentence (job warning, page, CLI) for voices the speaker model cannot recognise, naming them."""
    shown = ", ".join(names[:MAX_NAMES_LISTED])
    if len(names) > MAX_NAMES_LISTED:
        shown += f" and {len(names) - MAX_NAMES_LISTED} more"
    were, are = ("was", "is") if len(names) == 1 else ("were", "are")
    return (f"{shown} {were} enrolled with another speaker model and {are} not recognised until enrolled again; "
            f"{HOW_TO_REENROL}")


@dataclasses.dataclass(frozen=True)
class Listing:
    """The library as a page or the CLI shows it: each voice with its state for the server's speaker model."""

    model: str | None  # the identity of the model jobs embed voices with; None: no diarization pipeline
    voices: tuple[tuple[Voice, str], ...] = ()  # (voice, `voice_status`)

    @property
    def reenrol(self) -> list[str]:
        return [voice.name for voice, state in self.voices if state == REENROL]

    @property
    def note(self) -> str:
        """The re-enrolment note when voices need it, else ''."""
        return reenrol_note(self.reenrol) if self.reenrol else ""


class VoiceLibrary:
    """The library file in `data_dir`; every call opens its own short-lived connection (thread- and
    process-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME

    # ---- reading ---------------------------------------------------------------------------------
    def models(self) -> dict[str, int]:
        """Identity of each embedding model in the library → its number of voiceprints, most first."""
        if not self.path.is_file():
            return {}
        with self._connection() as db:
            rows = db.execute("SELECT model, COUNT(*) FROM voiceprints GROUP BY model ORDER BY COUNT(*) DESC, model"
                              ).fetchall()
        return dict(rows)

    def voices(self) -> list[Voice]:
        """Every voice, by name."""
        if not self.path.is_file():
            return []
        with self._connection() as db:
            rows = db.execute(
                "SELECT v.id, v.name, v.created, COUNT(p.id), COALESCE(SUM(p.seconds), 0), "
                "GROUP_CONCAT(p.source, char(31)) FROM voices v LEFT JOIN voiceprints p ON p.voice_id = v.id "
                "GROUP BY v.id ORDER BY v.name COLLATE NOCASE").fetchall()
            models: dict[int, list[str]] = {}
            for voice_id, model in db.execute("SELECT DISTINCT voice_id, model FROM voiceprints ORDER BY model"):
                models.setdefault(voice_id, []).append(model)
        return [Voice(name, count, round(seconds, 1), created, tuple(dict.fromkeys((sources or "").split("\x1f"))),
                      tuple(models.get(voice_id, ())))
                for voice_id, name, created, count, seconds, sources in rows]

    def references(self, model: str) -> References:
        """What a job's speakers embedded by `model` are compared with: each voice's normalised mean of its
        voiceprints of `model` (never another model's), and the voices that have none (to re-enrol)."""
        if not self.path.is_file():
            return References({})
        with self._connection() as db:
            rows = db.execute("SELECT v.name, p.vector FROM voices v JOIN voiceprints p ON p.voice_id = v.id "
                              "WHERE p.model = ? ORDER BY v.id, p.id", (model,)).fetchall()
            names = [row[0] for row in db.execute("SELECT name FROM voices ORDER BY name COLLATE NOCASE")]
        vectors: dict[str, list[np.ndarray]] = {}
        for name, blob in rows:
            vectors.setdefault(name, []).append(np.frombuffer(blob, dtype="<f4"))
        return References({name: _normalised(np.mean(found, axis=0)) for name, found in vectors.items()},
                          tuple(name for name in names if name not in vectors))

    # ---- writing ---------------------------------------------------------------------------------
    def add(self, name: str, prints: Sequence[Voiceprint], model: str) -> Voice:
        """Add voiceprints made by `model` to `name` (a new voice, or more of a known one). A voice to re-enrol
        becomes usable by `model` this way; its voiceprints of other models stay (see the module's docstring)."""
        name = check_name(name)
        model = _check_model(model, "model")
        if not prints:
            raise InvalidInput(f"{name}: no voiceprint to add", field="voices")
        with self._writing() as db:
            voice_id = self._voice_id(db, name, create=True)
            count = db.execute("SELECT COUNT(*) FROM voiceprints WHERE voice_id = ? AND model = ?",
                               (voice_id, model)).fetchone()[0]
            if count + len(prints) > MAX_VOICEPRINTS:
                raise InvalidInput(f"{name} already has {count} voiceprints; at most {MAX_VOICEPRINTS} are kept "
                                   "per voice", field="voices")
            for voiceprint in prints:
                _insert(db, voice_id, dataclasses.replace(voiceprint, model=model))
        return self.voice(name)

    def voice(self, name: str) -> Voice:
        found = {name_key(voice.name): voice for voice in self.voices()}
        voice = found.get(name_key(name))
        if voice is None:
            raise InvalidInput(f"no voice called {_shown(name)!r} in the library{self._known()}", field="name")
        return voice

    def rename(self, old: str, new: str) -> Voice:
        new = check_name(new)
        with self._writing() as db:
            voice_id = self._voice_id(db, old)
            clash = next((other for other_id, other in db.execute("SELECT id, name FROM voices")
                          if other_id != voice_id and name_key(other) == name_key(new)), None)
            if clash:
                raise InvalidInput(f"the library already has a voice called {clash!r}; choose another name",
                                   field="name")
            db.execute("UPDATE voices SET name = ? WHERE id = ?", (new, voice_id))
        return self.voice(new)

    def remove(self, name: str) -> None:
        """Forget a voice for good (the voiceprints of every model): its rows are deleted and overwritten on disk,
        and the WAL is emptied."""
        with self._writing() as db:
            db.execute("DELETE FROM voices WHERE id = ?", (self._voice_id(db, name),))
        with self._connection() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ---- export and import -------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The whole library as JSON data (format version 2): names, and each voiceprint with its model."""
        voices: dict[str, list[dict[str, Any]]] = {}
        rows: list[tuple[Any, ...]] = []
        if self.path.is_file():
            with self._connection() as db:
                rows = db.execute("SELECT v.name, p.model, p.vector, p.seconds, p.source, p.enrolled FROM voices v "
                                  "JOIN voiceprints p ON p.voice_id = v.id ORDER BY v.name COLLATE NOCASE, p.id"
                                  ).fetchall()
        for name, model, blob, seconds, source, enrolled in rows:
            vector = [float(x) for x in np.frombuffer(blob, dtype="<f4")]  # exact: an import back finds it
            voices.setdefault(name, []).append({"model": model, "vector": vector, "seconds": seconds,
                                                "source": source, "enrolled": enrolled})
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
                "voices": [{"name": name, "voiceprints": prints} for name, prints in voices.items()]}

    def import_data(self, data: Any) -> list[str]:
        """Add the voices of an export, each voiceprint under the model that made it (a version-1 file's
        `embedding_model` for all); a voiceprint already present is not added twice. Voices of another model than
        the server's are kept, to re-enrol, like the library's own. Returns the names imported. Every refusal
        names the place in the file, and nothing is stored."""
        entries = parse_export(data)
        with self._writing() as db:
            for model, dimension in _dimensions(entries).items():
                row = db.execute("SELECT length(vector) FROM voiceprints WHERE model = ? LIMIT 1", (model,)).fetchone()
                if row and row[0] != 4 * dimension:
                    raise InvalidInput(f"the file's voiceprints of {model!r} have {dimension} numbers, the library's "
                                       f"{row[0] // 4}: not the same model", field="voices")
            for name, prints in entries:
                voice_id = self._voice_id(db, name, create=True)
                known: dict[str, list[np.ndarray]] = {}
                for model, blob in db.execute("SELECT model, vector FROM voiceprints WHERE voice_id = ?", (voice_id,)):
                    known.setdefault(model, []).append(np.frombuffer(blob, dtype="<f4"))
                for voiceprint in prints:
                    kept = known.setdefault(voiceprint.model, [])
                    if any(_same_vector(voiceprint.vector, other) for other in kept):
                        continue  # already there: an export of this library imported back
                    if len(kept) >= MAX_VOICEPRINTS:
                        raise InvalidInput(f"{name} would have more than {MAX_VOICEPRINTS} voiceprints; at most "
                                           f"{MAX_VOICEPRINTS} are kept per voice", field="voices")
                    _insert(db, voice_id, voiceprint)
                    kept.append(np.asarray(voiceprint.vector, dtype=np.float32))
        return [name for name, _ in entries]

    # ---- internals ---------------------------------------------------------------------------------
    def _voice_id(self, db: sqlite3.Connection, name: str, *, create: bool = False) -> int:
        """The voice called `name`, compared as people read names (`name_key`: case, spaces and Unicode forms
        aside; SQLite's NOCASE folds ASCII letters only)."""
        wanted = name_key(name)
        found = next((voice_id for voice_id, other in db.execute("SELECT id, name FROM voices")
                      if name_key(other) == wanted), None)
        if found is not None:
            return int(found)
        if not create:
            raise InvalidInput(f"no voice called {_shown(name)!r} in the library{self._known(db)}", field="name")
        return int(db.execute("INSERT INTO voices (name, created) VALUES (?, ?)", (name, _now())).lastrowid)

    def _known(self, db: sqlite3.Connection | None = None) -> str:
        if db is not None:
            names = [row[0] for row in db.execute("SELECT name FROM voices ORDER BY name COLLATE NOCASE")]
        else:
            names = [voice.name for voice in self.voices()]
        return f"; known: {', '.join(names)}" if names else " (it is empty)"

    @contextlib.contextmanager
    def _connection(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        if create and not self.path.is_file():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)  # only this user may read voiceprints
            os.close(fd)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
            db.executescript(_SCHEMA)
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                _migrate(db)
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taking the write lock at once (no upgrade deadlock between processes)."""
        with self._connection(create=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def _migrate(db: sqlite3.Connection) -> None:
    """The first schema to the current one, in place and once (whichever process gets the write lock first): each
    voiceprint takes the library-wide `embedding_model` it was made under, and that key then names no model, so
    code from before this schema refuses the file instead of mixing models."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            columns = {row[1] for row in db.execute("PRAGMA table_info(voiceprints)")}
            if "model" not in columns:
                db.execute("ALTER TABLE voiceprints ADD COLUMN model TEXT NOT NULL DEFAULT ''")
                db.execute("UPDATE voiceprints SET model = COALESCE((SELECT value FROM library "
                           "WHERE key = 'embedding_model'), '')")
            db.execute("INSERT OR REPLACE INTO library (key, value) VALUES ('embedding_model', ?)", (NEWER_LIBRARY,))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def name_key(name: str) -> str:
    """What makes two names the same person's: Unicode form (NFC), runs of spaces and case set aside."""
    return _shown(name).casefold()


def _shown(name: str) -> str:
    """A name as the library writes it: NFC, single spaces, none at either end."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def _same_vector(first: np.ndarray, second: np.ndarray) -> bool:
    """The same voiceprint, as written to an export and read back (float32 rounding, normalised again)."""
    first, second = np.asarray(first, dtype=np.float32), np.asarray(second, dtype=np.float32)
    return first.shape == second.shape and bool(np.max(np.abs(first - second)) < 1e-5)


def check_name(raw: Any, field: str = "name") -> str:
    """A person's name as the library keeps it: 1–100 printable characters, not a diarization label."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a text", field=field)
    name = _shown(raw)
    if not name:
        raise InvalidInput(f"{field}: give the person's name", field=field)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{field}: a name has at most {MAX_NAME_CHARS} characters", field=field)
    if not name.isprintable():
        raise InvalidInput(f"{field}: the name has control characters", field=field)
    if _LABEL.fullmatch(name):
        raise InvalidInput(f"{field}: {name!r} is a diarization label, not a name; give the person's name",
                           field=field)
    return name


def parse_export(data: Any) -> list[tuple[str, list[Voiceprint]]]:
    """An export's voices, checked: (name, voiceprints) each, every voiceprint with its model (version 1: the
    file's `embedding_model`)."""
    if not isinstance(data, Mapping) or data.get("format") != EXPORT_FORMAT:
        raise InvalidInput(f"not a voice library export: expected a JSON object with \"format\": \"{EXPORT_FORMAT}\"",
                           field="voices")
    version = data.get("version")
    if version not in IMPORT_VERSIONS or isinstance(version, bool):
        raise InvalidInput(f"voice library export version {version!r} is not supported; accepted: "
                           f"{', '.join(map(str, IMPORT_VERSIONS))}", field="voices")
    voices = data.get("voices")
    if not isinstance(voices, list) or len(voices) > MAX_IMPORT_VOICES:
        raise InvalidInput(f"voices must be a list of at most {MAX_IMPORT_VOICES} voices", field="voices")
    file_model = _check_model(data.get("embedding_model"), "embedding_model") if version == 1 and voices else None
    entries, dimensions = [], {}
    for index, voice in enumerate(voices):
        where = f"voices[{index}]"
        if not isinstance(voice, Mapping):
            raise InvalidInput(f"{where} must be an object with name and voiceprints", field="voices")
        name = check_name(voice.get("name"), f"{where}.name")
        prints = voice.get("voiceprints")
        if not isinstance(prints, list) or not 1 <= len(prints) <= MAX_VOICEPRINTS:
            raise InvalidInput(f"{where}.voiceprints must be a list of 1 to {MAX_VOICEPRINTS} voiceprints",
                               field="voices")
        parsed = []
        for k, item in enumerate(prints):
            spot = f"{where}.voiceprints[{k}]"
            if not isinstance(item, Mapping):
                raise InvalidInput(f"{spot} must be an object with model, vector, seconds and source", field="voices")
            model = file_model or _check_model(item.get("model"), f"{spot}.model")
            vector = item.get("vector")
            if not isinstance(vector, list) or not vector or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
                raise InvalidInput(f"{spot}.vector must be a list of finite numbers", field="voices")
            dimension = dimensions.setdefault(model, len(vector))
            if len(vector) != dimension:
                raise InvalidInput(f"{spot}.vector has {len(vector)} numbers, the others of its model {dimension}",
                                   field="voices")
            seconds = item.get("seconds", 0.0)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < 1e6:
                raise InvalidInput(f"{spot}.seconds must be a number of seconds", field="voices")
            source, enrolled = item.get("source", "import"), item.get("enrolled", "")
            if not isinstance(source, str) or not isinstance(enrolled, str):
                raise InvalidInput(f"{spot}: source and enrolled must be texts", field="voices")
            parsed.append(Voiceprint(_normalised(np.asarray(vector, dtype=np.float32)), float(seconds),
                                     source[:MAX_SOURCE_CHARS], enrolled[:40], model))
        entries.append((name, parsed))
    names = [name_key(name) for name, _ in entries]
    if len(set(names)) != len(names):
        raise InvalidInput("voices: the same name appears twice", field="voices")
    return entries


def _check_model(raw: Any, field: str) -> str:
    """A model identity as stored: a short printable text (`recognition.model_identity` makes them)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_MODEL_CHARS or not raw.isprintable():
        raise InvalidInput(f"{field} must name the speaker-embedding model the voiceprints were made with (a text "
                           f"of at most {MAX_MODEL_CHARS} characters)", field="voices")
    return raw


def _dimensions(entries: Sequence[tuple[str, Sequence[Voiceprint]]]) -> dict[str, int]:
    return {voiceprint.model: int(voiceprint.vector.size) for _, prints in entries for voiceprint in prints}


def _insert(db: sqlite3.Connection, voice_id: int, voiceprint: Voiceprint) -> None:
    blob = np.asarray(voiceprint.vector, dtype="<f4").reshape(-1).tobytes()
    db.execute("INSERT INTO voiceprints (voice_id, vector, seconds, source, enrolled, model) VALUES (?, ?, ?, ?, ?, ?)",
               (voice_id, blob, float(voiceprint.seconds), voiceprint.source[:MAX_SOURCE_CHARS],
                voiceprint.enrolled or _now(), voiceprint.model))


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
