"""`python -m bench --parts voices`: how well the voice library recognises people, and where its threshold lies.

Open set, as in real use: half of the voices are enrolled (three sentences of each, alone, through the real
enrolment path: diarization finds the speech, the pipeline's embedding model makes the voiceprint), the other
half are strangers. Three-person recordings mix both, with other sentences, and go through diarization and the
engine's recognition (one to one, best first). For each threshold: the identification rate (enrolled people named
correctly, of their appearances) and false accepts (speakers given a name that is not theirs: strangers named or
people named as someone else, of all speaker appearances). Voices: festival's kal, ked and slt, and espeak-ng
variants, which share one synthesiser and are far closer to each other than people are: a hard case. A real
recording is added: pyannote's two-speaker sample, each speaker enrolled from the first half and recognised in
the second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.meeting import SENTENCES
from core.speakers.diarization import diarize
from core.speakers.recognition import voiceprint
from core.speakers.verification import embedding_model, match, naming_threshold, speaker_voices
from core.transcript.result import SpeakerTurn
from tests import speech

# name → (kind, synthesiser voice); the first half is enrolled, the second half are strangers
VOICES = {
    "kal": ("festival", speech.MALE), "slt": ("festival", speech.FEMALE), "es-m1": ("espeak", "en+m1"),
    "es-f3": ("espeak", "en+f3"),
    "ked": ("festival", speech.SECOND_MALE), "es-us-m3": ("espeak", "en-us+m3"), "es-f5": ("espeak", "en-us+f5"),
    "es-scot": ("espeak", "en-gb-scotland"),
}
ENROLLED = ("kal", "slt", "es-m1", "es-f3")
THRESHOLDS = tuple(round(0.40 + 0.05 * k, 3) for k in range(11))  # 0.40 … 0.90
GAP_S = 0.5


def synthesize(name: str, text: str) -> np.ndarray:
    kind, voice = VOICES[name]
    return speech.synthesize(text, voice) if kind == "festival" else speech.synthesize_espeak(text, voice)


def conversation(lines: list[tuple[str, str]]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    gap = np.zeros(int(GAP_S * speech.SAMPLE_RATE), dtype=np.float32)
    pieces, turns, cursor = [gap], [], len(gap)
    for name, text in lines:
        samples = synthesize(name, text)
        turns.append((cursor / speech.SAMPLE_RATE, (cursor + len(samples)) / speech.SAMPLE_RATE, name))
        pieces += [samples, gap]
        cursor += len(samples) + len(gap)
    return np.concatenate(pieces), turns


def owner(turn_spans: list[SpeakerTurn], label: str, reference: list[tuple[float, float, str]]) -> str:
    """The reference voice that speaks most within a diarized label's turns."""
    overlap: dict[str, float] = {}
    for turn in turn_spans:
        if turn.speaker != label:
            continue
        for start, end, name in reference:
            overlap[name] = overlap.get(name, 0.0) + max(0.0, min(end, turn.end) - max(start, turn.start))
    return max(overlap, key=lambda name: overlap[name]) if overlap else "?"


def trials(pipeline: Any, references: dict[str, np.ndarray], audio: np.ndarray,
           reference_turns: list[tuple[float, float, str]]) -> list[tuple[str, dict[str, float]]]:
    """(true voice, {enrolled name: score}) per diarized speaker of one recording."""
    turns = list(diarize(pipeline, audio).turns)
    voices = speaker_voices(embedding_model(pipeline), audio, turns)
    return [(owner(turns, label, reference_turns), {name: float(np.dot(vector, ref)) for name, ref in
                                                    references.items()}) for label, vector in voices.items()]


def rates(recordings: list[list[tuple[str, dict[str, float]]]], threshold: float) -> tuple[int, int, int, int]:
    """(enrolled appearances, named correctly, all appearances, named wrongly) at `threshold`."""
    known = correct = total = wrong = 0
    for speakers in recordings:
        found = _match_scores({f"{truth}#{k}": scores for k, (truth, scores) in enumerate(speakers)}, threshold)
        for key, name in found.items():
            truth = key.split("#")[0]
            total += 1
            known += truth in speakers[0][1]  # every recording's score table lists the enrolled names
            correct += name == truth
            wrong += name is not None and name != truth
    return known, correct, total, wrong


def _match_scores(voices: dict[str, dict[str, float]], threshold: float) -> dict[str, str | None]:
    """The engine's rule (`core.speakers.verification.match`: one to one, best first) on precomputed scores: with
    the references as unit axes, each speaker's row of scores has exactly those dot products."""
    names = sorted({name for scores in voices.values() for name in scores})
    references = {name: axis for name, axis in zip(names, np.eye(len(names)), strict=True)}
    rows = {key: np.array([scores[name] for name in names]) for key, scores in voices.items()}
    return {key: found.name for key, found in match(rows, references, threshold=threshold).items()}


def voices_part(settings: Any, scratch: Path, *, meetings: int = 8, seed: int = 7,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    from core.models.registry import ModelRegistry

    pipeline = ModelRegistry(settings).diarization()
    enrolment = {name: conversation([(name, text) for text in speech.ENROLMENT])[0] for name in ENROLLED}
    references = {name: voiceprint(pipeline, audio, source="bench").vector for name, audio in enrolment.items()}
    chooser = random.Random(seed)
    synthetic = []
    for index in range(meetings):
        people = chooser.sample(sorted(VOICES), 3)
        texts = chooser.sample(SENTENCES, 6)
        audio, turns = conversation([(people[k % 3], text) for k, text in enumerate(texts)])
        synthetic.append(trials(pipeline, references, audio, turns))
        log(f"recording {index + 1}/{meetings}: {', '.join(people)}")
    real = real_trials(pipeline)
    chosen_threshold = naming_threshold(embedding_model(pipeline))
    rows, figures = [], {}
    for threshold in THRESHOLDS:
        known, correct, total, wrong = rates(synthetic, threshold)
        real_known, real_correct, _, real_wrong = rates(real, threshold)
        figures[threshold] = (correct / max(known, 1), wrong / max(total, 1))
        chosen = " ← chosen" if threshold == chosen_threshold else ""
        rows.append((f"{threshold:.3f}{chosen}", f"{correct}/{known} = {correct / max(known, 1):.0%}",
                     f"{wrong}/{total} = {wrong / max(total, 1):.1%}",
                     f"{real_correct}/{real_known}, {real_wrong} wrong"))
    same = [scores[truth] for speakers in synthetic for truth, scores in speakers if truth in scores]
    other = [score for speakers in synthetic for truth, scores in speakers for name, score in scores.items()
             if name != truth]
    model_name = type(embedding_model(pipeline).model_).__name__
    print(f"\n## Voice library: recognition by threshold ({model_name}; {meetings} three-person recordings, "
          f"{len(ENROLLED)} of {len(VOICES)} voices enrolled)\n")
    header = ("threshold", "identification rate", "false accepts", "real: pyannote sample (2 people)")
    print("\n".join(["| " + " | ".join(header) + " |", "|---" * len(header) + "|",
                     *("| " + " | ".join(row) + " |" for row in rows)]))
    print(f"\nscores: same person min {min(same):.3f} / median {np.median(same):.3f}; different people max "
          f"{max(other):.3f} / median {np.median(other):.3f}")
    return {"voices": figures, "same_min": min(same), "other_max": max(other)}


def real_trials(pipeline: Any) -> list[list[tuple[str, dict[str, float]]]]:
    """pyannote's sample: each speaker enrolled from its turns in the first half, recognised in the second."""
    from importlib import resources

    import soundfile
    from pyannote.database.util import load_rttm

    folder = resources.files("pyannote.audio") / "sample"
    audio, _ = soundfile.read(str(folder / "sample.wav"), dtype="float32")
    annotation = next(iter(load_rttm(str(folder / "sample.rttm")).values()))
    reference = [(seg.start, seg.end, str(label)) for seg, _, label in annotation.itertracks(yield_label=True)]
    half = len(audio) / speech.SAMPLE_RATE / 2
    references = {}
    for name in sorted({label for _, _, label in reference}):
        turns = [SpeakerTurn(start=start, end=min(end, half), speaker=name) for start, end, who in reference
                 if who == name and start < half]
        if sum(t.end - t.start for t in turns) >= 2.0:
            references[name] = voiceprint(pipeline, audio, source="bench", turns=tuple(turns), label=name).vector
    second = audio[int(half * speech.SAMPLE_RATE):]
    shifted = [(s - half, e - half, n) for s, e, n in reference if e > half]
    return [trials(pipeline, references, second, shifted)]
