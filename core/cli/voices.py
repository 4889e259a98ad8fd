"""`python -m core voices ...`: the voice library from the command line.

    python -m core voices add NAME FILE [FILE ...]   # enrol a person from clips of them alone
    python -m core voices list                       # each voice ready, or to re-enrol (another speaker model)
    python -m core voices rename OLD NEW
    python -m core voices remove NAME                # forgotten for good
    python -m core voices export FILE.json / import FILE.json

The library is `DATA_DIR/voices.sqlite3` (docs/voice-library.md). `list` and `import` load the diarization
pipeline to tell which voices its speaker model can recognise. Exit 0 on success; 1 when a file or name is
refused (`FILE: reason` or `error: reason` on stderr, nothing stored); 2 for bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import WorkerError
from core.logs import configure_logging
from core.settings import Settings

logger = logging.getLogger("core.cli.voices")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core voices",
                                     description="The voice library: people recognised by name across recordings "
                                                 "(stored in DATA_DIR).")
    parser.add_argument("--verbose", "-v", action="store_true", help="log model loads and timings")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser("add", help="enrol a person from one or more clips of them speaking alone")
    add.add_argument("name", metavar="NAME")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.add_argument("--diarization-model", help="the diarization pipeline whose embedding model makes the "
                                                 "voiceprint (default: DIARIZATION_MODEL / the manifest's)")
    listed = commands.add_parser("list", help="list the voices, each ready or to re-enrol")
    listed.add_argument("--diarization-model", help="the pipeline whose speaker model the voices are checked "
                                                    "against (default: DIARIZATION_MODEL / the manifest's)")
    rename = commands.add_parser("rename", help="rename a voice")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    remove = commands.add_parser("remove", help="forget a voice for good")
    remove.add_argument("name", metavar="NAME")
    export = commands.add_parser("export", help="write the library (names and voiceprints) to a JSON file")
    export.add_argument("file", type=Path, metavar="FILE")
    imported = commands.add_parser("import", help="add the voices of an exported JSON file")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--diarization-model", help="the pipeline whose speaker model the imported voices are "
                                                      "checked against")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING, "%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except WorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from core.service import Service

    service = Service(settings)
    try:
        return COMMANDS[args.command](service, args)
    except WorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _add(service, args: argparse.Namespace) -> int:
    from core.media.decode import decode_audio

    clips = []
    for path in args.files:
        try:
            decoded = decode_audio(path, max_bytes=service.settings.max_upload_bytes,
                                   max_seconds=service.settings.max_audio_seconds, label=str(path))
        except WorkerError as error:
            print(f"{path}: {str(error).removeprefix(f'{path}: ')}", file=sys.stderr)
            return 1
        clips.append((decoded.samples, f"cli: {path.name}", str(path)))
    voice = service.remember_voice(args.name, clips, diarization_model=args.diarization_model)
    print(f"{voice.name}: {len(clips)} voiceprint(s) added ({voice.voiceprints} in all, {voice.seconds:g} s of "
          f"speech); the library holds {len(service.voices.voices())} voice(s)")
    return 0


def _list(service, args: argparse.Namespace) -> int:
    listing = service.voice_listing(args.diarization_model)
    if not listing.voices:
        print(f"the voice library ({service.voices.path}) is empty")
        return 0
    print(f"{len(listing.voices)} voice(s) in {service.voices.path}; this server's speaker model: "
          f"{listing.model or 'none installed'}")
    for voice, state in listing.voices:
        print(f"{voice.name}\t{state}\t{voice.voiceprints} voiceprint(s)\t{voice.seconds:g} s\t"
              f"since {voice.created}\tfrom {', '.join(voice.sources)}")
    if listing.note:
        print(listing.note)
    return 0


def _rename(service, args: argparse.Namespace) -> int:
    voice = service.voices.rename(args.old, args.new)
    print(f"{args.old} is now {voice.name}")
    return 0


def _remove(service, args: argparse.Namespace) -> int:
    service.voices.remove(args.name)
    print(f"{args.name} forgotten; {len(service.voices.voices())} voice(s) left")
    return 0


def _export(service, args: argparse.Namespace) -> int:
    data = service.voices.export()
    try:
        args.file.write_text(json.dumps(data), encoding="utf-8")
        args.file.chmod(0o600)  # voiceprints are personal data
    except OSError as error:
        print(f"{args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"{len(data['voices'])} voice(s) written to {args.file}")
    return 0


def _import(service, args: argparse.Namespace) -> int:
    from core.speakers.voices import reenrol_note

    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"{args.file}: not a readable JSON file ({type(error).__name__})", file=sys.stderr)
        return 1
    names = service.voices.import_data(data)
    print(f"{len(names)} voice(s) imported: {', '.join(names) or 'none'}")
    imported = {name.casefold() for name in names}
    reenrol = [name for name in service.voice_listing(args.diarization_model).reenrol if name.casefold() in imported]
    if reenrol:
        print(reenrol_note(reenrol))
    return 0


COMMANDS = {"add": _add, "list": _list, "rename": _rename, "remove": _remove, "export": _export, "import": _import}
