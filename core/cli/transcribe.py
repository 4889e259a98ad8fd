"""`python -m core FILE [FILE ...]`: batch transcription with models loaded once for all files.

Every `TranscribeOptions` field is a flag (`--beam-size 5`, `--diarization/--no-diarization`, its aliases too:
`--diarize`, `--word-timestamps`), generated from the fields so the CLI never restates a default or a limit.
`--stream` prints each segment on stdout as soon as its text is final (`[00:00:01.000 --> 00:00:04.500] text`, as
whisper's own CLI prints them; before speaker labels, so without them), while the job runs; with several files a
`==> FILE <==` line comes first. Exit 0 when every file succeeded; otherwise one `FILE: reason` line per failure
on stderr (no traceback), after the other files were still processed, and exit 1.
Bad arguments exit 2 before any file is read. Ctrl+C stops the running file at its next step and writes what it
had finished (its outputs, the JSON marked `"partial": true`), starts no other file and exits 130; a second
Ctrl+C quits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core.errors import Cancelled, WorkerError
from core.logs import configure_logging
from core.options import TranscribeOptions, field_type, option_fields
from core.settings import COMPUTE_TYPES, DEVICES, Settings
from core.transcript.formats import Layout, numbered_stems, render
from core.transcript.result import Result, Segment

logger = logging.getLogger("core.cli.transcribe")

# Options that make no sense on a command line: the HF token comes from HF_TOKEN, `transcription` is the RunPod
# alias of an output format (use --output-formats), `translate`/`translation` add a translation field to a JSON
# response (here --task translate writes the English text itself), `debug` adds the response's stage timings.
CLI_HIDDEN = frozenset({"huggingface_access_token", "transcription", "translate", "translation", "debug"})
# Short spellings kept from the first CLI.
EXTRA_FLAGS = {"output_formats": ("--formats",)}
NEGATIVE_FLAGS = {"align_output": ("--no-align",)}
STOPPED_EXIT = 130  # stopped by Ctrl+C (128 + SIGINT, as shells report it), the finished part written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Transcribe files with WhisperX.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--output-dir", type=Path, default=Path("."), help="where <stem>.<format> files go")
    parser.add_argument("--device", choices=DEVICES, help="overrides DEVICE")
    parser.add_argument("--compute-type", choices=COMPUTE_TYPES, help="overrides COMPUTE_TYPE")
    parser.add_argument("--verbose", "-v", action="store_true", help="log model loads and stage timings")
    parser.add_argument("--stream", action="store_true",
                        help="print each segment on stdout as soon as its text is final, while the job runs")
    options = parser.add_argument_group("transcription options (the same fields as the RunPod input)")
    for field in option_fields():
        if field.name not in CLI_HIDDEN:
            _add_option(options, field)
    return parser


def _add_option(group: argparse._ArgumentGroup, field: dataclasses.Field) -> None:
    meta = field.metadata
    names = [field.name, *meta.get("aliases", ())]
    flags = [f"--{name.replace('_', '-')}" for name in names] + list(EXTRA_FLAGS.get(field.name, ()))
    kind = field_type(field.name)
    help_text = meta.get("help", "")
    if kind is bool:
        group.add_argument(*flags, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{help_text} (default: {'on' if field.default else 'off'})")
        for negative in NEGATIVE_FLAGS.get(field.name, ()):
            group.add_argument(negative, dest=field.name, action="store_false", help=argparse.SUPPRESS)
        return
    choices = meta.get("choices")
    if kind is tuple:
        help_text += f"; comma-separated: {','.join(choices)}"
    elif choices:
        help_text += f"; one of: {', '.join(choices)}"
    if field.default is not None and kind is not tuple:
        help_text += f" (default: {field.default})"
    group.add_argument(*flags, dest=field.name, default=None, metavar=field.name.upper(), help=help_text)


def options_from_args(args: argparse.Namespace) -> TranscribeOptions:
    """Only the flags given; `from_mapping` converts and validates them exactly as a RunPod input."""
    given: dict[str, Any] = {}
    for field in option_fields():
        value = getattr(args, field.name, None)
        if value is None:
            continue
        kind = field_type(field.name)
        given[field.name] = _parse_number(field.name, value, kind) if kind in (int, float) else value
    return TranscribeOptions.from_mapping(given)


def _parse_number(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        flag = f"--{name.replace('_', '-')}"
        raise WorkerError(f"{flag}={raw!r} is not {'an integer' if kind is int else 'a number'}") from None


def print_segments(segments: Sequence[Segment]) -> None:
    """One line per finished segment, in whisper's CLI style, flushed so a pipe sees it at once."""
    from whisperx.utils import format_timestamp

    for segment in segments:
        print(f"[{format_timestamp(segment.start, always_include_hours=True)} --> "
              f"{format_timestamp(segment.end, always_include_hours=True)}] {segment.text}", flush=True)


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {"device": args.device, "compute_type": args.compute_type}
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING, "%(levelname)s %(name)s: %(message)s")
    try:
        options = options_from_args(args)
        from core.service import Service

        service = Service(settings_from_args(args))
        # fail once, before any file: a missing model, a language it cannot do, an uninstalled diarization model
        options = dataclasses.replace(options, model=service.check_model(options.model))
        service.check_options(options)
    except WorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: --output-dir {args.output_dir}: {error.strerror or error}", file=sys.stderr)
        return 2
    failures = 0
    stop = threading.Event()
    stems = dict(zip(args.files, numbered_stems(path.stem for path in args.files), strict=True))
    with stopped_by_interrupt(stop):
        for path in args.files:
            if stop.is_set():
                print(f"{path}: not started (stopped)", file=sys.stderr)
                continue
            try:
                if args.stream and len(args.files) > 1:
                    print(f"==> {path} <==", flush=True)
                result = service.engine.transcribe(path, options, cancel=stop,
                                                   on_segments=print_segments if args.stream else None)
                write_outputs(result, options, path, args.output_dir, stems[path])
            except Cancelled as stopped:
                if stopped.partial is None:
                    print(f"{path}: stopped before any of it was transcribed", file=sys.stderr)
                    continue
                written = write_outputs(stopped.partial, options, path, args.output_dir, stems[path])
                reached = max(segment.end for segment in stopped.partial.segments)
                print(f"{path}: stopped at {reached:.1f} s of {stopped.partial.duration:.1f} s; the finished part "
                      f"is in {', '.join(file.name for file in written)} (marked partial)", file=sys.stderr)
            except WorkerError as error:
                failures += 1
                print(f"{path}: {str(error).removeprefix(path.name + ': ')}", file=sys.stderr)
            except Exception as error:
                failures += 1
                logger.debug("unexpected failure on %s", path, exc_info=True)
                print(f"{path}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    if stop.is_set():
        return STOPPED_EXIT
    return 1 if failures else 0


def write_outputs(result: Result, options: TranscribeOptions, path: Path, output_dir: Path,
                  stem: str | None = None) -> list[Path]:
    """`<stem>.<format>` for every asked format (a partial result's too: its JSON says `"partial": true`); `stem`
    defaults to the input's (`talk-2` for a second input called `talk`)."""
    stem = stem or path.stem
    layout = Layout.of(options, uri=stem)
    written = []
    for fmt in options.output_formats:
        target = output_dir / f"{stem}.{fmt}"
        target.write_text(render(result, fmt, layout), encoding="utf-8")
        written.append(target)
    for warning in result.warnings:
        logger.warning("%s: %s", path, warning)
    return written


@contextlib.contextmanager
def stopped_by_interrupt(stop: threading.Event) -> Iterator[None]:
    """While the files run, the first Ctrl+C (SIGINT) sets `stop`: the running file ends at its next step and
    keeps what it finished, the others are not started. A second Ctrl+C quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: Any) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()
        print("stopping at the next step; what is finished is kept (Ctrl+C again quits at once)", file=sys.stderr,
              flush=True)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
