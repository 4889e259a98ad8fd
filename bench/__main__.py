"""`python -m bench`: the performance figures of docs/performance.md, printed as Markdown tables.

    python -m bench                                  # everything, on pyannote's ~30 s two-speaker sample
    python -m bench --parts api --meeting-minutes 11 # whisperX's own Python API vs our engine and /runsync
    python -m bench --parts hour                     # 60- and 240-minute 3-speaker meetings through both services
    python -m bench --parts soak                     # 5 x 11-minute + 30 short mixed jobs through each service
    python -m bench --parts engine --word-timestamps # what word timestamps cost, reported apart
    python -m bench --parts voices                   # the voice library: identification and false accepts
    python -m bench --parts quality                  # real recordings: ours vs whisperX vs faster-whisper
    python -m bench --parts live,live-long           # live sessions through the openai SDK's Realtime client

Parts: engine (warm, per stage; sequential vs concurrent diarization; one shared segmentation pass vs two),
whisperx (the CLI, a fresh process per file), api (whisperX's Python API with models loaded once, warm: the peer to
beat), runpod and gradio (warm request end to end, service overhead, cold start), long (a tiled recording, realtime
factor), hour (a one-hour and a four-hour synthetic meeting through each service: realtime factor, time per audio
hour and the 4 h / 1 h ratio, the worker's peak RSS and RSS after the job, WER/DER), soak (long and short good/bad
jobs through each service: memory flat, no job files left, results right), voices (the voice library's
identification rate and false accepts by threshold, on synthetic voices and pyannote's real sample;
bench/voices.py), quality (bench/quality/: WER, DER of the diarization and of the transcript's labelled words,
speaker counts, turns missing, speech coverage and loops on real recordings, dev and held-out apart, for our
engine, whisperX's own API and plain faster-whisper, same weights; on the joined conversations of real voices
also speaker-verification EER and the voice library; see bench/quality_report.py, bench/quality_speakers.py and
bench/conversations.py), windows (windowed vs one-pass
diarization: peak memory, time, DER; bench/windows.py), realign (re-timing one corrected 20 s turn at the end of a
--long-minutes recording: only its span is decoded; bench/realign.py), first-text (seconds until a --hour-minutes
meeting's first finished segments stream, then the job is stopped; bench/first_text.py), live (real recordings
streamed at real-time pace through the openai SDK's Realtime client: latency of final and first text, live vs offline
WER and DER, enrolled voices named, CPU per audio second, two sessions at once; bench/live.py), live-long (one
--live-minutes session of real speech: latency at its end vs its start, memory).
Synthetic meetings are festival speech built once into --scratch (never committed). Wall times come with CPU
seconds, which a busy shared machine disturbs less. On CUDA the engine part also prints peak GPU memory; run
it with `WHISPER_MODEL=large-v3-turbo COMPUTE_TYPE=float16` and a default-profile MODELS_DIR.
Targets are printed next to the figures; nothing here asserts (timings are not tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from bench import long_audio, services, soak
from bench.engine_bench import STAGES, run_engine
from bench.first_text import first_text_part
from bench.measure import median, process_cpu_s, table, tile_audio, word_error_rate
from bench.meeting import make_meeting
from bench.realign import realign_part
from bench.whisperx_cli import run_whisperx_cli
from bench.windows import windows_part
from core import Settings, TranscribeOptions

PARTS = ("engine", "whisperx", "api", "runpod", "gradio", "long", "hour", "soak", "voices", "quality", "windows",
         "realign", "first-text", "live", "live-long")
DEFAULT_PARTS = ("engine", "whisperx", "api", "runpod", "gradio", "long", "soak")  # the others: ask for them
TARGETS = {"runpod_vs_cli": 0.35, "runpod_vs_api": 0.60, "engine_vs_api": 1.0, "overhead": 1.10,
           "long_realtime_x": 8.0, "cold_start_s": 20.0, "hour_peak_rss_mb": 3072, "rss_after_job_mb": 300,
           "long_vs_hour_time": 4.4, "realign_s": 2.0, "first_text_s": 15.0}
URL_OVER_BYTES = 10 * 2**20  # larger clips reach the RunPod worker as a URL, as RunPod's payload cap requires


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="clip to measure (default: pyannote's sample.wav)")
    parser.add_argument("--meeting-minutes", type=float, help="measure a synthetic meeting of this length instead")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "models")))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "bench-audio",
                        help="where synthetic meetings are built and kept between runs")
    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per measure (median)")
    parser.add_argument("--no-diarize", action="store_true", help="measure without diarization")
    parser.add_argument("--word-timestamps", action="store_true",
                        help="engine part: also run with align_output on and report its cost apart")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--hour-minutes", type=float, default=60.0)
    parser.add_argument("--hour-long-minutes", type=float, default=240.0,
                        help="hour part: then a meeting this long in the same warm service (0: skip)")
    parser.add_argument("--windows-minutes", default="20,40",
                        help="windows part: comma-separated meeting lengths (speakers leave and come back)")
    parser.add_argument("--window-minutes", type=float, default=5.0, help="windows part: diarization window")
    parser.add_argument("--one-pass-up-to", type=float, default=40.0,
                        help="windows part: also run one pass (quadratic memory) up to this length")
    parser.add_argument("--soak-long", type=int, default=5, help="long recordings per service in the soak")
    parser.add_argument("--soak-long-minutes", type=float, default=11.0)
    parser.add_argument("--soak-jobs", type=int, default=30, help="short mixed jobs per service in the soak")
    parser.add_argument("--services", default="runpod,gradio", help="services for the hour and soak parts")
    parser.add_argument("--voices-recordings", type=int, default=8,
                        help="voices part: three-person recordings to recognise speakers in")
    parser.add_argument("--quality-splits", default="dev,heldout",
                        help="quality part: which splits of bench/quality/manifest.json (dev, heldout)")
    parser.add_argument("--quality-clips", default="", help="quality part: only these clip ids (comma-separated)")
    parser.add_argument("--quality-json", type=Path, help="quality part: also write its figures here (JSON)")
    parser.add_argument("--live-speed", type=float, default=1.0,
                        help="live part: stream at this many times real time (latency figures need 1)")
    parser.add_argument("--live-model", help="live part: the server's WHISPER_MODEL (default: the models' default)")
    parser.add_argument("--live-clips", help="live part: only these clips (comma-separated ids; the AMI clips the "
                        "voice rows enrol from and test on are always kept)")
    parser.add_argument("--live-minutes", type=float, default=30.0,
                        help="live-long part: one session this long (its latency at the end vs the start)")
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    args.services = [mode.strip() for mode in args.services.split(",") if mode.strip()]
    if set(args.services) - {"runpod", "gradio"}:
        parser.error("--services: choose from runpod, gradio")
    args.quality_splits = tuple(split.strip() for split in args.quality_splits.split(",") if split.strip())
    if not args.quality_splits or set(args.quality_splits) - {"dev", "heldout"}:
        parser.error("--quality-splits: choose from dev, heldout")
    args.quality_clips = tuple(clip.strip() for clip in args.quality_clips.split(",") if clip.strip())
    return args


def default_clip() -> Path:
    return Path(str(resources.files("pyannote.audio") / "sample" / "sample.wav"))


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}"


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def versus(value: float, target: float, *, at_most: bool) -> str:
    ok = value <= target if at_most else value >= target
    return f"{value:.2f} ({'≤' if at_most else '≥'} {target:g}: {'met' if ok else 'NOT met'})"


def engine_rows(figures: dict[str, Any], label: str) -> list[tuple[str, str]]:
    rows = [(f"{label}: {stage}", fmt(figures["stages"][stage])) for stage in STAGES]
    rows += [(f"{label}: wall (median)", fmt(figures["wall_s"])),
             (f"{label}: CPU time, all threads (median)", fmt(figures["cpu_s"])),
             (f"{label}: realtime factor", f"{figures['realtime_x']:.1f}× ({figures['duration_s']:.1f} s audio)"),
             (f"{label}: peak RSS", f"{figures['peak_rss_mb']:.0f} MB")]
    if figures.get("peak_gpu_mb") is not None:
        rows.append((f"{label}: peak GPU memory", f"{figures['peak_gpu_mb']:.0f} MB"))
    return rows


def same_output(a: Any, b: Any) -> bool:
    """Results identical where it matters: text and speakers of every segment."""
    return [(s.text, s.speaker) for s in a.segments] == [(s.text, s.speaker) for s in b.segments]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models_dir = args.models_dir.resolve()
    os.environ["MODELS_DIR"] = str(models_dir)
    if args.meeting_minutes:
        audio = make_meeting(args.scratch, args.meeting_minutes).path
    else:
        audio = (args.audio or default_clip()).resolve()
    diarize = not args.no_diarize
    # No alignment: the open profile has no wav2vec2 model and the whisperx CLI would try to download one.
    options = TranscribeOptions(align_output=False, diarization=diarize, language="en")
    settings = Settings.from_env()
    print(f"# whisperx-worker benchmark\n\nmachine: {machine()}\nclip: {audio.name}; models: {models_dir}; "
          f"diarization {'on' if diarize else 'off'}; alignment off; {args.repeats} warm runs (median)")
    figures: dict[str, Any] = {}
    with services.serving_files(audio.parent) as base:
        url = f"{base}/{audio.name}" if audio.stat().st_size > URL_OVER_BYTES else None
        if "engine" in args.parts:
            engine_part(args, settings, audio, options, figures)
        if "whisperx" in args.parts:
            whisperx_part(settings, audio, diarize, figures)
        for mode in ("runpod", "gradio"):
            if mode in args.parts:
                service_part(mode, args, audio, diarize, figures, url)
        if "api" in args.parts:
            api_part(args, settings, audio, options, figures, url)
    if "long" in args.parts:
        long_part(args, settings, audio, options, figures)
    if "hour" in args.parts:
        hour_part(args, figures)
    if "windows" in args.parts:
        figures["windows"] = windows_part(settings, args.scratch, [float(m) for m in args.windows_minutes.split(",")],
                                          args.window_minutes, args.one_pass_up_to)
    if "realign" in args.parts:
        figures["realign"] = realign_part(settings, audio, args.scratch, args.long_minutes, args.repeats)
    if "first-text" in args.parts:
        figures["first_text"] = first_text_part(settings, make_meeting(args.scratch, args.hour_minutes), args.repeats)
    if "soak" in args.parts:
        soak_part(args, figures)
    if "voices" in args.parts:
        from bench.voices import voices_part

        figures.update(voices_part(settings, args.scratch, meetings=args.voices_recordings))
    if "quality" in args.parts:
        quality_part(args, settings, figures)
    if "live" in args.parts:
        from bench.live import live_part

        figures["live"] = live_part(args)
    if "live-long" in args.parts:
        from bench.live import live_long_part

        figures["live_long"] = live_long_part(args)
    summary(figures)
    return 0


def engine_part(args: argparse.Namespace, settings: Settings, audio: Path, options: TranscribeOptions,
                figures: dict[str, Any]) -> None:
    sequential = run_engine(settings, audio, options, args.repeats, parallel_diarization=False)
    figures["engine"] = sequential
    rows = engine_rows(sequential, "sequential")
    rows.append(("model load (ASR + diarization)", fmt(sequential["model_load_s"])))
    if options.diarization:
        concurrent = run_engine(settings, audio, options, args.repeats, parallel_diarization=True)
        rows += engine_rows(concurrent, "concurrent diarization")
        rows.append(("concurrent == sequential (text, speakers)",
                     str(same_output(sequential["result"], concurrent["result"]))))
        figures["engine_concurrent"] = concurrent
        unshared = run_engine(settings, audio, options, args.repeats, share_segmentation=False)
        rows += engine_rows(unshared, "concurrent, VAD and diarization segmenting apart")
        rows.append(("one shared segmentation pass saves (wall; CPU)",
                     f"{unshared['wall_s'] - concurrent['wall_s']:+.2f} s; "
                     f"{unshared['cpu_s'] - concurrent['cpu_s']:+.2f} s"))
        rows.append(("shared == apart (text, speakers)", str(same_output(unshared["result"], concurrent["result"]))))
    if args.word_timestamps:
        base = figures.get("engine_concurrent", sequential)
        timed = run_engine(settings, audio, dataclasses.replace(options, align_output=True), args.repeats)
        rows += engine_rows(timed, "with word timestamps")
        rows.append(("word timestamps cost (wall; CPU)", f"{timed['wall_s'] - base['wall_s']:+.2f} s; "
                     f"{timed['cpu_s'] - base['cpu_s']:+.2f} s"))
        rows.append(("word timestamps: method; notes", f"{timed['result'].word_timing}; "
                     + ("; ".join(timed["result"].warnings) or "none")))
        coverage, error = word_timing_accuracy(settings)
        figures["word_timing"] = {"coverage": coverage, "mean_start_error_s": error}
        rows.append(("word timing vs festival's boundaries (words timed; mean |start error|)",
                     f"{coverage:.0%}; {error:.3f} s"))
    print(table("Engine, warm", rows))


def word_timing_accuracy(settings: Settings) -> tuple[float, float]:
    """A two-voice dialogue synthesised with festival's own word boundaries (tests/speech.py): the share of its
    words the engine timed, and their mean |start error| in seconds."""
    from core.engine import Engine
    from tests import speech

    with tempfile.TemporaryDirectory() as folder:
        recording = speech.make_conversation(Path(folder) / "timed.wav", speech.DIALOGUE,
                                             [0.5] * len(speech.DIALOGUE))
        result = Engine(settings).transcribe(recording.path, TranscribeOptions(align_output=True, language="en"))
    words = [(word.word, word.start) for segment in result.segments for word in segment.words]
    coverage, errors = speech.word_timing_errors(recording.words, words)
    return coverage, (sum(errors) / len(errors) if errors else float("nan"))


def whisperx_part(settings: Settings, audio: Path, diarize: bool, figures: dict[str, Any]) -> None:
    from core.models.registry import ModelRegistry

    registry = ModelRegistry(settings)
    walls = [run_whisperx_cli(registry, audio, diarize=diarize, align=False) for _ in range(2)]
    figures["whisperx_cli_s"] = median(walls)
    rows = [("whisperx CLI wall (median of 2, fresh process per file)", fmt(figures["whisperx_cli_s"]))]
    for key, label in (("engine", "sequential"), ("engine_concurrent", "concurrent diarization")):
        if key in figures:
            ratio = figures[key]["wall_s"] / figures["whisperx_cli_s"]
            rows.append((f"engine warm wall ({label}) / whisperx CLI", f"{ratio:.3f}"))
    print(table("whisperx CLI, same models and options", rows))


def api_part(args: argparse.Namespace, settings: Settings, audio: Path, options: TranscribeOptions,
             figures: dict[str, Any], url: str | None) -> None:
    """whisperX's Python API, warm, in its own process; then our engine and /runsync on the same file."""
    command = [sys.executable, "-m", "bench.whisperx_api", str(audio), "--models-dir", str(args.models_dir.resolve()),
               "--repeats", str(args.repeats)]
    if not options.diarization:
        command.append("--no-diarize")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=services.ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"whisperX API run failed:\n{completed.stderr[-3000:]}")
    api = json.loads(completed.stdout.strip().splitlines()[-1])
    api["wall_s"], api["cpu_s"] = median(api["walls"]), median(api["cpu_s"])
    figures["api"] = api
    if "engine_concurrent" not in figures and "engine" not in figures:
        figures["engine_concurrent"] = run_engine(settings, audio, options, args.repeats)
    engine = figures.get("engine_concurrent") or figures["engine"]
    if "runpod" not in figures:
        service_part("runpod", args, audio, options.diarization, figures, url, quiet=True)
    runpod = figures["runpod"]
    agreement = word_error_rate(api["text"], engine["result"].text)
    rows = [("whisperX API: model load (once)", fmt(api["load_s"])),
            (f"whisperX API: warm job wall; CPU (batch {api['batch_size']}, {api['threads']} threads)",
             f"{fmt(api['wall_s'])}; {fmt(api['cpu_s'])}"),
            ("whisperX API: realtime factor", f"{engine['duration_s'] / api['wall_s']:.1f}×"),
            ("whisperX API: peak RSS", f"{api['peak_rss_mb']:.0f} MB"),
            ("our engine, warm: wall; CPU", f"{fmt(engine['wall_s'])}; {fmt(engine['cpu_s'])}"),
            ("our RunPod /runsync, warm: wall; worker CPU", f"{fmt(runpod['wall_s'])}; {fmt(runpod['cpu_s'])}"),
            ("engine / whisperX API (wall; CPU)", f"{engine['wall_s'] / api['wall_s']:.3f}; "
             f"{engine['cpu_s'] / api['cpu_s']:.3f}"),
            ("/runsync / whisperX API (wall; CPU)", f"{runpod['wall_s'] / api['wall_s']:.3f}; "
             f"{runpod['cpu_s'] / api['cpu_s']:.3f}"),
            ("speakers: whisperX API; ours", f"{len(api['speakers'])}; {len(engine['result'].speakers or ())}"),
            ("transcripts differ by (WER, ours vs whisperX's)", f"{agreement:.3f}")]
    print(table(f"whisperX's Python API (models loaded once, warm) vs ours, same file ({audio.name})", rows))


def service_part(mode: str, args: argparse.Namespace, audio: Path, diarize: bool, figures: dict[str, Any],
                 url: str | None = None, *, quiet: bool = False) -> None:
    job = {"align_output": False, "diarization": diarize, "language": "en"}
    env = {"ALLOW_PRIVATE_URLS": "1"} if url else None
    with services.running(mode, args.models_dir.resolve(), env) as service:
        client = services.gradio_client(service) if mode == "gradio" else None

        def request() -> tuple[float, float, dict[str, Any]]:
            cpu = process_cpu_s(service.process.pid)
            if mode == "runpod":
                wall, output = services.timed_runpod(
                    service, {"audio": url, **job} if url else services.audio_input(audio, **job))
            else:
                wall, output = services.timed_gradio(client, audio, job)
            return wall, process_cpu_s(service.process.pid) - cpu, output

        request()  # warm-up: the first job pays one-off lazy initialisation
        measured = [request() for _ in range(args.repeats)]
    walls = [wall for wall, _, _ in measured]
    overheads = [wall / output["timings"]["total"] for wall, _, output in measured]
    figures[mode] = {"wall_s": median(walls), "overhead": median(overheads), "cold_start_s": service.cold_start_s,
                     "cpu_s": median([cpu for _, cpu, _ in measured]),
                     "engine_total_s": median([output["timings"]["total"] for _, _, output in measured])}
    if quiet:
        return
    rows = [("cold start: spawn → serving with models loaded", fmt(service.cold_start_s)),
            ("warm request, end to end (median)", fmt(figures[mode]["wall_s"])),
            ("worker CPU time per request (median)", fmt(figures[mode]["cpu_s"])),
            ("engine stages inside it (timings.total)", fmt(figures[mode]["engine_total_s"])),
            ("service overhead (end to end / engine)", f"{figures[mode]['overhead']:.3f}")]
    print(table(f"{'RunPod local API /runsync' if mode == 'runpod' else 'Gradio API /transcribe'}", rows))


def long_part(args: argparse.Namespace, settings: Settings, audio: Path, options: TranscribeOptions,
              figures: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        long_audio_path = tile_audio(audio, Path(scratch) / "long.wav", args.long_minutes)
        result = run_engine(settings, long_audio_path, options, 1, warm_up=False)
    figures["long"] = result
    print(table(f"{args.long_minutes:g}-minute recording, full pipeline", engine_rows(result, "long")))


def service_env(home: Path) -> dict[str, str]:
    """A private temp dir per service (`home/tmp`: its leftovers are counted there, apart from other processes';
    Gradio's upload cache in `home/gradio`), URL fetching from this machine, room for the long recordings."""
    for name in ("tmp", "gradio"):
        (home / name).mkdir(exist_ok=True)
    return {"TMPDIR": str(home / "tmp"), "GRADIO_TEMP_DIR": str(home / "gradio"), "ALLOW_PRIVATE_URLS": "1",
            "MAX_AUDIO_MINUTES": "600"}


def warm_up(service: services.Service, client: Any) -> None:
    output = services.request_once(service, client, default_clip(), soak.GOOD)
    if "error" in output:
        raise RuntimeError(f"warm-up job failed: {output['error']}")


def hour_part(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Each service, warm: the one-hour meeting, then (same process) the four-hour one. Tables print as each job
    ends, so a long run that is stopped still leaves its figures."""
    lengths = [args.hour_minutes] + ([args.hour_long_minutes] if args.hour_long_minutes else [])
    recordings = {minutes: make_meeting(args.scratch, minutes) for minutes in lengths}
    with services.serving_files(args.scratch) as base:
        for mode in args.services:
            with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as home, \
                    services.running(mode, args.models_dir.resolve(), service_env(Path(home))) as service:
                client = services.gradio_client(service) if mode == "gradio" else None
                warm_up(service, client)
                for minutes, recording in recordings.items():
                    url = long_audio.relative_url(base, recording.path, args.scratch) if mode == "runpod" else None
                    result = long_audio.long_job(service, client, recording, soak.GOOD, url)
                    key = f"hour_{mode}" if minutes == args.hour_minutes else f"hour_long_{mode}"
                    figures[key] = result
                    print(table(f"{minutes:g}-minute 3-speaker meeting, full pipeline (diarization on), warm "
                                f"service: {'RunPod worker' if mode == 'runpod' else 'Gradio app'}",
                                long_audio.describe(result)), flush=True)
            if f"hour_long_{mode}" in figures:
                print(table(f"Long against one hour: {mode}", long_audio.compare(
                    figures[f"hour_{mode}"], figures[f"hour_long_{mode}"], TARGETS["long_vs_hour_time"])),
                    flush=True)


def soak_part(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    recording = make_meeting(args.scratch, args.soak_long_minutes) if args.soak_long else None
    with services.serving_files(args.scratch) as base:
        for mode in args.services:
            print(f"\n## Soak, {'RunPod worker' if mode == 'runpod' else 'Gradio app'}: {args.soak_long} × "
                  f"{args.soak_long_minutes:g}-minute meetings + {args.soak_jobs} short jobs (1 good : 2 bad)\n")
            with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as home, \
                    services.running(mode, args.models_dir.resolve(), service_env(Path(home))) as service:
                client = services.gradio_client(service) if mode == "gradio" else None
                warm_up(service, client)
                url = (long_audio.relative_url(base, recording.path, args.scratch)
                       if recording is not None and mode == "runpod" else None)
                outcome = soak.soak(service, client, default_clip(), recording, long_jobs=args.soak_long,
                                    short_jobs=args.soak_jobs, home=Path(home), url=url)
            rows = outcome["rows"]
            growth = rows[-1][1] - rows[0][1] if rows else 0.0
            figures[f"soak_{mode}"] = outcome
            print(f"\n  RSS warm {outcome['start_rss_mb']:.0f} MB; first→last round {growth:+.1f} MB; leftover job "
                  f"files at end: {rows[-1][2] if rows else 0}; unexpected outcomes: {outcome['unexpected']}")
            if mode == "gradio":
                print(f"  Gradio upload cache: {outcome['gradio_cache_files']} files (kept by design until "
                      "`delete_cache` removes them after an hour)")


def quality_part(args: argparse.Namespace, settings: Settings, figures: dict[str, Any]) -> None:
    """The real-recording quality set through the three systems, then its report (bench/quality_report.py). Our
    engine runs with a scratch voice library holding the joined conversations' recurring speakers
    (bench/quality_speakers.py), so its transcripts also show who it recognised."""
    from bench import conversations, quality_report, quality_runs, quality_speakers
    from core.engine import Engine

    try:
        clips = quality_runs.load_set(splits=args.quality_splits, only=args.quality_clips)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    joined = [clip.id for clip in clips if clip.turns is not None]
    spec = conversations.load_spec()
    # Enrolment follows the whole split (a speaker's first conversation there), whichever clips this run covers.
    in_splits = [entry["id"] for entry in spec["conversations"] if entry["split"] in args.quality_splits]
    with tempfile.TemporaryDirectory(prefix="quality-voices-") as library:
        engine = Engine(dataclasses.replace(settings, data_dir=Path(library)))
        enrolled = quality_speakers.enrol(engine, quality_speakers.enrolment_plan(spec, in_splits)) if joined else {}
        ours = quality_runs.run_ours(settings, clips, engine)
        speakers: dict[str, Any] = {}
        if joined:
            speakers["verification"] = quality_speakers.verification(engine.registry.diarization(),
                                                                     args.quality_splits)
            speaker_split = {name: entry["split"] for name, entry in spec["speakers"].items()}
            speakers["library"] = quality_speakers.library_figures(clips, ours, enrolled, speaker_split)
    outputs = {"ours": ours, "whisperx": quality_runs.run_whisperx(args.models_dir.resolve(), clips),
               "faster-whisper": quality_runs.run_faster_whisper(settings, clips,
                                                                 {c: o.turns for c, o in ours.items()})}
    text, figures["quality"] = quality_report.report(clips, outputs, speakers)
    print(f"\n# Quality set: {len(clips)} real recordings ({', '.join(args.quality_splits)}), "
          f"open models ({settings.models_dir}), {machine()}")
    print(text)
    if args.quality_json:
        rows = [{key if isinstance(key, str) else "|".join(map(str, key)): value for key, value in row.items()}
                for row in figures["quality"]["rows"]]
        args.quality_json.write_text(json.dumps({"rows": rows, "pooled": figures["quality"]["pooled"],
                                                 "speakers": speakers}, indent=1, default=str), encoding="utf-8")


def summary(figures: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    if "runpod" in figures and "whisperx_cli_s" in figures:
        rows.append(("warm RunPod request / whisperx CLI",
                     versus(figures["runpod"]["wall_s"] / figures["whisperx_cli_s"], TARGETS["runpod_vs_cli"],
                            at_most=True)))
    if "api" in figures:
        engine = figures.get("engine_concurrent") or figures["engine"]
        rows.append(("warm RunPod request / whisperX API script", versus(
            figures["runpod"]["wall_s"] / figures["api"]["wall_s"], TARGETS["runpod_vs_api"], at_most=True)))
        rows.append(("warm engine / whisperX API script", versus(
            engine["wall_s"] / figures["api"]["wall_s"], TARGETS["engine_vs_api"], at_most=True)))
    for mode in ("runpod", "gradio"):
        if mode in figures:
            rows.append((f"{mode} service overhead", versus(figures[mode]["overhead"], TARGETS["overhead"],
                                                            at_most=True)))
            rows.append((f"{mode} cold start (s)", versus(figures[mode]["cold_start_s"], TARGETS["cold_start_s"],
                                                         at_most=True)))
    if "realign" in figures:
        rows.append(("re-time a 20 s turn of a long recording (s)", versus(
            figures["realign"]["wall_s"], TARGETS["realign_s"], at_most=True)))
    if "first_text" in figures:
        rows.append(("first text of a long meeting (s)", versus(
            figures["first_text"]["first_text_s"], TARGETS["first_text_s"], at_most=True)))
    if "long" in figures:
        rows.append(("long recording realtime factor", versus(figures["long"]["realtime_x"],
                                                              TARGETS["long_realtime_x"], at_most=False)))
    for mode in ("runpod", "gradio"):
        hour = figures.get(f"hour_{mode}")
        if hour and "error" not in hour:
            rows.append((f"hour, {mode}: realtime factor", versus(hour["duration_s"] / hour["wall_s"],
                                                                  TARGETS["long_realtime_x"], at_most=False)))
            rows.append((f"hour, {mode}: peak RSS (MB)", versus(hour["peak_rss_mb"], TARGETS["hour_peak_rss_mb"],
                                                                at_most=True)))
            rows.append((f"hour, {mode}: RSS after − before (MB)", versus(
                hour["rss_after_mb"] - hour["rss_before_mb"], TARGETS["rss_after_job_mb"], at_most=True)))
        longer = figures.get(f"hour_long_{mode}")
        if hour and longer and "error" not in hour and "error" not in longer:
            rows.append((f"long, {mode}: time / one hour's, per audio length", versus(
                long_audio.time_ratio(hour, longer), TARGETS["long_vs_hour_time"], at_most=True)))
            rows.append((f"long, {mode}: peak RSS (MB)", versus(longer["peak_rss_mb"], TARGETS["hour_peak_rss_mb"],
                                                                at_most=True)))
            rows.append((f"long, {mode}: RSS after − before (MB)", versus(
                longer["rss_after_mb"] - longer["rss_before_mb"], TARGETS["rss_after_job_mb"], at_most=True)))
    if rows:
        print(table("Targets", rows))


if __name__ == "__main__":
    raise SystemExit(main())
