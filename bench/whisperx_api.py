"""The peer a serious user would write: whisperX's own Python API with the models loaded once, warm.

    python -m bench.whisperx_api AUDIO --models-dir models --repeats 2     # prints one JSON line
    python -m bench.whisperx_api A.flac B.flac --models-dir models --dump DIR  # each file's result: DIR/<stem>.json

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


def job(model: Any, diarizer: Any, audio_path: Path, batch_size: int, language: str = "en") -> dict[str, Any]:
    """One file as whisperX's README runs it; the diarization's own turns are kept under `diarization`."""
    import whisperx

    audio = whisperx.load_audio(str(audio_path))
    result = model.transcribe(audio, batch_size=batch_size, language=language)
    if diarizer is not None:
        turns = diarizer(audio)
        result = whisperx.assign_word_speakers(turns, result)
        result["diarization"] = [{"start": float(row.start), "end": float(row.end), "speaker": str(row.speaker)}
                                 for row in turns.itertuples()]
    return result


def dump(model: Any, diarizer: Any, audios: list[Path], batch_size: int, language: str, folder: Path) -> None:
    """The quality report's run: each file once (after one warm-up), its whole result as `folder/<stem>.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    for audio in audios:
        result = job(model, diarizer, audio, batch_size, language)
        (folder / f"{audio.stem}.json").write_text(json.dumps(result, default=float), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whisperx_api", description=__doc__)
    parser.add_argument("audio", type=Path, nargs="+")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None, help="default: our registry's (4 on CPU)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-diarize", action="store_true")
    parser.add_argument("--language", default="en")
    parser.add_argument("--dump", type=Path, help="write each file's result here instead of timing the first")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, diarizer, sources = load(args.models_dir.resolve(), args.threads, not args.no_diarize)
    load_s = time.perf_counter() - started
    batch_size = args.batch_size or int(sources["batch_size"])
    job(model, diarizer, args.audio[0], batch_size, args.language)  # warm-up, as our services are warm
    if args.dump:
        dump(model, diarizer, args.audio, batch_size, args.language, args.dump)
        return 0
    walls, cpus, result = [], [], {}
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = job(model, diarizer, args.audio[0], batch_size, args.language)
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
