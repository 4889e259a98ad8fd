"""Warm engine runs (after one warm-up): per-stage times, realtime factor, peak RSS (and GPU memory on CUDA)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.measure import median, peak_rss_mb, stopwatch
from core import Settings, TranscribeOptions
from core.progress import STAGES as PROGRESS_STAGES

# The engine's timing keys: its stages (core.progress.STAGES) plus speaker assignment and the whole job.
STAGES = (*(stage for stage in PROGRESS_STAGES if stage != "write"), "assign", "total")


def run_engine(settings: Settings, audio: Path, options: TranscribeOptions, repeats: int, *,
               parallel_diarization: bool = True, share_segmentation: bool = True,
               warm_up: bool = True) -> dict[str, Any]:
    from core.engine import Engine

    with stopwatch() as load:
        engine = Engine(settings, parallel_diarization=parallel_diarization, share_segmentation=share_segmentation)
        engine.registry.preload(diarization=options.diarization)
    if warm_up:
        engine.transcribe(audio, options)
    gpu = _reset_gpu_peak(engine.registry.device)
    walls, cpus, results = [], [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        results.append(engine.transcribe(audio, options))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    stages = {stage: median([r.timings.get(stage, 0.0) for r in results]) for stage in STAGES}
    duration = results[-1].duration
    return {
        "model_load_s": load["seconds"],
        "wall_s": median(walls),
        "cpu_s": median(cpus),
        "stages": stages,
        "duration_s": duration,
        "realtime_x": duration / median(walls),
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": gpu.max_memory_allocated() / 2**20 if gpu else None,
        "result": results[-1],
    }


def _reset_gpu_peak(device: str) -> Any:
    if device != "cuda":
        return None
    import torch

    torch.cuda.reset_peak_memory_stats()
    return torch.cuda
