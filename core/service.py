"""The one start-up every front end uses (web app, RunPod worker, CLI): settings read once, the default model
checked, the models preloaded, one engine per process.

Front ends ask the service what they need to show or validate (installed models, the default, the languages a
model can do) and never reach into the model registry themselves.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from core.errors import ModelUnavailable
from core.settings import LARGE_V3_TURBO, Settings

if TYPE_CHECKING:
    import numpy as np

    from core.engine import Engine
    from core.live.engine import LiveEngine
    from core.media.decode import DecodedAudio
    from core.options import TranscribeOptions
    from core.progress import ProgressCallback
    from core.speakers.voices import Listing, Voice, VoiceLibrary
    from core.transcript.result import Result, SegmentsCallback, SpeakerTurn

logger = logging.getLogger(__name__)


class Service:
    """Owns the process's engine. Creating it loads nothing; `start()` checks and preloads."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._live: LiveEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine (its registry, not its models), created once, thread-safely."""
        with self._lock:
            if self._engine is None:
                from core.engine import Engine

                self._engine = Engine(self.settings)
            return self._engine

    @property
    def live(self) -> LiveEngine:
        """Live transcription sessions on this engine's models (`core/live/`), created once."""
        engine = self.engine
        with self._lock:
            if self._live is None:
                from core.live.engine import LiveEngine

                self._live = LiveEngine(engine, max_sessions=self.settings.live_max_sessions)
            return self._live

    def start(self, *, preload: bool | None = None) -> list[str]:
        """Refuse to serve without the default ASR model, then load the defaults (when `PRELOAD=1`) so the first
        job is warm. Returns what is ready, for the start-up log."""
        self.check_default_model()
        wanted = self.settings.preload if preload is None else preload
        if not (wanted or self.settings.fetch_models):  # fetching happens only here, so it implies a preload
            return []
        ready = self.engine.registry.preload(fetch=self.settings.fetch_models)
        logger.info("preloaded: %s", ", ".join(ready))
        return ready

    def check_default_model(self) -> None:
        """Fail at start-up, not at the first job, when the default ASR model is not installed and cannot be
        fetched."""
        name = self.default_model
        installed = self.models()
        if name in installed:
            return
        if self.settings.fetch_models:
            logger.warning("ASR model %s is not in MODELS_DIR=%s; FETCH_MODELS=1: downloading it from the hub "
                           "at start-up", name, self.settings.models_dir)
            return
        raise ModelUnavailable(
            f"the default ASR model {name!r} is not installed in MODELS_DIR={self.settings.models_dir} "
            f"(installed: {', '.join(installed) or 'none'}). Build it with "
            f"`python -m builder --models-dir {self.settings.models_dir}`, or set WHISPER_MODEL to an installed "
            "model.",
            field="WHISPER_MODEL",
        )

    def log_startup(self) -> None:
        """Mode, hardware and what MODELS_DIR holds, so a misbuilt image shows in the first lines of the log."""
        from core.models.layout import MANIFEST_NAME

        settings, registry = self.settings, self.engine.registry
        logger.info("APP_MODE=%s device=%s compute_type=%s MODELS_DIR=%s", settings.app_mode, registry.device,
                    registry.compute_type, settings.models_dir)
        if not (settings.models_dir / MANIFEST_NAME).is_file():
            logger.warning("no %s in MODELS_DIR=%s: build one with `python -m builder --models-dir %s`",
                           MANIFEST_NAME, settings.models_dir, settings.models_dir)
            return
        manifest = registry.manifest
        logger.info("models (profile %s): asr=%s alignment=%s diarization=%s defaults=%s", manifest.profile or "?",
                    _names(manifest.asr), _names(manifest.alignment), _names(manifest.diarization),
                    dict(manifest.defaults))

    # ---- jobs -------------------------------------------------------------------------------------
    def transcribe(self, audio: str | Path | np.ndarray | DecodedAudio, options: TranscribeOptions | None = None, *,
                   on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
                   on_segments: SegmentsCallback | None = None) -> Result:
        """One job on the process's engine (`Engine.transcribe`: its arguments, progress and errors)."""
        return self.engine.transcribe(audio, options, on_progress=on_progress, cancel=cancel,
                                      on_segments=on_segments)

    @property
    def jobs_in_progress(self) -> int:
        """Jobs the engine holds now (running, or waiting for the one running): what a queue reports."""
        return self.engine.jobs_in_progress

    def realign(self, audio: str | Path | np.ndarray | DecodedAudio, result: Result, index: int, text: str, *,
                through: int | None = None) -> Result:
        """`result` with segment `index` (through `through`) holding `text`, re-timed against `audio`
        (`Engine.realign`)."""
        return self.engine.realign(audio, result, index, text, through=through)

    def snap_split(self, audio: str | Path | np.ndarray | DecodedAudio, result: Result, index: int,
                   word: int) -> Result:
        """`result` with a split before word `word` of segment `index` put in the pause between the two words as
        heard in `audio` (`Engine.snap_split`)."""
        return self.engine.snap_split(audio, result, index, word)

    # ---- what front ends show and validate --------------------------------------------------------
    @property
    def default_model(self) -> str:
        return self.engine.registry.default_asr_name

    @property
    def batch_size(self) -> int:
        """The batch size of a job that sets none: `BATCH_SIZE`, else the device's default (16 on a GPU, 4 on
        CPU), so a front end can say what an empty batch size means."""
        return self.engine.registry.batch_size

    def models(self) -> list[str]:
        """Installed ASR model names, default first."""
        return self.engine.registry.available_asr_models()

    def check_model(self, name: str | None) -> str:
        """The installed model `name` means (see `resolve_model`), loaded, so a job is refused before its audio
        is fetched; `ModelUnavailable` naming the `model` field otherwise."""
        canonical = self.resolve_model(name)
        self.engine.registry.asr(canonical)
        return canonical

    def check_options(self, options: TranscribeOptions) -> None:
        """Refuse what the options alone rule out (the language for the model, an uninstalled diarization model)
        before a job's audio is fetched (`Engine.check_options`); `options.model` is an installed name."""
        self.engine.check_options(options)

    def resolve_model(self, name: str | None) -> str:
        """A requested model name → the installed name it means; None/"" → the default. Only installed names
        are accepted, never a path (a request must not make the worker load files of its choosing), and every
        spelling of one model ("Turbo", "large-v3-turbo", "openai/whisper-large-v3-turbo") gives the same
        name, so one model is loaded once."""
        if name is None or not name.strip():
            return self.default_model
        installed = self.models()
        text = name.strip()
        if _looks_like_path(text):
            raise ModelUnavailable(f"model must be the name of an installed model, not a path; installed: "
                                   f"{', '.join(_display(m) for m in installed) or 'none'}", field="model")
        wanted = model_key(text)
        for candidate in installed:
            if model_key(candidate) == wanted:
                return candidate
        raise ModelUnavailable(f"model {text[:80]!r} is not installed; installed: "
                               f"{', '.join(_display(m) for m in installed) or 'none'}", field="model")

    def speaker_embedding_model(self, token: str | None = None, diarization_model: str | None = None) -> object:
        """The speaker-embedding model of the job's diarization pipeline (default: the default pipeline), so
        voices are compared in the space diarization clustered them in (`core.speakers.verification`);
        `FeatureUnavailable` says why not."""
        from core.speakers.verification import embedding_model

        return embedding_model(self.engine.registry.diarization(diarization_model, token=token))

    def name_speakers(self, result: Result, samples: np.ndarray, clips: Mapping[str, list[np.ndarray]], *,
                      token: str | None = None, diarization_model: str | None = None) -> tuple[dict[str, str],
                                                                                                list[str]]:
        """Diarization label → name for the speakers of `result` whose voice (in the job's decoded `samples`)
        matches a reference clip, one to one above the embedding model's threshold
        (`core.speakers.verification.naming_threshold`); and warnings (a
        clip too short, speakers left unmatched, no embedding model). Speakers the voice library already named keep
        their names. Every front end names speakers this way."""
        from core.models.registry import FeatureUnavailable
        from core.speakers.verification import match, naming_threshold, reference_voices, speaker_voices

        if not clips or not result.diarized or not result.diarization:
            return {}, []
        try:
            model = self.speaker_embedding_model(token, diarization_model)
        except FeatureUnavailable as unavailable:
            return {}, [f"speaker verification skipped: {unavailable.reason}"]
        recognised = {found.name for found in result.voices or () if found.name}
        references, too_short = reference_voices(model, {name: found for name, found in clips.items()
                                                         if name not in recognised})
        warnings = [f"speaker sample {name!r} is too short to compare voices (give a few seconds of speech)"
                    for name in too_short]
        # their turns already carry the person's name (`Result.with_recognized_voices`), not the label
        named = {found.name for found in result.voices or () if found.name}
        turns = [turn for turn in result.diarization if turn.speaker not in named]
        matches = match(speaker_voices(model, samples, turns), references, threshold=naming_threshold(model))
        names = {label: found.name for label, found in matches.items() if found.name is not None}
        unmatched = sorted(label for label, found in matches.items() if found.name is None)
        if unmatched:
            warnings.append(f"no speaker sample matched {', '.join(unmatched)}: they keep their labels")
        logger.info("speaker verification: %d of %d speakers named", len(names), len(matches))
        return names, warnings
    # ---- the voice library ------------------------------------------------------------------------
    @property
    def voices(self) -> VoiceLibrary:
        """The voice library in DATA_DIR (`core.speakers.voices`), the one the engine recognises voices from."""
        return self.engine.voices

    def remember_voice(self, name: str, clips: Sequence[tuple[Any, str, str]], **where: Any) -> Voice:
        """Enrol one person (see `remember_voices`)."""
        return self.remember_voices({name: clips}, **where)[0]

    def remember_voices(self, voices: Mapping[str, Sequence[tuple[Any, str, str]]], *,
                        turns: tuple[SpeakerTurn, ...] | None = None, label: str | None = None,
                        diarization_model: str | None = None, token: str | None = None) -> list[Voice]:
        """Enrol each name from its clips, each (16 kHz samples, source noted in the library, field named in
        errors): clips of that person alone, or with `turns` + `label`, that speaker's turns of a transcribed
        recording. Every name and clip is checked before anything is stored."""
        from core.speakers.voices import check_name

        checked = {check_name(name): clips for name, clips in voices.items()}
        made = {name: [self.engine.voiceprint(samples, source=source, turns=turns, label=label, field=field,
                                              diarization_model=diarization_model, token=token)
                       for samples, source, field in clips] for name, clips in checked.items()}
        enrolled = [self.voices.add(name, [voiceprint for voiceprint, _ in prints], prints[0][1])
                    for name, prints in made.items() if prints]
        logger.info("voice library: %d voice(s) enrolled; %d in all", len(enrolled), len(self.voices.voices()))
        return enrolled

    def voice_model(self, diarization_model: str | None = None, token: str | None = None) -> str:
        """The identity of the embedding model a job's voices are compared with (`recognition.model_identity`)."""
        from core.errors import InvalidInput
        from core.models.registry import FeatureUnavailable
        from core.speakers.recognition import model_identity

        try:
            return model_identity(self.speaker_embedding_model(token, diarization_model))
        except FeatureUnavailable as unavailable:
            raise InvalidInput(f"voices cannot be compared: {unavailable.reason}", field="diarization_model") from None

    def voice_listing(self, diarization_model: str | None = None, token: str | None = None) -> Listing:
        """Every voice with its state for the embedding model of `diarization_model` (default: the default
        pipeline): ready, or to re-enrol when it has no voiceprint of that model. What the page and the CLI list."""
        from core.models.registry import FeatureUnavailable
        from core.speakers.recognition import model_identity
        from core.speakers.voices import Listing, voice_status

        voices = self.voices.voices()
        if not voices:
            return Listing(None)
        try:
            model: str | None = model_identity(self.speaker_embedding_model(token, diarization_model))
        except FeatureUnavailable:
            model = None
        return Listing(model, tuple((voice, voice_status(voice, model)) for voice in voices))

    def diarization_models(self) -> list[str]:
        """Installed diarization pipelines, default first (what `diarization_model` accepts)."""
        return self.engine.registry.available_diarization_models()

    def alignment_languages(self) -> list[str]:
        return self.engine.registry.alignment_languages()

    def languages(self, model: str | None = None) -> dict[str, str]:
        """Languages `model` (default: the default model) can transcribe, code → name: an English-only model
        offers English alone. Loads no model."""
        from core.asr.languages import supported_languages

        languages = supported_languages()
        if self.engine.registry.is_english_only(model):
            return {"en": languages["en"]}
        return languages


# Short names the faster-whisper worker and whisper's CLI accept for the models they ship.
MODEL_ALIASES = {"turbo": LARGE_V3_TURBO, "large": "large-v3"}
_MODEL_PREFIXES = ("faster-whisper-", "whisper-")


def model_key(name: str) -> str:
    """What identifies a model across spellings: case, a hub organisation and a "(faster-)whisper-" prefix do
    not matter, and the aliases map to their full names."""
    key = PurePath(name.strip()).name.lower() if os.sep in name else name.strip().lower()
    key = key.rsplit("/", 1)[-1]
    for prefix in _MODEL_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return MODEL_ALIASES.get(key, key)


def _looks_like_path(text: str) -> bool:
    """A path or anything beyond "name" or "organisation/name" (hub spelling) is not a model name."""
    return (text.startswith((".", "~", "/")) or "\\" in text or text.count("/") > 1 or ".." in text
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", text))


def _display(name: str) -> str:
    return PurePath(name).name if os.sep in name else name


def _names(entries: Iterable[str]) -> str:
    return ",".join(entries) or "none"


_shared: Service | None = None
_shared_lock = threading.Lock()


def shared(settings: Settings | None = None) -> Service:
    """The process-wide service (settings read from the environment once, unless given on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Service(settings or Settings.from_env())
        return _shared
