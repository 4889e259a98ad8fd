"""Layout of MODELS_DIR and its manifest: the one table the builder writes and the engine reads.

    MODELS_DIR/manifest.json
    MODELS_DIR/asr/<name>/            CTranslate2 faster-whisper model (model.bin, config.json, tokenizer)
    MODELS_DIR/align/<lang>/          Hugging Face wav2vec2 CTC model + processor
    MODELS_DIR/align/torchaudio/      torchaudio bundle checkpoints (torch hub cache layout)
    MODELS_DIR/diarization/<name>/    pyannote pipeline directory (config.yaml + sub-models)
    MODELS_DIR/vad/segmentation.bin   pyannote segmentation checkpoint used as VAD
    MODELS_DIR/nltk_data/             NLTK data (punkt_tab) for alignment's sentence splitting
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1


def slug(name: str) -> str:
    """A hub id like `pyannote/speaker-diarization-community-1` → a directory name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "--", name.strip()).strip("-") or "model"


def asr_dir(root: Path, name: str) -> Path:
    return root / "asr" / slug(name)


def align_dir(root: Path, language: str) -> Path:
    return root / "align" / slug(language)


def torchaudio_dir(root: Path) -> Path:
    return root / "align" / "torchaudio"


def diarization_dir(root: Path, name: str) -> Path:
    return root / "diarization" / slug(name)


def vad_file(root: Path) -> Path:
    return root / "vad" / "segmentation.bin"


def nltk_dir(root: Path) -> Path:
    return root / "nltk_data"


def is_ct2_model(path: Path) -> bool:
    return (path / "model.bin").is_file()


def is_pipeline_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a models directory holds. Entries map a name (or language) to a dict with a relative `path` and its
    `source`; ASR entries also carry `bytes` (directory size) and `sha256` (of `model.bin`), written by the builder."""

    root: Path
    profile: str = ""
    asr: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    alignment: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    diarization: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    vad: Mapping[str, Any] | None = None
    nltk_data: str | None = None
    defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Manifest:
        """An absent manifest is an empty one (a bare directory still works by layout)."""
        path = root / MANIFEST_NAME
        if not path.is_file():
            return cls(root=root)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            root=root,
            profile=data.get("profile", ""),
            asr=data.get("asr", {}),
            alignment=data.get("alignment", {}),
            diarization=data.get("diarization", {}),
            vad=data.get("vad"),
            nltk_data=data.get("nltk_data"),
            defaults=data.get("defaults", {}),
        )

    def resolve(self, entry: Mapping[str, Any] | None) -> Path | None:
        if not entry or "path" not in entry:
            return None
        path = self.root / entry["path"]
        return path if path.exists() else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MANIFEST_SCHEMA,
            "profile": self.profile,
            "asr": dict(self.asr),
            "alignment": dict(self.alignment),
            "diarization": dict(self.diarization),
            "vad": self.vad,
            "nltk_data": self.nltk_data,
            "defaults": dict(self.defaults),
        }

    def write(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
