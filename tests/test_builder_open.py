"""`python -m builder --profile open`: a complete offline set and a manifest the engine needs nothing else for."""

from __future__ import annotations

import json

import pytest

from core import Settings
from core.registry import ModelRegistry


def test_manifest_names_what_was_installed(models_dir):
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["profile"] == "open"
    assert manifest["defaults"] == {"asr": "tiny.en", "diarization": "open-ge2e"}
    for section in ("asr", "diarization"):
        for entry in manifest[section].values():
            assert (models_dir / entry["path"]).exists()
    assert (models_dir / manifest["vad"]["path"]).is_file()
    assert (models_dir / manifest["nltk_data"] / "tokenizers" / "punkt_tab" / "english").is_dir()
    assert (models_dir / "diarization" / "open-ge2e" / "config.yaml").is_file()


def test_models_dir_alone_configures_the_registry(models_dir):
    registry = ModelRegistry(Settings(models_dir=models_dir, device="cpu"))
    assert registry.default_asr_name == "tiny.en"
    assert registry.available_asr_models() == ["tiny.en"]
    assert registry.default_diarization_name == "open-ge2e"


def test_env_overrides_the_manifest(models_dir):
    registry = ModelRegistry(Settings(models_dir=models_dir, whisper_model="other"))
    assert registry.default_asr_name == "other"


@pytest.mark.slow
def test_rebuild_is_idempotent(models_dir):
    import subprocess
    import sys

    before = {p: p.stat().st_mtime_ns for p in models_dir.rglob("*.bin")}
    subprocess.run([sys.executable, "-m", "builder", "--profile", "open", "--models-dir", str(models_dir)],
                   check=True, capture_output=True)
    after = {p: p.stat().st_mtime_ns for p in models_dir.rglob("*.bin")}
    assert before == after
