"""The process's live transcription: what its sessions share, and the one worker that decodes for all of them.

Sessions share the models the batch engine loaded (the registry loads each once per process): the ASR model (one
`LiveDecoder` per model name, a view on the same CTranslate2 weights), Silero VAD, and the diarization pipeline's
speaker-embedding model with the voice library's references. A session costs its buffers, never a model.

One worker thread decodes for every session: CTranslate2 runs one call at a time on its threads anyway, so more
workers would only queue inside it. Its order is what keeps latency low: a finished turn's final decode (what the
user waits for once they stop speaking) always goes before drafts, oldest first across sessions; each session has
at most one draft waiting, and a session with finals still queued gets no drafts. Batch jobs and live sessions
share the CPU/GPU by `core/live/priority.py`'s rule.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InvalidInput, WorkerError
from core.live.decoder import LiveDecoder
from core.live.events import LiveEvent
from core.live.session import LiveConfig, LiveSession
from core.live.speakers import VoiceSpace
from core.models.memory import TRIM_EVERY_S, release_memory

if TYPE_CHECKING:
    from core.engine import Engine

logger = logging.getLogger(__name__)


class LiveBusy(WorkerError):
    """As many live sessions as LIVE_MAX_SESSIONS are open already."""


class LiveEngine:
    """Opens sessions and decodes for them; thread-safe."""

    def __init__(self, engine: Engine, *, max_sessions: int) -> None:
        self.engine = engine
        self.max_sessions = max_sessions
        self._lock = threading.Condition()
        self._sessions: set[LiveSession] = set()
        self._decoders: dict[str | None, LiveDecoder] = {}
        self._voice_space: VoiceSpace | bool | None = False  # False: not looked up yet
        self._voices_version: tuple = ()  # the library file's state when its voices were read
        self._finals: collections.deque[tuple[LiveSession, Callable[[], None]]] = collections.deque()  # in order
        self._partials: dict[LiveSession, Callable[[], None]] = {}  # insertion order = waiting order
        self._worker: threading.Thread | None = None
        self._busy = False  # the worker is decoding now
        self._trimmed = 0.0  # when freed heap pages were last given back
        self.priority = engine.live_priority

    # ---- sessions ----------------------------------------------------------------------------------
    def open(self, config: LiveConfig, on_event: Callable[[LiveEvent], None]) -> LiveSession:
        """A new session, or `LiveBusy`; the model it names is loaded (once per process) before it opens."""
        self.decoder(config.model)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise LiveBusy(f"{len(self._sessions)} live sessions are open, the most this server takes "
                               f"(LIVE_MAX_SESSIONS={self.max_sessions}); try again later")
            session = LiveSession(self, config, on_event)
            self._sessions.add(session)
            self._start_worker()
        logger.info("live session opened (%d open)", len(self._sessions))
        return session

    def forget(self, session: LiveSession) -> None:
        """Called by `LiveSession.close`: its queued work goes, nothing of it stays here."""
        with self._lock:
            self._sessions.discard(session)
            self._partials.pop(session, None)
            self._finals = collections.deque(job for job in self._finals if job[0] is not session)
            self._lock.notify_all()  # the worker looks again: perhaps nothing waits now
        logger.info("live session closed (%d open)", len(self._sessions))

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def queued(self, session: LiveSession) -> int:
        """Decodes waiting for `session` (none once it is closed: its audio is not held here)."""
        with self._lock:
            return sum(1 for owner, _ in self._finals if owner is session) + (session in self._partials)

    # ---- shared models ------------------------------------------------------------------------------
    def decoder(self, model: str | None) -> LiveDecoder:
        """The decoder of an installed model (None: the default), made once; `ModelUnavailable` otherwise."""
        with self._lock:
            found = self._decoders.get(model)
        if found is not None:
            return found
        asr = self.engine.registry.asr(model)  # the registry's lock: loaded once per process
        with self._lock:
            return self._decoders.setdefault(model, LiveDecoder(asr))

    def vad_session(self) -> Any:
        from core.live.vad import silero_session

        return silero_session()

    def voice_space(self) -> VoiceSpace | None:
        """The speaker-embedding model, the thresholds and the library's voices (None when no diarization pipeline
        is installed). Read again when the library file has changed since (a voice enrolled on the page or by the
        CLI names speakers in the sessions that start labelling after it)."""
        version = self._library_version()
        with self._lock:
            if self._voice_space is not False and version == self._voices_version:
                return self._voice_space  # type: ignore[return-value]
        space = self._load_voice_space()
        with self._lock:
            self._voice_space, self._voices_version = space, version
        return space

    def _library_version(self) -> tuple:
        path = self.engine.voices.path
        return tuple(_file_state(p) for p in (path, path.with_name(path.name + "-wal")))

    def _load_voice_space(self) -> VoiceSpace | None:
        from core.models.registry import FeatureUnavailable
        from core.speakers.recognition import model_identity
        from core.speakers.verification import embedding_model, naming_threshold
        from core.speakers.windowed_clustering import link_distance_of

        try:
            pipeline = self.engine.registry.diarization()
        except FeatureUnavailable as unavailable:
            logger.warning("live sessions label no speakers: %s", unavailable.reason)
            return None
        model = embedding_model(pipeline)
        found = self.engine.voices.references(model_identity(model))
        if found.reenrol:
            logger.info("live sessions: %d voice(s) of another speaker model, to re-enrol", len(found.reenrol))
        link = 1.0 - link_distance_of(getattr(pipeline, "clustering", None))
        return VoiceSpace(model=model, link_similarity=link, name_similarity=naming_threshold(model),
                          references=found.vectors)

    # ---- the worker ------------------------------------------------------------------------------
    def submit_final(self, session: LiveSession, item: Any, audio: np.ndarray, offset: int) -> None:
        with self._lock:
            self._finals.append((session, lambda: session.run_final(item, audio, offset)))
            self.priority.live_waiting(True)
            self._lock.notify_all()

    def submit_guess(self, session: LiveSession, item: Any, guess: Any, audio: np.ndarray) -> None:
        """A turn decoded before it has surely ended (`LiveSession._maybe_guess`): queued with the finals."""
        with self._lock:
            self._finals.append((session, lambda: session.run_guess(item, guess, audio)))
            self.priority.live_waiting(True)
            self._lock.notify_all()

    def idle(self) -> bool:
        """Nothing queued and nothing decoding: spare time for a guess."""
        with self._lock:
            return not self._finals and not self._partials and not self._busy

    def submit_partial(self, session: LiveSession, item: Any, audio: np.ndarray) -> None:
        with self._lock:
            self._partials.pop(session, None)
            self._partials[session] = lambda: session.run_partial(item, audio)
            self.priority.live_waiting(True)
            self._lock.notify_all()

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="live-decoder", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._finals and not self._partials:
                    self.priority.live_waiting(False)
                    self._lock.wait()
                if self._finals:
                    _, job = self._finals.popleft()
                else:
                    session = next(iter(self._partials))
                    job = self._partials.pop(session)
                self._busy = True
            started = time.perf_counter()
            try:
                with self.priority.live_running():
                    job()
            except Exception:  # a bug in one job must not stop every session's decoding
                logger.exception("live decode failed")
            finally:
                with self._lock:
                    self._busy = False
                    idle = not self._finals and not self._partials
            logger.debug("live decode took %.2fs", time.perf_counter() - started)
            if idle and time.monotonic() - self._trimmed >= TRIM_EVERY_S:
                # decodes of ever-changing sizes leave heap holes glibc keeps (core/models/memory.py): give them
                # back while nothing waits, so a long session's memory stays where it started
                release_memory()
                self._trimmed = time.monotonic()


def _file_state(path: Path) -> tuple[int, int] | None:
    """A file's (mtime, size), or None where there is none: SQLite removes its -wal file when the last
    connection closes, which may happen between any two looks."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_mtime_ns, found.st_size


def check_language(language: str | None, decoder: LiveDecoder) -> str | None:
    """A language code the model can transcribe (lower case), or None for "detect"; `InvalidInput` otherwise."""
    if language is None or not language.strip():
        return None
    from core.asr.languages import normalize_language

    code = normalize_language(language.strip())
    if code is None or (not decoder.multilingual and code != "en") or (
            decoder.multilingual and decoder.language_token(code) is None):
        raise InvalidInput(f"language {language[:20]!r} is not one this model transcribes", field="language")
    return code
