"""Model registry: every model loads once per process, under a lock, and is reused by every job.

Names resolve in MODELS_DIR only (manifest, then layout), so what `builder/` bakes is exactly what runs, and a
job never touches the network. The one exception is start-up with `FETCH_MODELS=1` (a Hugging Face Space's
first start): `preload(fetch=True)` may download the default models into MODELS_DIR/hf-cache; after it the hub
is closed for the rest of the process.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.models import layout
from core.settings import FALLBACK_DIARIZATION_MODEL, FALLBACK_WHISPER_MODEL, Settings
from core.errors import InvalidInput, ModelUnavailable

logger = logging.getLogger(__name__)

ALIGNMENT_CACHE_SIZE = 3
MULTILINGUAL_VOCABULARY = 51_865  # tokens in the smallest multilingual Whisper vocabulary (English-only: 51,864)


class FeatureUnavailable(Exception):
    """An optional stage (alignment, diarization) cannot run; `reason` becomes a result warning."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class AsrModel:
    name: str
    pipeline: Any  # whisperx FasterWhisperPipeline
    english_only: bool
    # The pipeline's decoding options as loaded (a job replaces `pipeline.options` while it runs): what live
    # decoding (core/live/decoder.py) decodes with, so its finals are decoded as a job's are by default.
    default_options: Any = None


def resolve_device(requested: str) -> str:
    if requested != "auto":
        if requested == "cuda" and not _cuda_available():
            raise InvalidInput("DEVICE=cuda but no CUDA device is visible; use DEVICE=cpu or auto", field="DEVICE")
        return requested
    return "cuda" if _cuda_available() else "cpu"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_compute_type(requested: str, device: str) -> str:
    """`auto` = float16 on CUDA, int8 on CPU; a type the device cannot run is refused up front."""
    if requested == "auto":
        return "float16" if device == "cuda" else "int8"
    import ctranslate2

    supported = sorted(ctranslate2.get_supported_compute_types(device))
    if requested not in supported:
        raise InvalidInput(
            f"COMPUTE_TYPE={requested} is not supported on {device}; supported: {', '.join(supported)}",
            field="COMPUTE_TYPE",
        )
    return requested


class ModelRegistry:
    """Owns loaded models. Thread-safe; loads are logged with their duration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.models_dir
        self.manifest = layout.Manifest.load(self.root)
        self.device = resolve_device(settings.device)
        self.compute_type = resolve_compute_type(settings.compute_type, self.device)
        self.batch_size = settings.batch_size or (16 if self.device == "cuda" else 4)
        self._lock = threading.RLock()
        self._asr: dict[str, AsrModel] = {}
        self._alignment: collections.OrderedDict[str, tuple[Any, dict]] = collections.OrderedDict()
        self._diarization: dict[str, Any] = {}
        self._fetching = False  # True only inside `preload(fetch=True)`, under the lock
        self._nltk_path = self._configure_nltk()
        if not settings.fetch_models:
            close_hub()

    # ---- names -------------------------------------------------------------------------------
    @property
    def default_asr_name(self) -> str:
        return self.settings.whisper_model or self.manifest.defaults.get("asr") or FALLBACK_WHISPER_MODEL

    @property
    def default_diarization_name(self) -> str:
        return (
            self.settings.diarization_model
            or self.manifest.defaults.get("diarization")
            or FALLBACK_DIARIZATION_MODEL
        )

    def available_asr_models(self) -> list[str]:
        """Installed ASR models (manifest entries and layout directories), default first."""
        return self._installed(self.manifest.asr, "asr", layout.is_ct2_model, self.default_asr_name)

    def available_diarization_models(self) -> list[str]:
        """Installed diarization pipelines (manifest entries and layout directories), default first."""
        return self._installed(self.manifest.diarization, "diarization", layout.is_pipeline_dir,
                               self.default_diarization_name)

    def is_english_only(self, name: str | None = None) -> bool:
        """Whether `name` is an English-only model, without loading it: its vocabulary has 51,864 tokens, a
        multilingual one 51,865 or more (OpenAI's tokenizers); a loaded model is asked directly."""
        name = name or self.default_asr_name
        if name in self._asr:
            return self._asr[name].english_only
        try:
            folder = Path(self._asr_source(name))
        except ModelUnavailable:
            return name.endswith(".en")
        vocabulary = folder / "vocabulary.txt"
        if vocabulary.is_file():
            with vocabulary.open(encoding="utf-8") as lines:
                return sum(1 for _ in lines) < MULTILINGUAL_VOCABULARY
        return self.asr(name).english_only

    def _installed(self, entries: Any, folder_name: str, is_model: Callable[[Path], bool], default: str) -> list[str]:
        names = [name for name in entries if self.manifest.resolve(entries[name])]
        folder = self.root / folder_name
        if folder.is_dir():
            names += sorted(path.name for path in folder.iterdir() if is_model(path))
        if Path(default).is_dir() or default in names:
            names.insert(0, default)
        return list(dict.fromkeys(names))

    def alignment_languages(self) -> list[str]:
        return sorted(lang for lang, entry in self.manifest.alignment.items() if self.manifest.resolve(entry))

    def _asr_source(self, name: str) -> str:
        """A local CTranslate2 directory for `name`, or the hub id while start-up fetches."""
        local = _local_model(name, self.manifest.resolve(self.manifest.asr.get(name)),
                             layout.asr_dir(self.root, name), layout.is_ct2_model)
        if local is not None:
            return local
        if not self._fetching:
            installed = ", ".join(self.available_asr_models()) or "none"
            raise ModelUnavailable(
                f"ASR model {name!r} is not installed: searched {layout.asr_dir(self.root, name)} and the manifest "
                f"of MODELS_DIR={self.root} (installed: {installed}). Build it with "
                f"`python -m builder --models-dir {self.root}` or pick an installed model.",
                field="model",
            )
        return name

    # ---- loaders -----------------------------------------------------------------------------
    def asr(self, name: str | None = None) -> AsrModel:
        name = name or self.default_asr_name
        with self._lock:
            if name in self._asr:
                return self._asr[name]
            source = self._asr_source(name)
            started = time.perf_counter()
            pipeline = self._load_asr(name, source)
            english_only = not pipeline.model.model.is_multilingual
            model = AsrModel(name=Path(name).name if os.sep in name else name, pipeline=pipeline,
                             english_only=english_only, default_options=pipeline.options)
            self._asr[name] = model
            logger.info("loaded ASR model %s (%s, %s) in %.1fs", model.name, self.device, self.compute_type,
                        time.perf_counter() - started)
            return model

    def _load_asr(self, name: str, source: str) -> Any:
        import whisperx

        from core.asr.decoding import TimedWhisperModel

        try:
            model = TimedWhisperModel(
                source,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=os.cpu_count() or 4,
                local_files_only=not self._fetching,
                download_root=str(self.root / "hf-cache") if self._fetching else None,
                use_auth_token=self.settings.hf_token,
            )
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelUnavailable(f"ASR model {name!r} could not be loaded from {source}: {error}",
                                   field="model") from error
        language = None if model.model.is_multilingual else "en"
        return whisperx.load_model(
            source,
            device=self.device,
            compute_type=self.compute_type,
            language=language,
            model=model,
            vad_method="pyannote",
            vad_options={"model_fp": str(self._vad_path())},
        )

    def _vad_path(self) -> Path:
        installed = self.manifest.resolve(self.manifest.vad) or layout.vad_file(self.root)
        if installed.is_file():
            return installed
        import whisperx

        return Path(whisperx.__file__).parent / "assets" / "pytorch_model.bin"

    def alignment(self, language: str) -> tuple[Any, dict]:
        """The wav2vec2 model for `language`, from a small LRU cache; `FeatureUnavailable` when none exists."""
        key = language
        with self._lock:
            if key in self._alignment:
                self._alignment.move_to_end(key)
                return self._alignment[key]
            if self._nltk_path is None:
                raise FeatureUnavailable(
                    "word alignment skipped: NLTK punkt_tab data is missing from MODELS_DIR "
                    "(run `python -m builder` to install it)"
                )
            started = time.perf_counter()
            loaded = self._load_alignment(language)
            self._alignment[key] = loaded
            while len(self._alignment) > ALIGNMENT_CACHE_SIZE:
                evicted, _ = self._alignment.popitem(last=False)
                logger.info("evicted alignment model for %s", evicted)
            logger.info("loaded alignment model for %s in %.1fs", language, time.perf_counter() - started)
            return loaded

    def _load_alignment(self, language: str) -> tuple[Any, dict]:
        import whisperx
        from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

        entry = self.manifest.alignment.get(language, {})
        local = self.manifest.resolve(entry) or _existing(layout.align_dir(self.root, language))
        if entry.get("torchaudio") and local is not None:
            args: dict[str, Any] = {"model_name": entry["torchaudio"], "model_dir": str(local)}
        elif local is not None and not entry.get("torchaudio"):
            args = {"model_name": str(local)}
        else:
            known = language in DEFAULT_ALIGN_MODELS_TORCH or language in DEFAULT_ALIGN_MODELS_HF
            raise FeatureUnavailable(
                f"no wav2vec2 model for {language!r} in MODELS_DIR (installed: "
                f"{', '.join(self.alignment_languages()) or 'none'})"
                + ("; add it with `python -m builder --align-languages`" if known else
                   "; WhisperX has no default model for it")
            )
        try:
            return whisperx.load_align_model(language_code=language, device=self.device, **args)
        except Exception as error:
            raise FeatureUnavailable(
                f"word alignment skipped: the alignment model for {language!r} could not be loaded ({error})"
            ) from error

    def diarization(self, name: str | None = None, token: str | None = None) -> Any:
        """A loaded pyannote pipeline (`core.speakers.diarization`); `FeatureUnavailable` says why not."""
        name = name or self.default_diarization_name
        with self._lock:
            if name in self._diarization:
                return self._diarization[name]
            source = self._diarization_source(name)
            started = time.perf_counter()
            from core.speakers.diarization import load_pipeline

            try:
                pipeline = load_pipeline(source, token=token or self.settings.hf_token, device=self.device)
            except Exception as error:
                raise FeatureUnavailable(
                    f"diarization skipped: the pipeline {name!r} could not be loaded "
                    f"({type(error).__name__}). Preload it with `python -m builder` (needs HF_TOKEN for gated "
                    "pyannote weights), or pass huggingface_access_token when the hub is reachable."
                ) from error
            self._diarization[name] = pipeline
            logger.info("loaded diarization pipeline %s in %.1fs", Path(name).name,
                        time.perf_counter() - started)
            return pipeline

    def _diarization_source(self, name: str) -> str:
        local = _local_model(name, self.manifest.resolve(self.manifest.diarization.get(name)),
                             layout.diarization_dir(self.root, name), layout.is_pipeline_dir)
        if local is not None:
            return local
        if not self._fetching:
            raise FeatureUnavailable(
                f"diarization skipped: the pipeline {name!r} is not installed in MODELS_DIR={self.root}. Build the "
                "image with the HF token (`python -m builder --profile default`), or set DIARIZATION_MODEL to an "
                "installed pipeline directory."
            )
        return name

    def preload(self, *, diarization: bool = True, fetch: bool = False) -> list[str]:
        """Load the defaults so the first request is warm; returns what is ready (for start-up logs). With
        `fetch`, missing defaults are downloaded from the hub first; either way the hub is closed afterwards."""
        with self._lock:
            self._fetching = fetch
            try:
                ready = [f"asr:{self.asr().name}"]
                if diarization:
                    try:
                        self.diarization()
                        ready.append(f"diarization:{Path(self.default_diarization_name).name}")
                    except FeatureUnavailable as unavailable:
                        logger.warning("%s", unavailable.reason)
            finally:
                self._fetching = False
                close_hub()
        return ready

    def _configure_nltk(self) -> Path | None:
        """Point NLTK at MODELS_DIR so alignment never tries to download punkt_tab at request time."""
        candidates = [self.manifest.resolve({"path": self.manifest.nltk_data}) if self.manifest.nltk_data else None,
                      layout.nltk_dir(self.root)]
        import nltk

        for candidate in candidates:
            if candidate is not None and (candidate / "tokenizers" / "punkt_tab").is_dir():
                if str(candidate) not in nltk.data.path:
                    nltk.data.path.insert(0, str(candidate))
                return candidate
        try:
            nltk.data.find("tokenizers/punkt_tab/english/")
        except LookupError:
            return None
        return Path(nltk.data.find("tokenizers/punkt_tab/english/")).parents[2]


def close_hub() -> None:
    """Make huggingface_hub refuse at once (OfflineModeIsEnabled) instead of trying the network, for whatever a
    library might still ask of it; jobs only ever load from MODELS_DIR."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - a dependency of faster-whisper, always present
        return
    constants.HF_HUB_OFFLINE = True


def _local_model(name: str, manifest_path: Path | None, default_dir: Path,
                 is_model: Callable[[Path], bool]) -> str | None:
    """Where `name` is on disk: itself when it is a path, else its manifest entry, else its default folder."""
    candidates = [Path(name)] if os.sep in name or name.startswith(".") else []
    candidates += [p for p in (manifest_path, default_dir) if p is not None]
    return next((str(candidate) for candidate in candidates if is_model(candidate)), None)


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None
