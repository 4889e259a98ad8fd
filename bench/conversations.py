"""Real read speech joined into conversations: the quality set's speaker-turn part (bench/quality/conversations.json).

    python -m bench.conversations --out DIR          # build every conversation's audio into DIR
    python -m bench.conversations --references DIR   # write each one's RTTM, words and turns into DIR
    python -m bench.conversations --check            # the committed references are what the spec yields

Each conversation strings whole utterances (or pieces cut at a pause) of real speakers one after another with the
spec's gaps, no overlap. An utterance is trimmed to its speech (an energy threshold between its noise floor and
its speech level, `EDGE_S` kept either side) before it is placed, so a reference turn is exactly where its
words are, and its RTTM marks only where the voice is heard (pauses of `PAUSE_S` or more inside an utterance are
left out, as NIST's references leave them out; `Turn.speech`); each is brought to `SPEECH_DBFS` over its speech frames
(or less, where its peak would pass `PEAK_DBFS`). Then the conversation's condition:

- clean, quick, interject: as placed (quick: short turns and gaps; interject: one dominant speaker, the others'
  turns at most `INTERJECTION_MAX_S`);
- quiet: the whole recording at `level_dbfs` (speech RMS);
- softer: one speaker `softer_db` below the others;
- noise: seeded pink noise at `snr_db` below the speech level;
- phone: telephone band (300–3400 Hz), resampled to 8 kHz and stored as G.711 μ-law, as a phone line delivers it;
- mp3: encoded with libmp3lame at `bitrate`.

A pink noise floor at `FLOOR_DBFS` keeps the gaps from being digital silence. Everything is seeded, so a build is
the same bytes every time on one machine; the references do not depend on the encoders at all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

QUALITY_DIR = Path(__file__).resolve().parent / "quality"
SPEC_FILE = "conversations.json"
SAMPLE_RATE = 16000
PHONE_RATE = 8000
SPEECH_DBFS = -23.0  # every placed utterance's speech RMS before the condition...
PEAK_DBFS = -1.0  # ...unless that would push its peak above this (a few spiky recordings sit a dB or two lower)
FLOOR_DBFS = -70.0  # pink noise under the whole recording
EDGE_S = 0.05  # kept before the first and after the last speech frame of an utterance
FRAME_S, HOP_S = 0.02, 0.01
SPEECH_FRACTION = 0.3  # threshold: this far from the noise floor (5th percentile) to the speech level (95th), in dB
INTERJECTION_MAX_S = 1.5
PAUSE_S = 0.3  # a pause this long inside an utterance is not speech in the RTTM (NIST RT's rule for references)
BUILDER_VERSION = "1"  # bump when the audio a spec yields changes
EXTENSIONS = {"phone": "wav", "mp3": "mp3"}  # everything else: 16 kHz FLAC


@dataclass(frozen=True)
class Turn:
    """One reference turn: where an utterance (or piece) sits in the conversation and what it says."""

    start: float
    end: float
    speaker: str
    text: str
    utterance: str
    speech: tuple[tuple[float, float], ...] = ()  # where in the turn the voice is heard (pauses left out)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "speaker": self.speaker, "text": self.text,
                "utterance": self.utterance, "speech": [list(span) for span in self.speech]}


@dataclass(frozen=True)
class Conversation:
    """A composed conversation: 16 kHz samples before its condition's encoding, and its reference turns."""

    id: str
    split: str
    condition: str
    samples: np.ndarray
    turns: tuple[Turn, ...]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def file_name(self) -> str:
        return f"{self.id}.{EXTENSIONS.get(self.condition, 'flac')}"


def load_spec(folder: Path = QUALITY_DIR) -> dict[str, Any]:
    return json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))


def decode(path: Path) -> np.ndarray:
    """A source utterance as float32 samples (the committed sources are 16 kHz mono FLAC)."""
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    if rate != SAMPLE_RATE or samples.ndim != 1:
        raise ValueError(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {samples.shape}")
    return samples


def frame_levels_db(samples: np.ndarray) -> np.ndarray:
    """RMS level (dBFS) of each `FRAME_S` frame, one every `HOP_S`."""
    frame, hop = int(FRAME_S * SAMPLE_RATE), int(HOP_S * SAMPLE_RATE)
    count = max(1, 1 + (len(samples) - frame) // hop)
    index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    padded = np.pad(samples.astype(np.float64), (0, max(0, index.max() + 1 - len(samples))))
    return 10 * np.log10(np.mean(padded[index] ** 2, axis=1) + 1e-12)


def speech_frames(samples: np.ndarray) -> np.ndarray:
    """Which frames are speech: above a threshold `SPEECH_FRACTION` of the way from floor to speech level."""
    levels = frame_levels_db(samples)
    floor, speech = np.percentile(levels, 5), np.percentile(levels, 95)
    return levels > floor + SPEECH_FRACTION * (speech - floor)


def trim(samples: np.ndarray) -> np.ndarray:
    """`samples` from its first speech frame to its last, `EDGE_S` kept on each side."""
    voiced = np.nonzero(speech_frames(samples))[0]
    if not len(voiced):
        raise ValueError("no speech found")
    hop, frame, edge = int(HOP_S * SAMPLE_RATE), int(FRAME_S * SAMPLE_RATE), int(EDGE_S * SAMPLE_RATE)
    start = max(0, voiced[0] * hop - edge)
    end = min(len(samples), voiced[-1] * hop + frame + edge)
    return samples[start:end]


def speech_spans(samples: np.ndarray) -> list[tuple[float, float]]:
    """Where a trimmed utterance's voice is heard (seconds from its start): its speech frames, joined across
    pauses shorter than `PAUSE_S`, `EDGE_S` kept either side. Read speech pauses up to a second at commas and
    between sentences; a reference that called those pauses speech would count every transcript that leaves
    them out as missing speech."""
    voiced = np.nonzero(speech_frames(samples))[0]
    hop, frame, edge = HOP_S, FRAME_S, EDGE_S
    length = len(samples) / SAMPLE_RATE
    spans: list[list[float]] = []
    for index in voiced:
        start, end = index * hop, index * hop + frame
        if spans and start - spans[-1][1] < PAUSE_S + 2 * edge:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(round(float(max(0.0, a - edge)), 3), round(float(min(length, b + edge)), 3)) for a, b in spans]


def speech_rms_db(samples: np.ndarray) -> float:
    """Level of the speech frames only (pauses and edges left out)."""
    levels = frame_levels_db(samples)
    voiced = speech_frames(samples)
    return float(10 * np.log10(np.mean(10 ** (levels[voiced] / 10))))


def gain(db: float) -> float:
    return float(10 ** (db / 20))


def pink_noise(length: int, seed: int) -> np.ndarray:
    """Seeded pink (1/f power) noise with unit RMS."""
    white = np.random.default_rng(seed).standard_normal(length)
    spectrum = np.fft.rfft(white)
    frequencies = np.fft.rfftfreq(length, 1 / SAMPLE_RATE)
    spectrum[1:] /= np.sqrt(frequencies[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n=length)
    return noise / np.sqrt(np.mean(noise ** 2))


def utterance(spec: dict[str, Any], name: str, folder: Path) -> tuple[np.ndarray, str, str]:
    """(trimmed samples at `SPEECH_DBFS`, text, speaker) of an utterance or of a piece cut from one."""
    piece = spec["pieces"].get(name)
    source = spec["utterances"][piece["utterance"] if piece else name]
    samples = decode(folder / source["audio"])
    if piece:
        samples = samples[round(piece["start"] * SAMPLE_RATE):round(piece["end"] * SAMPLE_RATE)]
    samples = trim(samples)
    peak_db = 20 * np.log10(float(np.max(np.abs(samples))) + 1e-12)
    samples = samples * gain(min(SPEECH_DBFS - speech_rms_db(samples), PEAK_DBFS - peak_db))
    return samples.astype(np.float32), (piece or source)["text"], source["speaker"]


def compose(spec: dict[str, Any], entry: dict[str, Any], folder: Path = QUALITY_DIR) -> Conversation:
    """One conversation of the spec: its utterances placed after their gaps, then its condition (but not its
    encoding: phone and mp3 happen in `write_audio`)."""
    condition = entry["condition"]
    pieces, turns, cursor = [], [], 0
    for item in entry["turns"]:
        samples, text, speaker = utterance(spec, item["utterance"], folder)
        if condition == "softer" and speaker == entry["softer"]:
            samples = samples * gain(entry["softer_db"])
        cursor += round(item["gap"] * SAMPLE_RATE)
        at = cursor / SAMPLE_RATE
        speech = tuple((round(float(at + a), 3), round(float(at + b), 3)) for a, b in speech_spans(samples))
        turns.append(Turn(round(at, 3), round((cursor + len(samples)) / SAMPLE_RATE, 3), speaker,
                          text, item["utterance"], speech))
        pieces.append((cursor, samples))
        cursor += len(samples)
    length = cursor + round(entry.get("tail", 0.6) * SAMPLE_RATE)
    mix = np.zeros(length, dtype=np.float64)
    for start, samples in pieces:
        mix[start:start + len(samples)] += samples
    seed = zlib.crc32(entry["id"].encode())
    mix += pink_noise(length, seed) * gain(FLOOR_DBFS)
    if condition == "noise":
        mix += pink_noise(length, entry["seed"]) * gain(SPEECH_DBFS - entry["snr_db"])
    if condition == "quiet":
        mix *= gain(entry["level_dbfs"] - SPEECH_DBFS)
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        raise ValueError(f"{entry['id']}: peak {peak:.2f} would clip")
    return Conversation(entry["id"], entry["split"], condition, mix.astype(np.float32), tuple(turns))


def validate(spec: dict[str, Any], conversation: Conversation, entry: dict[str, Any]) -> None:
    """The spec's promises about a conversation: length, speakers, gaps, and for interject, short interjections."""
    speakers = {turn.speaker for turn in conversation.turns}
    if not 30.0 <= conversation.duration_s <= 60.0:
        raise ValueError(f"{conversation.id}: {conversation.duration_s:.1f} s, want 30–60 s")
    if not 2 <= len(speakers) <= 4:
        raise ValueError(f"{conversation.id}: {len(speakers)} speakers, want 2–4")
    for turn in conversation.turns:
        if spec["speakers"][turn.speaker]["split"] != conversation.split:
            raise ValueError(f"{conversation.id}: {turn.speaker} belongs to the other split")
    if conversation.condition == "interject":
        for turn in conversation.turns:
            if turn.speaker != entry["dominant"] and turn.end - turn.start > INTERJECTION_MAX_S:
                lasts = turn.end - turn.start
                raise ValueError(f"{conversation.id}: interjection {turn.utterance} lasts {lasts:.2f} s")


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)


def ffmpeg(*arguments: str) -> None:
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr.strip()[-500:]}")


def write_audio(conversation: Conversation, path: Path, bitrate: str = "64k") -> None:
    """The recording as the condition delivers it: FLAC, μ-law 8 kHz WAV (phone) or MP3 at `bitrate`."""
    import soundfile

    pcm = to_pcm16(conversation.samples)
    if conversation.condition not in EXTENSIONS:
        soundfile.write(str(path), pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        return
    bitexact = ("-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1")
    with tempfile.TemporaryDirectory(prefix="wxw-conversation-") as scratch:
        source = Path(scratch) / "mix.wav"
        soundfile.write(str(source), pcm, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        if conversation.condition == "phone":
            ffmpeg("-i", str(source), "-af", "highpass=f=300,lowpass=f=3400", "-ar", str(PHONE_RATE),
                   "-c:a", "pcm_mulaw", *bitexact, str(path))
        else:
            ffmpeg("-i", str(source), "-c:a", "libmp3lame", "-b:a", bitrate, *bitexact, str(path))


def rttm(conversation: Conversation) -> str:
    """Who speaks when: a line per stretch of a turn's speech (`Turn.speech`), as references mark speech."""
    return "".join(f"SPEAKER {conversation.id} 1 {start:.3f} {end - start:.3f} <NA> <NA> {turn.speaker} <NA> <NA>\n"
                   for turn in conversation.turns for start, end in turn.speech)


def reference_files(conversation: Conversation) -> dict[str, str]:
    """The committed references of a conversation: RTTM, all words in order, and the turns (JSON)."""
    turns = {"id": conversation.id, "duration_s": round(conversation.duration_s, 3),
             "turns": [turn.to_dict() for turn in conversation.turns]}
    return {f"{conversation.id}.rttm": rttm(conversation),
            f"{conversation.id}.txt": " ".join(turn.text for turn in conversation.turns) + "\n",
            f"{conversation.id}.turns.json": json.dumps(turns, indent=1, ensure_ascii=False) + "\n"}


def conversations(folder: Path = QUALITY_DIR, only: Iterable[str] = ()) -> list[tuple[Conversation, dict[str, Any]]]:
    spec = load_spec(folder)
    wanted = set(only)
    built = []
    for entry in spec["conversations"]:
        if wanted and entry["id"] not in wanted:
            continue
        conversation = compose(spec, entry, folder)
        validate(spec, conversation, entry)
        built.append((conversation, entry))
    return built


def digest(folder: Path = QUALITY_DIR) -> str:
    """What a build depends on: the spec, its sources and this builder's version."""
    spec_bytes = (folder / SPEC_FILE).read_bytes()
    hasher = hashlib.sha256(BUILDER_VERSION.encode() + spec_bytes)
    for name in sorted(json.loads(spec_bytes)["utterances"]):
        hasher.update((folder / "sources" / f"{name}.flac").read_bytes())
    return hasher.hexdigest()[:16]


def default_build_dir(folder: Path = QUALITY_DIR) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "whisperx-worker" / "conversations" / digest(folder)


def build(out: Path, folder: Path = QUALITY_DIR, only: Iterable[str] = ()) -> list[Path]:
    """Each conversation's audio in `out` (built only where missing: the folder is keyed by `digest`)."""
    out.mkdir(parents=True, exist_ok=True)
    spec = load_spec(folder)
    names = [entry["id"] for entry in spec["conversations"] if not only or entry["id"] in set(only)]
    missing = [name for name in names if not any(out.glob(f"{name}.*"))]
    for conversation, entry in conversations(folder, missing) if missing else ():
        partial = out / f".{conversation.file_name}.partial{Path(conversation.file_name).suffix}"
        write_audio(conversation, partial, entry.get("bitrate", "64k"))
        partial.replace(out / conversation.file_name)
    return sorted(path for name in names for path in out.glob(f"{name}.*"))


def write_references(out: Path, folder: Path = QUALITY_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for conversation, _ in conversations(folder):
        for name, text in reference_files(conversation).items():
            (out / name).write_text(text, encoding="utf-8")
            written.append(out / name)
    return written


def check_references(folder: Path = QUALITY_DIR) -> list[str]:
    """Committed reference files that differ from what the spec yields (empty when all agree)."""
    stale = []
    for conversation, _ in conversations(folder):
        for name, text in reference_files(conversation).items():
            path = folder / "reference" / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.conversations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="build the conversations' audio here")
    parser.add_argument("--references", type=Path, help="write their references (RTTM, words, turns) here")
    parser.add_argument("--check", action="store_true", help="compare the committed references with the spec")
    parser.add_argument("--only", default="", help="comma-separated conversation ids (with --out)")
    args = parser.parse_args(argv)
    if not (args.out or args.references or args.check):
        parser.error("give --out DIR, --references DIR or --check")
    if args.out:
        for path in build(args.out, only=[name for name in args.only.split(",") if name]):
            print(path)
    if args.references:
        for path in write_references(args.references):
            print(path)
    if args.check:
        stale = check_references()
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
