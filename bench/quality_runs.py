"""The quality set (bench/quality/manifest.json) and the three systems the report compares on it, same weights:
our engine, whisperX's own Python API (in its own process, bench/whisperx_api.py) and plain faster-whisper
(sequential, word_timestamps=True, no VAD; its words labelled with our diarization's turns by whisperX's own
`assign_word_speakers`, so its transcript DER measures its word times, not another diarization)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.quality_metrics import Unit
from core import Settings, TranscribeOptions

QUALITY_DIR = Path(__file__).resolve().parent / "quality"
SYSTEMS = ("ours", "whisperx", "faster-whisper")
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Clip:
    """One recording of the set with whatever references it has."""

    id: str
    audio: Path
    split: str  # "dev" (may be tuned on) or "heldout" (never)
    group: str  # the meeting: clips of one group share a split
    language: str = "en"
    rttm: Path | None = None
    text: Path | None = None
    speakers: int | None = None  # the reference speaker count when there is no RTTM
    turns: Path | None = None  # a joined conversation's reference turns (JSON: start, end, speaker, text)
    condition: str | None = None  # a joined conversation's recording condition (bench/conversations.py)
    speaker_texts: Path | None = None  # a meeting's words per participant (JSON "speakers": id → text), for cpWER

    def reference(self) -> Any:
        """The reference turns as a pyannote Annotation (None without an RTTM)."""
        if self.rttm is None:
            return None
        from pyannote.database.util import load_rttm

        return load_rttm(str(self.rttm))[self.id]

    def transcript(self) -> str | None:
        return self.text.read_text(encoding="utf-8").strip() if self.text else None

    def reference_speakers(self) -> int | None:
        reference = self.reference()
        return len(reference.labels()) if reference is not None else self.speakers

    def duration_s(self) -> float:
        import soundfile

        return float(soundfile.info(str(self.audio)).duration)

    def speaker_transcripts(self) -> dict[str, str] | None:
        """Each participant's words in order (a meeting whose overlapped words have no one order), or None."""
        if self.speaker_texts is None:
            return None
        return json.loads(self.speaker_texts.read_text(encoding="utf-8"))["speakers"]

    def reference_turns(self) -> list[dict[str, Any]] | None:
        """The reference turns in order (start, end, speaker, text), for the "no turn missing" check."""
        if self.turns is None:
            return None
        return json.loads(self.turns.read_text(encoding="utf-8"))["turns"]


@dataclass(frozen=True)
class Output:
    """What one system gave for one clip: its timed, speaker-labelled units and its diarization's own turns."""

    units: tuple[Unit, ...]
    turns: tuple[tuple[float, float, str], ...] | None
    text: str
    unit_kind: str = "words"  # "segments" when the system timed no words


def load_set(folder: Path = QUALITY_DIR, splits: tuple[str, ...] = ("dev", "heldout"),
             only: tuple[str, ...] = (), build_dir: Path | None = None) -> list[Clip]:
    """The manifest's clips in its order, restricted to `splits` (and to the ids in `only`, when given). Clips with
    `build: conversations` are built by bench/conversations.py into `build_dir` (default: a cache folder keyed by
    the spec and its sources) where they are not there yet."""
    from bench import conversations

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entries = [entry for entry in manifest["clips"]
               if entry["split"] in splits and (not only or entry["id"] in only)]
    unknown = set(only) - {entry["id"] for entry in entries}
    if unknown:
        raise ValueError(f"--clips: no clip {sorted(unknown)} in {folder / 'manifest.json'} (splits {splits})")
    built = [entry["id"] for entry in entries if entry.get("build") == "conversations"]
    if built:
        build_dir = build_dir or conversations.default_build_dir(folder)
        conversations.build(build_dir, folder, built)
    clips = []
    for entry in entries:
        audio = (build_dir if entry.get("build") == "conversations" else folder) / entry["audio"]
        clips.append(Clip(id=entry["id"], audio=audio, split=entry["split"], group=entry["group"],
                          language=entry.get("language", "en"),
                          rttm=folder / entry["rttm"] if entry.get("rttm") else None,
                          text=folder / entry["text"] if entry.get("text") else None,
                          speakers=entry.get("speakers"),
                          turns=folder / entry["turns"] if entry.get("turns") else None,
                          condition=entry.get("condition"),
                          speaker_texts=folder / entry["speaker_texts"] if entry.get("speaker_texts") else None))
    return clips


def run_ours(settings: Settings, clips: list[Clip], engine: Any = None) -> dict[str, Output]:
    """Our engine, warm (one engine, models loaded once: `engine` when given), diarization on, words timed, the
    engine's voice library recognised (the bench enrols into a scratch library: bench/quality_speakers.py)."""
    from core.engine import Engine

    engine = engine or Engine(settings)
    outputs = {}
    for clip in clips:
        result = engine.transcribe(clip.audio, TranscribeOptions(align_output=True, diarization=True,
                                                                 language=clip.language))
        units = tuple(Unit(w.start, w.end, w.word, w.speaker) for s in result.segments for w in s.words
                      if w.start is not None and w.end is not None)
        turns = tuple((t.start, t.end, t.speaker) for t in result.diarization or ())
        outputs[clip.id] = Output(units, turns, result.text)
    return outputs


def run_whisperx(models_dir: Path, clips: list[Clip]) -> dict[str, Output]:
    """whisperX's own API on every clip, in its own process. The open profile has no wav2vec2 model, and
    whisperX times no words without one: its units are its speaker-labelled segments."""
    with tempfile.TemporaryDirectory(prefix="quality-whisperx-") as folder:
        command = [sys.executable, "-m", "bench.whisperx_api", *(str(c.audio) for c in clips),
                   "--models-dir", str(models_dir), "--dump", folder]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        if completed.returncode != 0:
            raise RuntimeError(f"whisperX API run failed:\n{completed.stderr[-3000:]}")
        results = {c.id: json.loads((Path(folder) / f"{c.audio.stem}.json").read_text()) for c in clips}
    return {clip_id: whisperx_output(result) for clip_id, result in results.items()}


def whisperx_output(result: dict[str, Any]) -> Output:
    """A whisperX result dict as an Output: its words when they are timed, else its segments."""
    segments = result.get("segments", [])
    words = [w for s in segments for w in s.get("words", []) if "start" in w and "end" in w]
    if words:
        units = tuple(Unit(w["start"], w["end"], w["word"], w.get("speaker")) for w in words)
    else:
        units = tuple(Unit(s["start"], s["end"], s["text"].strip(), s.get("speaker")) for s in segments)
    turns = tuple((t["start"], t["end"], t["speaker"]) for t in result.get("diarization", ()))
    text = " ".join(s["text"].strip() for s in segments)
    return Output(units, turns if "diarization" in result else None, text, "words" if words else "segments")


def run_faster_whisper(settings: Settings, clips: list[Clip],
                       turns: dict[str, tuple[tuple[float, float, str], ...] | None]) -> dict[str, Output]:
    """Plain faster-whisper on the same `base` weights: sequential, word_timestamps=True, no VAD; each clip's
    words labelled with `turns[clip.id]` (our diarization's) by whisperX's `assign_word_speakers`."""
    import pandas
    from faster_whisper import WhisperModel
    from whisperx.diarize import assign_word_speakers

    from core.models.registry import ModelRegistry

    registry = ModelRegistry(settings)
    model = WhisperModel(registry._asr_source(registry.default_asr_name), device=registry.device,
                         compute_type=registry.compute_type, cpu_threads=os.cpu_count() or 1)
    outputs = {}
    for clip in clips:
        segments, _ = model.transcribe(str(clip.audio), language=clip.language, word_timestamps=True,
                                       vad_filter=False)
        result = {"segments": [{"start": s.start, "end": s.end, "text": s.text,
                                "words": [{"word": w.word.strip(), "start": w.start, "end": w.end} for w in s.words]}
                               for s in segments]}
        clip_turns = turns.get(clip.id)
        if clip_turns:
            frame = pandas.DataFrame([{"start": a, "end": b, "speaker": c} for a, b, c in clip_turns])
            result = assign_word_speakers(frame, result)
        output = whisperx_output(result)
        outputs[clip.id] = Output(output.units, None, output.text, output.unit_kind)
    return outputs
