"""The `realign` part: re-timing one corrected turn of a long recording (`Engine.realign`), which decodes only
that turn's span (`core.media.decode.decode_span`); beside it, what decoding the whole file would cost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.measure import median, table
from core import Settings, TranscribeOptions

TURN_S = 20.0  # the case: a 20 s turn, re-timed in <= 2 s


def realign_part(settings: Settings, audio: Path, scratch: Path, minutes: float, repeats: int) -> dict[str, Any]:
    """`audio` placed at the end of `minutes` of recording (AAC, decoded by ffmpeg); its first segments, joined
    into one turn of up to TURN_S, re-timed with their own text `repeats` times (warm)."""
    from core.engine import Engine
    from core.media.decode import decode_audio
    from tests.speech import later, placed_in_silence

    engine = Engine(settings)
    result = engine.transcribe(audio, TranscribeOptions(language="en"))
    if not result.segments:
        raise SystemExit(f"realign part: no speech found in {audio.name}")
    offset_s = max(0.0, minutes * 60 - result.duration)
    scratch.mkdir(parents=True, exist_ok=True)
    long_path = placed_in_silence(audio, scratch / f"realign-{minutes:g}m.m4a", offset_s, 0.0)
    moved = later(result, offset_s)
    through = max(i for i, segment in enumerate(moved.segments)
                  if segment.end - moved.segments[0].start <= TURN_S or i == 0)
    turn_s = moved.segments[through].end - moved.segments[0].start
    text = " ".join(segment.text.strip() for segment in moved.segments[:through + 1])
    engine.realign(long_path, moved, 0, text, through=through)  # warm: models loaded, file in the page cache
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        engine.realign(long_path, moved, 0, text, through=through)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    started = time.perf_counter()
    decode_audio(long_path)
    full_decode_s = time.perf_counter() - started
    figures = {"turn_s": turn_s, "minutes": minutes, "wall_s": median(walls), "cpu_s": median(cpus),
               "full_decode_s": full_decode_s}
    print(table(f"Re-timing one turn of a {minutes:g}-minute recording (m4a)", [
        (f"re-time a {turn_s:.1f} s turn at {offset_s / 60:.0f} min (median of {repeats})",
         f"{figures['wall_s']:.2f} s wall, {figures['cpu_s']:.2f} s CPU (target <= 2 s)"),
        ("decoding the whole file instead (no longer paid)", f"{full_decode_s:.2f} s"),
    ]))
    return figures
