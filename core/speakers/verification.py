"""Name diarized speakers by their voices: each speaker's turns and each reference sample are embedded with the
speaker-embedding model of the diarization pipeline that labelled them (so both live in one embedding space),
and labels are matched to names one-to-one, best cosine similarity first, above a threshold. An unmatched
speaker keeps its label. (The WhisperX worker's `speaker_verification` + `speaker_samples`.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from core.media.decode import SAMPLE_RATE
from core.models.cores import torch_threads, usable_cores
from core.transcript.result import SpeakerTurn

# Cosine similarity above which a diarized speaker is named after a voice (a reference sample, or the voice library):
# a property of the speaker-embedding model, so one threshold per model, calibrated on its own scores.
# CAM++ (the open profile): dev speakers of the real-speech quality set, each speaker's voice (as `speaker_voices`
# makes it, from its reference turns) against the same person's voice in other conversations and against everyone
# else's: same person min 0.378, 5th percentile 0.609, mean 0.853 (432 pairs); different people max 0.459, 99th
# percentile 0.314, mean 0.059 (3,572 pairs). 0.55 misses 1.6 % of same-person pairs and stays 0.09 above the
# closest stranger (docs/voice-library.md; `python -m bench --parts quality` reports the held-out figures).
THRESHOLDS = {"CAMPPlusEmbedding": 0.55}
# A model not calibrated here (e.g. the default profile's WeSpeaker ResNet34): a cautious value, which may name
# fewer people than it could but, on the cosine scales these models give different people, not a wrong one.
UNCALIBRATED_THRESHOLD = 0.85
PIECE_S = 10.0  # audio is embedded in pieces of at most this length, then averaged
MIN_TURN_S = 0.5  # shorter turns say little about a voice
MAX_SPEAKER_S = 60.0  # per speaker: the longest turns first, up to this much speech
MAX_WORKERS = 4  # embed_all: parallel pieces (more cores mostly serve the other jobs)


@dataclasses.dataclass(frozen=True)
class SpeakerMatch:
    label: str
    name: str | None  # None: no sample matched well enough
    similarity: float | None  # best similarity to any sample


def embedding_model(diarization_pipeline: Any) -> Any:
    """The speaker-embedding inference of a loaded diarization pipeline (whisperx wrapper or pyannote pipeline)."""
    pipeline = getattr(diarization_pipeline, "model", diarization_pipeline)
    embedding = getattr(pipeline, "_embedding", None)
    if embedding is None:
        raise ValueError(f"{type(pipeline).__name__} has no speaker-embedding model")
    return embedding


def embed(model: Any, samples: np.ndarray) -> np.ndarray | None:
    """One L2-normalised voice vector for `samples` (16 kHz mono), or None when it is too short to embed. On one
    intra-op torch thread: one piece is a short sequential pass; on CPU, intra-op threads mostly wait for each other,
    and on a busy machine that waiting explodes (10 s of speech, 2-core box at load 18: 29–47 s with 2 threads, 0.8 s
    with 1). Jobs hold the engine's lock meanwhile, so nothing else computes."""
    with torch_threads(1):
        return _embed(model, samples)


def embed_all(model: Any, clips: Sequence[np.ndarray], workers: int | None = None) -> list[np.ndarray | None]:
    """`embed` of each clip, `workers` at a time (default: one per usable core, at most MAX_WORKERS), each on one
    torch thread: many short pieces in parallel Python threads (torch releases the GIL) rather than one piece on
    many intra-op threads, which wait for each other (188 pieces of a meeting on this 2-core box under load: 23 s
    on one thread, 19 s on two workers, 47 s on two intra-op threads)."""
    workers = max(1, min(workers or usable_cores(), MAX_WORKERS, len(clips)))
    with torch_threads(1):
        if workers == 1:
            return [_embed(model, clip) for clip in clips]
        with ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool:
            return list(pool.map(lambda clip: _embed(model, clip), clips))


def _embed(model: Any, samples: np.ndarray) -> np.ndarray | None:
    import torch

    piece = int(PIECE_S * SAMPLE_RATE)
    minimum = max(int(getattr(model, "min_num_samples", 0) or 0), int(MIN_TURN_S * SAMPLE_RATE))
    vectors = []
    for start in range(0, len(samples), piece):
        chunk = samples[start: start + piece]
        if len(chunk) < minimum:
            continue
        waveform = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[None, None, :]
        vector = np.asarray(model(waveform))[0]
        if np.all(np.isfinite(vector)):
            vectors.append(vector * len(chunk))  # weight by length
    if not vectors:
        return None
    return _normalised(np.sum(vectors, axis=0))


def speaker_voices(model: Any, audio: np.ndarray, turns: Iterable[SpeakerTurn]) -> dict[str, np.ndarray]:
    """Each diarized speaker's voice vector, from its longest turns (up to MAX_SPEAKER_S of speech)."""
    by_label: dict[str, list[SpeakerTurn]] = {}
    for turn in turns:
        if turn.end - turn.start >= MIN_TURN_S:
            by_label.setdefault(turn.speaker, []).append(turn)
    voices = {}
    for label, spoken in by_label.items():
        spoken.sort(key=lambda turn: turn.end - turn.start, reverse=True)
        pieces, total = [], 0.0
        for turn in spoken:
            if total >= MAX_SPEAKER_S:
                break
            pieces.append(audio[int(turn.start * SAMPLE_RATE): int(turn.end * SAMPLE_RATE)])
            total += turn.end - turn.start
        vectors = [v for v in embed_all(model, pieces) if v is not None]
        if vectors:
            voices[label] = _normalised(np.mean(vectors, axis=0))
    return voices


def naming_threshold(model: Any) -> float:
    """The similarity threshold for naming speakers with this speaker-embedding model (`THRESHOLDS`)."""
    return THRESHOLDS.get(network_name(model), UNCALIBRATED_THRESHOLD)


def network_of(model: Any) -> Any:
    """The network inside a pyannote embedding inference (or the model itself)."""
    return getattr(model, "model_", None) or getattr(model, "model", None) or model


def network_name(model: Any) -> str:
    """The network's class name: what thresholds are calibrated for."""
    return type(network_of(model)).__name__


def match(voices: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray], *,
          threshold: float = UNCALIBRATED_THRESHOLD) -> dict[str, SpeakerMatch]:
    """Labels → names, one-to-one, highest similarity first; every label of `voices` gets an entry."""
    scores = {(label, name): float(np.dot(voice, ref)) for label, voice in voices.items()
              for name, ref in references.items()}
    best = {label: max((s for (lab, _), s in scores.items() if lab == label), default=None) for label in voices}
    matches = {label: SpeakerMatch(label, None, _round(best[label])) for label in voices}
    taken: set[str] = set()
    for (label, name), score in sorted(scores.items(), key=lambda item: item[1], reverse=True):
        if score < threshold:
            break
        if matches[label].name is None and name not in taken:
            matches[label] = SpeakerMatch(label, name, _round(score))
            taken.add(name)
    return matches


def reference_voices(model: Any, samples: Mapping[str, Iterable[np.ndarray]]) -> tuple[dict[str, np.ndarray],
                                                                                      list[str]]:
    """Name → voice vector, averaging several samples of one name; also the names whose samples were too short."""
    voices, too_short = {}, []
    for name, clips in samples.items():
        vectors = [v for v in embed_all(model, clips) if v is not None]
        if vectors:
            voices[name] = _normalised(np.mean(vectors, axis=0))
        else:
            too_short.append(name)
    return voices, too_short


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
