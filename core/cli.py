"""`python -m core FILE [FILE ...]`: batch transcription with models loaded once for all files.

Exit 0 when every file succeeded; otherwise one `FILE: reason` line per failure on stderr (no traceback),
after the other files were still processed, and exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from core.config import Settings
from core.errors import WorkerError
from core.formats import render
from core.options import OUTPUT_FORMATS, TASKS, TranscribeOptions, coerce

logger = logging.getLogger("core.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Transcribe files with WhisperX.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--model", help="ASR model name or CTranslate2 directory (default: WHISPER_MODEL)")
    parser.add_argument("--language", help="ISO language code (default: detect)")
    parser.add_argument("--task", choices=TASKS, default="transcribe")
    parser.add_argument("--no-align", action="store_true", help="skip word alignment")
    parser.add_argument("--diarize", action="store_true", help="label speakers")
    parser.add_argument("--num-speakers", type=int)
    parser.add_argument("--min-speakers", type=int)
    parser.add_argument("--max-speakers", type=int)
    parser.add_argument("--formats", default="json", help=f"comma-separated: {','.join(OUTPUT_FORMATS)}")
    parser.add_argument("--output-dir", type=Path, default=Path("."))
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--compute-type")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--verbose", "-v", action="store_true", help="log model loads and stage timings")
    return parser


def options_from_args(args: argparse.Namespace) -> TranscribeOptions:
    return TranscribeOptions(
        model=args.model,
        language=args.language,
        task=args.task,
        align_output=not args.no_align,
        diarization=args.diarize,
        num_speakers=args.num_speakers,
        min_speakers=args.min_speakers,
        max_speakers=args.max_speakers,
        output_formats=coerce("output_formats", args.formats, field="--formats"),
        batch_size=args.batch_size,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_env()
        overrides = {"device": args.device, "compute_type": args.compute_type, "batch_size": args.batch_size}
        settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        options = options_from_args(args)
        from core.pipeline import Engine

        engine = Engine(settings)
        engine.registry.asr(options.model)  # fail once, before any file, if the model is missing
    except WorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.files:
        try:
            result = engine.transcribe(path, options, name=path.name)
            for fmt in options.output_formats:
                text = result.outputs.get(fmt) if fmt != "json" else render(result, "json")
                (args.output_dir / f"{path.stem}.{fmt}").write_text(text or "", encoding="utf-8")
            for warning in result.warnings:
                logger.warning("%s: %s", path, warning)
        except WorkerError as error:
            failures += 1
            print(f"{path}: {str(error).removeprefix(path.name + ': ')}", file=sys.stderr)
        except Exception as error:
            failures += 1
            logger.debug("unexpected failure on %s", path, exc_info=True)
            print(f"{path}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    return 1 if failures else 0
