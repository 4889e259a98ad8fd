"""The peer a serious user would write: whisperX's own Python API with the models loaded once, warm.

    python -m bench.whisperx_api AUDIO --models-dir models --repeats 2     # prints one JSON line

`whisperx.load_model` and `DiarizationPipeline` once (here on the open profile's local weights: the same ASR
directory, VAD checkpoint and pyannote pipeline directory our registry loads), then per job exactly what
whisperX's README shows: `load_audio` → `model.transcribe` → `diarize_model(audio)` → `assign_word_speakers`.
Run in its own process so its memory and threads are its own; the bench compares it with our warm engine and
our warm `/runsync` on the same file, weights and options.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from bench.measure import peak_rss_mb


def load(models_dir: Path, threads: int, diarize: bool) -> tuple[Any, Any, dict[str, str]]:
    import whisperx
    from whisperx.diarize import DiarizationPipeline

    from core import Settings
    from core.models.registry import ModelRegistry

    registry = ModelRegistry(Settings(models_dir=models_dir, device="cpu"))
    sources = {"asr": registry._asr_source(registry.default_asr_name), "vad": str(registry._vad_path())}
    model = whisperx.load_model(sources["asr"], registry.device, compute_type=registry.compute_type, language="en",
                                vad_method="pyannote", vad_options={"model_fp": sources["vad"]}, threads=threads,
                                local_files_only=True)
    diarizer = None
    if diarize:
        sources["diarization"] = registry._diarization_source(registry.default_diarization_name)
        diarizer = DiarizationPipeline(model_name=sources["diarization"], device=registry.device)
    sources["batch_size"] = str(registry.batch_size)
    return model, diarizer, sources


def job(model: Any, diarizer: Any, audio_path: Path, batch_size: int) -> dict[str, Any]:
    import whisperx

    audio = whisperx.load_audio(str(audio_path))
    result = model.transcribe(audio, batch_size=batch_size, language="en")
    if diarizer is not None:
        result = whisperx.assign_word_speakers(diarizer(audio), result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whisperx_api", description=__doc__)
    parser.add_argument("audio", type=Path)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="default: our registry's (4 on CPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-diarize", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, diarizer, sources = load(args.models_dir.resolve(), args.threads, not args.no_diarize)
    load_s = time.perf_counter() - started
    batch_size = args.batch_size or int(sources["batch_size"])
    job(model, diarizer, args.audio, batch_size)  # warm-up, as our services are warm
    walls, cpus, result = [], [], {}
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = job(model, diarizer, args.audio, batch_size)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    segments = result.get("segments", [])
    print(json.dumps({"load_s": load_s, "walls": walls, "cpu_s": cpus, "peak_rss_mb": peak_rss_mb(),
                      "batch_size": batch_size, "threads": args.threads,
                      "text": " ".join(segment["text"].strip() for segment in segments),
                      "speakers": sorted({s["speaker"] for s in segments if s.get("speaker")})}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
