"""Test speech made here with festival, with the exact script and reference speaker turns."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

SAMPLE_RATE = 16_000
MALE = "voice_kal_diphone"
FEMALE = "voice_cmu_us_slt_arctic_hts"

DIALOGUE = (
    (MALE, "Good morning. I would like to book a table for two people tonight."),
    (FEMALE, "Certainly. We have a quiet table by the window at seven o'clock."),
    (MALE, "That sounds perfect. Could we also order a bottle of red wine?"),
    (FEMALE, "Of course. I will write it down and keep the table for you."),
    (MALE, "Thank you very much. We will see you this evening."),
)


@dataclasses.dataclass(frozen=True)
class Recording:
    path: Path
    script: str
    turns: tuple[tuple[float, float, str], ...]  # reference (start, end, speaker)


def festival_available() -> bool:
    return shutil.which("text2wave") is not None


def synthesize(text: str, voice: str) -> np.ndarray:
    """One utterance at 16 kHz mono float32, trimmed of the voice's leading/trailing silence."""
    with tempfile.TemporaryDirectory() as tmp:
        text_file, wav_file = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        text_file.write_text(text, encoding="utf-8")
        subprocess.run(["text2wave", "-eval", f"({voice})", str(text_file), "-o", str(wav_file), "-F",
                        str(SAMPLE_RATE)], check=True, capture_output=True)
        samples, rate = soundfile.read(str(wav_file), dtype="float32")
    assert rate == SAMPLE_RATE
    return _trim(samples)


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return samples[loud[0]: loud[-1] + 1] if loud.size else samples


def make_dialogue(path: Path, lines=DIALOGUE, gap_s: float = 0.6) -> Recording:
    """Concatenate the lines with silent gaps; reference turns are exact sample positions."""
    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
    pieces, turns, cursor = [gap], [], len(gap)
    speakers = {MALE: "male", FEMALE: "female"}
    for voice, text in lines:
        speech = synthesize(text, voice)
        turns.append((cursor / SAMPLE_RATE, (cursor + len(speech)) / SAMPLE_RATE, speakers.get(voice, voice)))
        pieces += [speech, gap]
        cursor += len(speech) + len(gap)
    soundfile.write(str(path), np.concatenate(pieces), SAMPLE_RATE)
    return Recording(path, " ".join(text for _, text in lines), tuple(turns))


def normalize(text: str) -> list[str]:
    text = text.lower().replace("o'clock", "oclock").replace("o clock", "oclock")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words / reference length."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[-1] / max(len(ref), 1)


def diarization_error_rate(reference_turns, hypothesis_turns, collar: float = 0.0) -> float:
    """pyannote.metrics DER between (start, end, speaker) lists."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns) -> Annotation:
        result = Annotation()
        for index, (start, end, speaker) in enumerate(turns):
            result[Segment(start, end), index] = speaker
        return result

    return DiarizationErrorRate(collar=collar)(annotation(reference_turns), annotation(hypothesis_turns))
