"""The voice library: people's voices by name, kept across recordings in one SQLite file under DATA_DIR.

Each voice has one or more voiceprints (an L2-normalised vector from the diarization pipeline's own
speaker-embedding model, with when and from what it was enrolled). A library belongs to one embedding model: its
identity is stored with it, and a library made by another model is refused (`VoiceLibraryMismatch`), never
compared. Two processes may share the file (a web app and a RunPod worker on one volume): WAL journal, a busy
timeout and short write transactions (`BEGIN IMMEDIATE`). Voiceprints are personal data: they live only in this
file (never in logs), and a removed voice is overwritten on disk (`secure_delete`, WAL truncated), not just
unlinked. Nothing is created until the first voice is added: a job reading an absent library sees it empty.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidInput

DB_NAME = "voices.sqlite3"
EXPORT_FORMAT = "whisperx-worker voice library"
EXPORT_VERSION = 1
MAX_NAME_CHARS = 100
MAX_SOURCE_CHARS = 200
MAX_IMPORT_VOICES = 1000
MAX_VOICEPRINTS = 100  # per voice
BUSY_TIMEOUT_S = 15.0
_LABEL = re.compile(r"speaker_\d+", re.IGNORECASE)  # diarization's own labels: never a person's name
_SCHEMA = """
CREATE TABLE IF NOT EXISTS library (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                                   created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voiceprints (id INTEGER PRIMARY KEY,
                                        voice_id INTEGER NOT NULL REFERENCES voices(id) ON DELETE CASCADE,
                                        vector BLOB NOT NULL, seconds REAL NOT NULL, source TEXT NOT NULL,
                                        enrolled TEXT NOT NULL);
"""


class VoiceLibraryMismatch(InvalidInput):
    """The library was made by another speaker-embedding model: its voices cannot be compared with this one's."""


@dataclasses.dataclass(frozen=True)
class Voiceprint:
    vector: np.ndarray  # L2-normalised, float32
    seconds: float  # speech it was made from
    source: str  # what it was enrolled from, e.g. "cli: ada.wav"
    enrolled: str = ""  # ISO time (UTC); set when stored


@dataclasses.dataclass(frozen=True)
class Voice:
    name: str
    voiceprints: int
    seconds: float
    created: str
    sources: tuple[str, ...]


class VoiceLibrary:
    """The library file in `data_dir`; every call opens its own short-lived connection (thread- and
    process-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME

    # ---- reading ---------------------------------------------------------------------------------
    def model(self) -> str | None:
        """The embedding model the library was made with (None: no voice yet)."""
        if not self.path.is_file():
            return None
        with self._connection() as db:
            row = db.execute("SELECT value FROM library WHERE key = 'embedding_model'").fetchone()
            count = db.execute("SELECT COUNT(*) FROM voiceprints").fetchone()[0]
        return row[0] if row and count else None

    def voices(self) -> list[Voice]:
        """Every voice, by name."""
        if not self.path.is_file():
            return []
        with self._connection() as db:
            rows = db.execute(
                "SELECT v.name, v.created, COUNT(p.id), COALESCE(SUM(p.seconds), 0), GROUP_CONCAT(p.source, char(31)) "
                "FROM voices v LEFT JOIN voiceprints p ON p.voice_id = v.id GROUP BY v.id "
                "ORDER BY v.name COLLATE NOCASE").fetchall()
        return [Voice(name, count, round(seconds, 1), created, tuple(dict.fromkeys((sources or "").split("\x1f"))))
                for name, created, count, seconds, sources in rows]

    def references(self, model: str) -> dict[str, np.ndarray]:
        """Name → the normalised mean of its voiceprints, for comparing with a job's speakers embedded by `model`;
        `VoiceLibraryMismatch` when the library belongs to another model, {} when it holds no voice."""
        if not self.path.is_file():
            return {}
        with self._connection() as db:
            self._check_model(db, model)
            rows = db.execute("SELECT v.name, p.vector FROM voices v JOIN voiceprints p ON p.voice_id = v.id "
                              "ORDER BY v.id, p.id").fetchall()
        vectors: dict[str, list[np.ndarray]] = {}
        for name, blob in rows:
            vectors.setdefault(name, []).append(np.frombuffer(blob, dtype="<f4"))
        return {name: _normalised(np.mean(found, axis=0)) for name, found in vectors.items()}

    # ---- writing ---------------------------------------------------------------------------------
    def add(self, name: str, prints: Sequence[Voiceprint], model: str) -> Voice:
        """Add voiceprints to `name` (a new voice, or more of a known one); refused when the library belongs to
        another model."""
        name = check_name(name)
        if not prints:
            raise InvalidInput(f"{name}: no voiceprint to add", field="voices")
        with self._writing() as db:
            self._check_model(db, model)
            db.execute("INSERT OR REPLACE INTO library (key, value) VALUES ('embedding_model', ?)", (model,))
            voice_id = self._voice_id(db, name, create=True)
            count = db.execute("SELECT COUNT(*) FROM voiceprints WHERE voice_id = ?", (voice_id,)).fetchone()[0]
            if count + len(prints) > MAX_VOICEPRINTS:
                raise InvalidInput(f"{name} already has {count} voiceprints; at most {MAX_VOICEPRINTS} are kept "
                                   "per voice", field="voices")
            for voiceprint in prints:
                _insert(db, voice_id, voiceprint)
        return self.voice(name)

    def voice(self, name: str) -> Voice:
        found = {voice.name.casefold(): voice for voice in self.voices()}
        voice = found.get(name.strip().casefold())
        if voice is None:
            raise InvalidInput(f"no voice called {name.strip()!r} in the library{self._known()}", field="name")
        return voice

    def rename(self, old: str, new: str) -> Voice:
        new = check_name(new)
        with self._writing() as db:
            voice_id = self._voice_id(db, old)
            clash = db.execute("SELECT name FROM voices WHERE name = ? AND id != ?", (new, voice_id)).fetchone()
            if clash:
                raise InvalidInput(f"the library already has a voice called {clash[0]!r}; choose another name",
                                   field="name")
            db.execute("UPDATE voices SET name = ? WHERE id = ?", (new, voice_id))
        return self.voice(new)

    def remove(self, name: str) -> None:
        """Forget a voice for good: its rows are deleted and overwritten on disk, and the WAL is emptied."""
        with self._writing() as db:
            db.execute("DELETE FROM voices WHERE id = ?", (self._voice_id(db, name),))
        with self._connection() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ---- export and import -------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """The whole library as JSON data: names, voiceprints and the model they belong to."""
        voices: dict[str, list[dict[str, Any]]] = {}
        rows: list[tuple[Any, ...]] = []
        if self.path.is_file():
            with self._connection() as db:
                rows = db.execute("SELECT v.name, p.vector, p.seconds, p.source, p.enrolled FROM voices v "
                                  "JOIN voiceprints p ON p.voice_id = v.id ORDER BY v.name COLLATE NOCASE, p.id"
                                  ).fetchall()
        for name, blob, seconds, source, enrolled in rows:
            vector = [round(float(x), 7) for x in np.frombuffer(blob, dtype="<f4")]
            voices.setdefault(name, []).append({"vector": vector, "seconds": seconds, "source": source,
                                                "enrolled": enrolled})
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "embedding_model": self.model(),
                "voices": [{"name": name, "voiceprints": prints} for name, prints in voices.items()]}

    def import_data(self, data: Any, model: str) -> list[str]:
        """Add the voices of an export (a voiceprint already present is not added twice); the export must come
        from `model`. Returns the names imported. Every refusal names the place in the file."""
        entries = parse_export(data)
        if entries and data["embedding_model"] != model:
            raise VoiceLibraryMismatch(
                f"the file's voices were made with the speaker-embedding model {data['embedding_model']!r}, this "
                f"server's diarization pipeline uses {model!r}: voices from different models cannot be compared",
                field="voices")
        with self._writing() as db:
            self._check_model(db, model)
            if entries:
                db.execute("INSERT OR REPLACE INTO library (key, value) VALUES ('embedding_model', ?)", (model,))
            for name, prints in entries:
                voice_id = self._voice_id(db, name, create=True)
                known = {row[0] for row in db.execute("SELECT vector FROM voiceprints WHERE voice_id = ?",
                                                      (voice_id,))}
                for voiceprint in prints:
                    if _blob(voiceprint) not in known:
                        known.add(_insert(db, voice_id, voiceprint))
        return [name for name, _ in entries]

    # ---- internals ---------------------------------------------------------------------------------
    def _check_model(self, db: sqlite3.Connection, model: str) -> None:
        row = db.execute("SELECT value FROM library WHERE key = 'embedding_model'").fetchone()
        has_voices = db.execute("SELECT 1 FROM voiceprints LIMIT 1").fetchone() is not None
        if row and has_voices and row[0] != model:
            raise VoiceLibraryMismatch(
                f"the voice library ({self.path}) was made with the speaker-embedding model {row[0]!r}, and this "
                f"diarization pipeline embeds voices with {model!r}: voices from different models cannot be "
                "compared. Use the diarization model the library was made with, or another DATA_DIR for this one.",
                field="voices")

    def _voice_id(self, db: sqlite3.Connection, name: str, *, create: bool = False) -> int:
        row = db.execute("SELECT id FROM voices WHERE name = ?", (name.strip(),)).fetchone()
        if row:
            return int(row[0])
        if not create:
            raise InvalidInput(f"no voice called {name.strip()!r} in the library{self._known(db)}", field="name")
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


def check_name(raw: Any, field: str = "name") -> str:
    """A person's name as the library keeps it: 1–100 printable characters, not a diarization label."""
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a text", field=field)
    name = " ".join(raw.split())
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
    """An export's voices, checked: (name, voiceprints) each."""
    if not isinstance(data, Mapping) or data.get("format") != EXPORT_FORMAT:
        raise InvalidInput(f"not a voice library export: expected a JSON object with \"format\": \"{EXPORT_FORMAT}\"",
                           field="voices")
    if data.get("version") != EXPORT_VERSION:
        raise InvalidInput(f"voice library export version {data.get('version')!r} is not supported; accepted: "
                           f"{EXPORT_VERSION}", field="voices")
    voices = data.get("voices")
    if not isinstance(voices, list) or len(voices) > MAX_IMPORT_VOICES:
        raise InvalidInput(f"voices must be a list of at most {MAX_IMPORT_VOICES} voices", field="voices")
    if voices and not isinstance(data.get("embedding_model"), str):
        raise InvalidInput("embedding_model must name the model the voiceprints were made with", field="voices")
    entries, dimension = [], None
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
            vector = item.get("vector") if isinstance(item, Mapping) else None
            if not isinstance(vector, list) or not vector or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
                raise InvalidInput(f"{spot}.vector must be a list of finite numbers", field="voices")
            dimension = dimension or len(vector)
            if len(vector) != dimension:
                raise InvalidInput(f"{spot}.vector has {len(vector)} numbers, the others {dimension}",
                                   field="voices")
            seconds = item.get("seconds", 0.0)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < 1e6:
                raise InvalidInput(f"{spot}.seconds must be a number of seconds", field="voices")
            source, enrolled = item.get("source", "import"), item.get("enrolled", "")
            if not isinstance(source, str) or not isinstance(enrolled, str):
                raise InvalidInput(f"{spot}: source and enrolled must be texts", field="voices")
            parsed.append(Voiceprint(_normalised(np.asarray(vector, dtype=np.float32)), float(seconds),
                                     source[:MAX_SOURCE_CHARS], enrolled[:40]))
        entries.append((name, parsed))
    names = [name.casefold() for name, _ in entries]
    if len(set(names)) != len(names):
        raise InvalidInput("voices: the same name appears twice", field="voices")
    return entries


def _blob(voiceprint: Voiceprint) -> bytes:
    return np.asarray(voiceprint.vector, dtype="<f4").reshape(-1).tobytes()


def _insert(db: sqlite3.Connection, voice_id: int, voiceprint: Voiceprint) -> bytes:
    blob = _blob(voiceprint)
    db.execute("INSERT INTO voiceprints (voice_id, vector, seconds, source, enrolled) VALUES (?, ?, ?, ?, ?)",
               (voice_id, blob, float(voiceprint.seconds), voiceprint.source[:MAX_SOURCE_CHARS],
                voiceprint.enrolled or _now()))
    return blob


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
