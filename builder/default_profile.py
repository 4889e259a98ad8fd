"""The "default" profile: the production model set, fetched from the hub into MODELS_DIR at image build time.

- ASR: faster-whisper CTranslate2 models, names mapped to repos by faster-whisper's own table;
- alignment: whisperx's default wav2vec2 model per language (torchaudio bundles as torch-hub checkpoints,
  Hugging Face models as `save_pretrained` directories), from whisperx's own tables;
- diarization: the gated `pyannote/speaker-diarization-community-1` pipeline (token from `HF_TOKEN` or the
  BuildKit secret file); without a token it is skipped with a warning and the build still succeeds;
- VAD: whisperx's bundled pyannote segmentation, re-saved for pyannote 4 (no network);
- NLTK `punkt_tab` for alignment's sentence splitting.

All network access goes through a `Fetcher`, so the layout logic is testable without the hub. Every step is
skipped when its output is complete, and `snapshot_download` resumes partial downloads, so a failed build can
simply be re-run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from builder import BuildError, asr_digest
from core.models import layout
from core.settings import FALLBACK_DIARIZATION_MODEL, FALLBACK_WHISPER_MODEL

logger = logging.getLogger(__name__)

PROFILE = "default"
DEFAULT_ASR_MODELS = (FALLBACK_WHISPER_MODEL,)  # the model names are written once, in core/settings.py
# The most-used languages; `--align-languages all` takes every language whisperx has a default model for.
DEFAULT_ALIGN_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "ja", "zh")
ALL_LANGUAGES = "all"
DEFAULT_DIARIZATION_MODEL = FALLBACK_DIARIZATION_MODEL
TOKEN_FILE = Path("/run/secrets/hf_token")  # where `RUN --mount=type=secret,id=hf_token` puts the secret
TORCHAUDIO_URL = "https://download.pytorch.org/torchaudio/models/{}"

ASR_PATTERNS = ("config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*")
ASR_REQUIRED = ("model.bin", "config.json", "tokenizer.json")
ALIGN_CONFIG_PATTERNS = ("*.json", "vocab.txt")
ALIGN_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # first one the repo has wins
PIPELINE_PATTERNS = ("*.yaml", "*.bin", "*.npz", "*.safetensors", "*.json", "*.md", "LICENSE*")


class Fetcher(Protocol):
    """The only network access of the builder (replaced in tests, where the hub is unreachable)."""

    def list_files(self, repo_id: str, *, token: str | None = None) -> list[str]: ...

    def snapshot(self, repo_id: str, target: Path, *, allow_patterns: Sequence[str],
                 token: str | None = None) -> Path: ...

    def download(self, url: str, target_file: Path) -> Path: ...

    def punkt_tab(self, nltk_root: Path) -> Path: ...


class HubFetcher:
    """Real downloads: Hugging Face hub (resumable), torch hub URLs, NLTK's data server."""

    @staticmethod
    def _require_online() -> None:
        """Checked on the first download only, so a re-run over a complete directory works offline."""
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise BuildError("the default profile downloads from the hub, but HF_HUB_OFFLINE=1 is set; "
                             "run the builder with HF_HUB_OFFLINE=0")

    def list_files(self, repo_id: str, *, token: str | None = None) -> list[str]:
        from huggingface_hub import list_repo_files

        self._require_online()
        return list_repo_files(repo_id, token=token)

    def snapshot(self, repo_id: str, target: Path, *, allow_patterns: Sequence[str],
                 token: str | None = None) -> Path:
        from huggingface_hub import snapshot_download

        self._require_online()
        return Path(snapshot_download(repo_id, local_dir=target, allow_patterns=list(allow_patterns), token=token))

    def download(self, url: str, target_file: Path) -> Path:
        from torch.hub import download_url_to_file

        self._require_online()
        target_file.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(url, str(target_file), progress=False)  # writes a temp file, then renames
        return target_file

    def punkt_tab(self, nltk_root: Path) -> Path:
        from builder.punkt import download_punkt_tab

        self._require_online()
        return download_punkt_tab(nltk_root)


@dataclasses.dataclass(frozen=True)
class Step:
    """One line of the build summary."""

    kind: str
    name: str
    status: str  # fetched (downloaded) | written (made locally) | present | skipped
    path: Path | None = None
    detail: str = ""

    def line(self) -> str:
        size = f" ({_human(_size(self.path))})" if self.path is not None and self.path.exists() else ""
        detail = f" — {self.detail}" if self.detail else ""
        return f"  {self.status:<8} {self.kind:<12} {self.name}{size}{detail}"


@dataclasses.dataclass
class _Build:
    root: Path
    fetcher: Fetcher
    force: bool
    token: str | None
    steps: list[Step] = dataclasses.field(default_factory=list)

    def record(self, step: Step) -> None:
        self.steps.append(step)
        logger.info("%s %s %s", step.status, step.kind, step.name)


def build_default_profile(
    root: Path,
    *,
    force: bool = False,
    asr_models: Sequence[str] = DEFAULT_ASR_MODELS,
    align_languages: Sequence[str] = DEFAULT_ALIGN_LANGUAGES,
    diarization_model: str = DEFAULT_DIARIZATION_MODEL,
    fetcher: Fetcher | None = None,
    token: str | None = None,
) -> layout.Manifest:
    """Install the production set under `root` and write its manifest; complete steps are skipped unless `force`.

    `token`: the Hugging Face token for the gated diarization pipeline (None or "": build without it); the
    caller finds it (`read_token`), this function never reads the environment.
    """
    root.mkdir(parents=True, exist_ok=True)
    asr_repos = {name: asr_repo(name) for name in asr_models}
    align_sources = {language: alignment_source(language) for language in expand_align_languages(align_languages)}
    build = _Build(root=root, fetcher=fetcher or HubFetcher(), force=force, token=token or None)
    asr = {name: _install_asr(build, name, repo) for name, repo in asr_repos.items()}
    alignment = {language: _install_alignment(build, language, source)
                 for language, source in align_sources.items()}
    diarization = _install_diarization(build, diarization_model)
    vad = _install_vad(build)
    nltk_data = _install_punkt(build)
    defaults = {"asr": next(iter(asr))} if asr else {}
    if diarization:
        defaults["diarization"] = diarization_model
    manifest = layout.Manifest(root=root, profile=PROFILE, asr=asr, alignment=alignment, diarization=diarization,
                               vad=vad, nltk_data=nltk_data, defaults=defaults)
    manifest.write()
    print_summary(build)
    return manifest


# ---- name tables (the engine's own: faster-whisper and whisperx) ------------------------------------------
def asr_repo(name: str) -> str:
    """faster-whisper's name → repo table; a name with a slash is taken as a repo id."""
    from faster_whisper.utils import _MODELS

    if name in _MODELS:
        return _MODELS[name]
    if "/" in name:
        return name
    raise BuildError(f"unknown ASR model {name!r}; use one of {', '.join(_MODELS)} or a CTranslate2 repo id")


@dataclasses.dataclass(frozen=True)
class AlignmentSource:
    kind: str  # torchaudio | huggingface
    name: str  # torchaudio bundle name or hub repo id


def expand_align_languages(languages: Sequence[str]) -> list[str]:
    """`all` → every language whisperx has a default alignment model for (torchaudio bundles first)."""
    if ALL_LANGUAGES not in languages:
        return list(dict.fromkeys(languages))
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    return list(dict.fromkeys([*DEFAULT_ALIGN_MODELS_TORCH, *DEFAULT_ALIGN_MODELS_HF]))


def alignment_source(language: str) -> AlignmentSource:
    """whisperx's default alignment model for `language` (the one `load_align_model` would pick)."""
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    if language in DEFAULT_ALIGN_MODELS_TORCH:
        return AlignmentSource("torchaudio", DEFAULT_ALIGN_MODELS_TORCH[language])
    if language in DEFAULT_ALIGN_MODELS_HF:
        return AlignmentSource("huggingface", DEFAULT_ALIGN_MODELS_HF[language])
    known = sorted({*DEFAULT_ALIGN_MODELS_TORCH, *DEFAULT_ALIGN_MODELS_HF})
    raise BuildError(f"whisperx has no alignment model for language {language!r}; known: {', '.join(known)}")


def torchaudio_checkpoint_name(bundle_name: str) -> str:
    """The file `bundle.get_model(dl_kwargs={"model_dir": d})` looks for in `d` (torch hub: URL basename)."""
    import torchaudio

    bundle = getattr(torchaudio.pipelines, bundle_name)
    return Path(bundle._path).name  # torchaudio prefixes TORCHAUDIO_URL when the path is not a URL


# ---- steps ------------------------------------------------------------------------------------------------
def _install_asr(build: _Build, name: str, repo: str) -> dict[str, Any]:
    target = layout.asr_dir(build.root, name)
    if build.force or not _has_files(target, ASR_REQUIRED):
        build.fetcher.snapshot(repo, target, allow_patterns=ASR_PATTERNS, token=build.token)
        if not _has_files(target, ASR_REQUIRED):
            raise BuildError(f"{repo} is not a CTranslate2 faster-whisper model (missing {ASR_REQUIRED})")
        build.record(Step("asr", name, "fetched", target, repo))
    else:
        build.record(Step("asr", name, "present", target))
    return {"path": _relative(target, build.root), "source": repo, **asr_digest(target)}


def _install_alignment(build: _Build, language: str, source: AlignmentSource) -> dict[str, Any]:
    if source.kind == "torchaudio":
        return _install_torchaudio(build, language, source.name)
    target = layout.align_dir(build.root, language)
    if build.force or not _hf_model_complete(target):
        files = build.fetcher.list_files(source.name, token=build.token)
        weights = next((name for name in ALIGN_WEIGHTS if name in files), None)
        if weights is None:
            raise BuildError(f"{source.name} has none of {ALIGN_WEIGHTS}")
        build.fetcher.snapshot(source.name, target, allow_patterns=(*ALIGN_CONFIG_PATTERNS, weights),
                               token=build.token)
        build.record(Step("alignment", language, "fetched", target, source.name))
    else:
        build.record(Step("alignment", language, "present", target))
    return {"path": _relative(target, build.root), "source": source.name}


def _install_torchaudio(build: _Build, language: str, bundle_name: str) -> dict[str, Any]:
    target_dir = layout.torchaudio_dir(build.root)
    file_name = torchaudio_checkpoint_name(bundle_name)
    target = target_dir / file_name
    url = TORCHAUDIO_URL.format(file_name)
    if build.force or not target.is_file():
        build.fetcher.download(url, target)
        build.record(Step("alignment", f"{language} ({bundle_name})", "fetched", target, url))
    else:
        build.record(Step("alignment", f"{language} ({bundle_name})", "present", target))
    return {"path": _relative(target_dir, build.root), "torchaudio": bundle_name, "source": url}


def _install_diarization(build: _Build, name: str) -> dict[str, dict[str, Any]]:
    """The gated pipeline; skipped (with a warning) when no token is available and it is not installed yet."""
    target = layout.diarization_dir(build.root, name)
    if not build.force and pipeline_complete(target):
        build.record(Step("diarization", name, "present", target))
        return {name: {"path": _relative(target, build.root), "source": name}}
    if not build.token:
        logger.warning(
            "no Hugging Face token (HF_TOKEN or the BuildKit secret `hf_token` at %s): skipping the gated "
            "diarization pipeline %s. The image will transcribe and align, but diarization requests will return "
            "a warning. Accept its conditions at https://huggingface.co/%s and rebuild with "
            "`--secret id=hf_token,env=HF_TOKEN`.", TOKEN_FILE, name, name)
        build.record(Step("diarization", name, "skipped", None, "no HF token"))
        return {}
    try:
        build.fetcher.snapshot(name, target, allow_patterns=PIPELINE_PATTERNS, token=build.token)
    except BuildError:
        raise
    except Exception as error:  # the hub's errors vary (401, 403 gated, 404); all mean the same fix here
        raise BuildError(
            f"could not download the diarization pipeline {name} ({type(error).__name__}): check that the token "
            f"is valid and that its account accepted the conditions at https://huggingface.co/{name}"
        ) from error
    if not pipeline_complete(target):
        raise BuildError(f"{name} downloaded, but {target} is not a complete pyannote pipeline directory")
    build.record(Step("diarization", name, "fetched", target))
    return {name: {"path": _relative(target, build.root), "source": name}}


def _install_vad(build: _Build) -> dict[str, Any]:
    target = layout.vad_file(build.root)
    if build.force or not target.is_file():
        from builder.open_diarization import resave_segmentation

        resave_segmentation(target)
        build.record(Step("vad", "pyannote/segmentation", "written", target, "whisperx bundled, re-saved"))
    else:
        build.record(Step("vad", "pyannote/segmentation", "present", target))
    return {"path": _relative(target, build.root), "source": "whisperx bundled pyannote/segmentation"}


def _install_punkt(build: _Build) -> str:
    nltk_root = layout.nltk_dir(build.root)
    if build.force or not (nltk_root / "tokenizers" / "punkt_tab" / "english").is_dir():
        build.fetcher.punkt_tab(nltk_root)
        build.record(Step("nltk", "punkt_tab", "fetched", nltk_root))
    else:
        build.record(Step("nltk", "punkt_tab", "present", nltk_root))
    return _relative(nltk_root, build.root)


# ---- token, completeness, summary -------------------------------------------------------------------------
def read_token(env: Mapping[str, str], token_file: Path | None = None) -> str | None:
    """`HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) in `env`, else the BuildKit secret file (`HF_TOKEN_FILE` in `env`,
    else /run/secrets/hf_token); the value is never logged."""
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = (env.get(variable) or "").strip()
        if value:
            return value
    path = token_file or Path(env.get("HF_TOKEN_FILE") or TOKEN_FILE)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def pipeline_complete(directory: Path) -> bool:
    """`config.yaml` present and every `$model/<sub>` it references downloaded (a partial snapshot is not)."""
    if not layout.is_pipeline_dir(directory):
        return False
    config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    return all(_non_empty_dir(directory / sub) for sub in _model_references(config))


def _model_references(config: Any) -> list[str]:
    if isinstance(config, dict):
        return [ref for value in config.values() for ref in _model_references(value)]
    if isinstance(config, list):
        return [ref for value in config for ref in _model_references(value)]
    if isinstance(config, str) and config.startswith("$model/"):
        return [config.split("/", 1)[1].split("@")[0]]
    return []


def _non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _hf_model_complete(directory: Path) -> bool:
    return (directory / "config.json").is_file() and any((directory / name).is_file() for name in ALIGN_WEIGHTS)


def _has_files(directory: Path, names: Sequence[str]) -> bool:
    return all((directory / name).is_file() for name in names)


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def print_summary(build: _Build) -> None:
    """The builder's report (stdout, read in `docker build` logs): what was fetched, present or skipped."""
    installed = sum(1 for step in build.steps if step.status in ("fetched", "written"))
    total = _size(build.root) if build.root.exists() else 0
    lines = [f"default profile in {build.root}: {installed} installed now, total {_human(total)}"]
    lines += [step.line() for step in build.steps]
    print("\n".join(lines), flush=True)
