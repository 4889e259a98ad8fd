"""`python -m bench`: the performance figures of README "Performance", printed as Markdown tables.

    python -m bench                                  # everything, on pyannote's ~30 s two-speaker sample
    python -m bench --parts engine,runpod --audio talk.wav --repeats 5
    python -m bench --parts soak --soak-jobs 60

Parts: engine (warm, per stage, sequential vs concurrent diarization), whisperx (the CLI, same models and
options), runpod and gradio (warm request end to end, service overhead, cold start), long (a tiled recording,
realtime factor), soak (mixed good/bad jobs through one worker). On CUDA the engine part also prints peak GPU
memory; run it with `WHISPER_MODEL=large-v3-turbo COMPUTE_TYPE=float16` and a default-profile MODELS_DIR.
Targets are printed next to the figures; nothing here asserts (timings are not tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from bench import services, soak
from bench.engine_bench import STAGES, run_engine
from bench.measure import median, table, tile_audio
from bench.whisperx_cli import run_whisperx_cli
from core import Settings, TranscribeOptions

PARTS = ("engine", "whisperx", "runpod", "gradio", "long", "soak")
TARGETS = {"runpod_vs_cli": 0.35, "overhead": 1.10, "long_realtime_x": 8.0, "cold_start_s": 20.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="clip to measure (default: pyannote's sample.wav)")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "models")))
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per measure (median)")
    parser.add_argument("--no-diarize", action="store_true", help="measure without diarization")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--soak-jobs", type=int, default=30)
    parser.add_argument("--soak-block", type=int, default=10)
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
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
    audio = (args.audio or default_clip()).resolve()
    models_dir = args.models_dir.resolve()
    os.environ["MODELS_DIR"] = str(models_dir)
    diarize = not args.no_diarize
    # No alignment: the open profile has no wav2vec2 model and the whisperx CLI would try to download one.
    options = TranscribeOptions(align_output=False, diarization=diarize, language="en")
    settings = Settings.from_env()
    print(f"# whisperx-worker benchmark\n\nmachine: {machine()}\nclip: {audio.name}; models: {models_dir}; "
          f"diarization {'on' if diarize else 'off'}; alignment off; {args.repeats} warm runs (median)")
    figures: dict[str, Any] = {}
    if "engine" in args.parts:
        engine_part(args, settings, audio, options, figures)
    if "whisperx" in args.parts:
        whisperx_part(settings, audio, diarize, figures)
    for mode in ("runpod", "gradio"):
        if mode in args.parts:
            service_part(mode, args, audio, diarize, figures)
    if "long" in args.parts:
        long_part(args, settings, audio, options, figures)
    if "soak" in args.parts:
        soak_part(args, audio)
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
    print(table("Engine, warm", rows))


def whisperx_part(settings: Settings, audio: Path, diarize: bool, figures: dict[str, Any]) -> None:
    from core.registry import ModelRegistry

    registry = ModelRegistry(settings)
    walls = [run_whisperx_cli(registry, audio, diarize=diarize, align=False) for _ in range(2)]
    figures["whisperx_cli_s"] = median(walls)
    rows = [("whisperx CLI wall (median of 2, fresh process per file)", fmt(figures["whisperx_cli_s"]))]
    for key, label in (("engine", "sequential"), ("engine_concurrent", "concurrent diarization")):
        if key in figures:
            ratio = figures[key]["wall_s"] / figures["whisperx_cli_s"]
            rows.append((f"engine warm wall ({label}) / whisperx CLI", f"{ratio:.3f}"))
    print(table("whisperx CLI, same models and options", rows))


def service_part(mode: str, args: argparse.Namespace, audio: Path, diarize: bool, figures: dict[str, Any]) -> None:
    job = {"align_output": False, "diarization": diarize, "language": "en"}
    with services.running(mode, args.models_dir.resolve()) as service:
        if mode == "runpod":
            payload = services.audio_input(audio, **job)

            def request() -> tuple[float, dict[str, Any]]:
                return services.timed_runpod(service, payload)
        else:
            client = services.gradio_client(service)

            def request() -> tuple[float, dict[str, Any]]:
                return services.timed_gradio(client, audio, job)
        request()  # warm-up: the first job pays one-off lazy initialisation
        measured = [request() for _ in range(args.repeats)]
    walls = [wall for wall, _ in measured]
    overheads = [wall / output["timings"]["total"] for wall, output in measured]
    figures[mode] = {"wall_s": median(walls), "overhead": median(overheads), "cold_start_s": service.cold_start_s,
                     "engine_total_s": median([output["timings"]["total"] for _, output in measured])}
    rows = [("cold start: spawn → serving with models loaded", fmt(service.cold_start_s)),
            ("warm request, end to end (median)", fmt(figures[mode]["wall_s"])),
            ("engine stages inside it (timings.total)", fmt(figures[mode]["engine_total_s"])),
            ("service overhead (end to end / engine)", f"{figures[mode]['overhead']:.3f}")]
    print(table(f"{'RunPod local API /runsync' if mode == 'runpod' else 'Gradio API /transcribe'}", rows))


def long_part(args: argparse.Namespace, settings: Settings, audio: Path, options: TranscribeOptions,
              figures: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        long_audio = tile_audio(audio, Path(scratch) / "long.wav", args.long_minutes)
        result = run_engine(settings, long_audio, options, 1, warm_up=False)
    figures["long"] = result
    print(table(f"{args.long_minutes:g}-minute recording, full pipeline", engine_rows(result, "long")))


def soak_part(args: argparse.Namespace, audio: Path) -> None:
    print(f"\n## Soak: {args.soak_jobs} jobs (1 good with diarization : 2 bad) through one RunPod worker\n")
    with services.running("runpod", args.models_dir.resolve()) as service:
        rows = soak.soak(service, audio, args.soak_jobs, args.soak_block)
    growth = rows[-1][1] - rows[0][1] if rows else 0.0
    print(f"\n  RSS growth first→last block: {growth:+.1f} MB; leftover job files at end: {rows[-1][2] if rows else 0}")


def summary(figures: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    if "runpod" in figures and "whisperx_cli_s" in figures:
        rows.append(("warm RunPod request / whisperx CLI",
                     versus(figures["runpod"]["wall_s"] / figures["whisperx_cli_s"], TARGETS["runpod_vs_cli"],
                            at_most=True)))
    for mode in ("runpod", "gradio"):
        if mode in figures:
            rows.append((f"{mode} service overhead", versus(figures[mode]["overhead"], TARGETS["overhead"],
                                                            at_most=True)))
            rows.append((f"{mode} cold start (s)", versus(figures[mode]["cold_start_s"], TARGETS["cold_start_s"],
                                                         at_most=True)))
    if "long" in figures:
        rows.append(("long recording realtime factor", versus(figures["long"]["realtime_x"],
                                                              TARGETS["long_realtime_x"], at_most=False)))
    if rows:
        print(table("Targets", rows))


if __name__ == "__main__":
    raise SystemExit(main())
