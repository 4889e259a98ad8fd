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
SECOND_MALE = "voice_ked_diphone"

DIALOGUE = (
    (MALE, "Good morning. I would like to book a table for two people tonight."),
    (FEMALE, "Certainly. We have a quiet table by the window at seven o'clock."),
    (MALE, "That sounds perfect. Could we also order a bottle of red wine?"),
    (FEMALE, "Of course. I will write it down and keep the table for you."),
    (MALE, "Thank you very much. We will see you this evening."),
)


Word = tuple[str, float, float, str]  # (word, start, end, speaker), seconds in the recording

QUICK_TURNS = (
    (MALE, "Did you send the report to the client this morning?"),
    (FEMALE, "Yes, right after the meeting."),
    (SECOND_MALE, "Good. Then we can start on the budget."),
    (MALE, "I think the budget needs another week."),
    (FEMALE, "No, we agreed on Friday."),
    (SECOND_MALE, "Fine, Friday it is."),
    (MALE, "And who will call the printer?"),
    (FEMALE, "I will do it today."),
)


# The voice library's recordings: one person alone (to enrol), then other words in other recordings.
ENROLMENT = (
    "The weather report says it will rain again tomorrow afternoon in the north.",
    "Please remember to bring the signed contract to the office before noon on Monday.",
    "Our team finished the new design and the customers seem to like it very much.",
)
THREE_PEOPLE = (
    (MALE, "Let us begin with the numbers from the spring campaign."),
    (FEMALE, "Sales grew by a third, mostly in the southern region."),
    (SECOND_MALE, "The warehouse kept up, although shipping took longer than planned."),
    (MALE, "Then we should hire two more drivers before the summer."),
    (FEMALE, "I agree, and I will ask finance for the budget today."),
    (SECOND_MALE, "Send me the figures and I will draft the contracts."),
)
WITHOUT_MALE = tuple((voice, text) for voice, text in THREE_PEOPLE if voice != MALE)


@dataclasses.dataclass(frozen=True)
class Recording:
    path: Path
    script: str
    turns: tuple[tuple[float, float, str], ...]  # reference (start, end, speaker)
    words: tuple[Word, ...] = ()  # reference word timings, where the recording was made with them


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


def synthesize_espeak(text: str, voice: str) -> np.ndarray:
    """One utterance from espeak-ng (`voice` such as `en+m1`, `en-us+f3`) at 16 kHz mono, trimmed."""
    import torch
    import torchaudio

    with tempfile.TemporaryDirectory() as tmp:
        wav_file = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav_file), text], check=True, capture_output=True)
        samples, rate = soundfile.read(str(wav_file), dtype="float32")
    resampled = torchaudio.functional.resample(torch.from_numpy(samples), rate, SAMPLE_RATE).numpy()
    return _trim(resampled)


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


def synthesize_timed(text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """One utterance at 16 kHz with festival's own word boundaries (first and last phone of each word),
    shifted to match the leading silence trimmed off."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_file, script = Path(tmp) / "out.wav", Path(tmp) / "synth.scm"
        quoted = text.replace("\\", " ").replace('"', " ")
        script.write_text(
            f"({voice})\n"
            f'(set! utt (utt.synth (Utterance Text "{quoted}")))\n'
            f"(utt.wave.resample utt {SAMPLE_RATE})\n"
            f'(utt.save.wave utt "{wav_file}" \'riff)\n'
            '(mapcar (lambda (w) (format t "%s %f %f\\n" (item.name w)'
            ' (item.feat w "R:SylStructure.daughter1.daughter1.segment_start")'
            ' (item.feat w "R:SylStructure.daughtern.daughtern.segment_end")))'
            " (utt.relation.items utt 'Word))\n", encoding="utf-8")
        printed = subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True, text=True).stdout
        samples, rate = soundfile.read(str(wav_file), dtype="float32")
    assert rate == SAMPLE_RATE
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    first, last = (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, len(samples))
    offset = first / SAMPLE_RATE
    words = []
    for line in printed.splitlines():
        name, start, end = line.split()
        words.append((name, max(float(start) - offset, 0.0), min(float(end) - offset, (last - first) / SAMPLE_RATE)))
    return samples[first:last], words


def make_conversation(path: Path, lines, gaps: list[float]) -> Recording:
    """Lines mixed onto one track: `gaps[i]` seconds of silence before line i (negative: it overlaps the line
    before). Reference turns and word timings are exact."""
    speakers = {MALE: "male", FEMALE: "female", SECOND_MALE: "second_male"}
    rendered = [(speakers.get(voice, voice), *synthesize_timed(text, voice)) for voice, text in lines]
    starts, cursor = [], 0.0
    for (_, samples, _), gap in zip(rendered, gaps, strict=True):
        start = max(cursor + gap, 0.0)
        starts.append(start)
        cursor = max(cursor, start + len(samples) / SAMPLE_RATE)
    track = np.zeros(int((cursor + 0.5) * SAMPLE_RATE) + 1, dtype=np.float32)
    turns, words = [], []
    for (speaker, samples, timings), start in zip(rendered, starts, strict=True):
        offset = round(start * SAMPLE_RATE)
        track[offset:offset + len(samples)] += samples
        turns.append((offset / SAMPLE_RATE, (offset + len(samples)) / SAMPLE_RATE, speaker))
        words += [(word, offset / SAMPLE_RATE + s, offset / SAMPLE_RATE + e, speaker) for word, s, e in timings]
    peak = float(np.abs(track).max()) or 1.0
    soundfile.write(str(path), track / max(peak, 1.0), SAMPLE_RATE)
    return Recording(path, " ".join(text for _, text in lines), tuple(turns), tuple(words))


def word_timing_errors(reference: tuple[Word, ...],
                       hypothesis: list[tuple[str, float | None]]) -> tuple[float, list[float]]:
    """Match hypothesis words to reference words (same normalised spelling, in order) → (share of reference
    words matched to a timed word, |start error| of each match)."""
    import difflib

    ref = [(normalize(word)[0] if normalize(word) else "", start) for word, start, _, _ in reference]
    hyp = [(normalize(word)[0] if normalize(word) else "", start) for word, start in hypothesis]
    matcher = difflib.SequenceMatcher(a=[w for w, _ in ref], b=[w for w, _ in hyp], autojunk=False)
    errors = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            start = hyp[block.b + k][1]
            if start is not None:
                errors.append(abs(start - ref[block.a + k][1]))
    return len(errors) / max(len(ref), 1), errors


def normalize(text: str) -> list[str]:
    text = text.lower().replace("o'clock", "oclock").replace("o clock", "oclock")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


def levenshtein(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words / reference length."""
    ref = normalize(reference)
    return levenshtein(ref, normalize(hypothesis)) / max(len(ref), 1)


def diarization_error_rate(reference_turns, hypothesis_turns, collar: float = 0.0, *, detailed: bool = False):
    """pyannote.metrics DER between (start, end, speaker) lists (with `detailed`, its components in seconds too)."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns) -> Annotation:
        result = Annotation()
        for index, (start, end, speaker) in enumerate(turns):
            result[Segment(start, end), index] = speaker
        return result

    return DiarizationErrorRate(collar=collar)(annotation(reference_turns), annotation(hypothesis_turns),
                                               detailed=detailed)


def placed_in_silence(source: Path, target: Path, before_s: float, after_s: float) -> Path:
    """`source` with `before_s` of silence before it and `after_s` after, encoded by ffmpeg as `target`'s suffix
    says (AAC for .m4a): a long recording whose speech is known, without synthesising an hour of it."""
    codec = ["-c:a", "aac", "-b:a", "48k"] if target.suffix == ".m4a" else []
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-af",
                    f"adelay=delays={before_s * 1000:.0f}:all=1,apad=pad_dur={after_s:g}", *codec, str(target)],
                   check=True)
    return target


def later(result, offset_s: float):
    """`result` (a `core.Result`) as if its speech had started `offset_s` later in the recording."""
    def moved(value: float | None) -> float | None:
        return None if value is None else value + offset_s

    segments = tuple(dataclasses.replace(
        segment, start=segment.start + offset_s, end=segment.end + offset_s,
        words=tuple(dataclasses.replace(word, start=moved(word.start), end=moved(word.end)) for word in segment.words))
        for segment in result.segments)
    return dataclasses.replace(result, segments=segments, duration=result.duration + offset_s)
