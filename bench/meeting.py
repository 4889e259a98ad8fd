"""A synthetic N-minute, three-speaker meeting from festival voices, with its script and reference turns.

Each distinct sentence is synthesised once per voice (festival is the slow part), then the meeting is laid out
from a seeded random order of (speaker, sentence) with pauses of 0.3-1.2 s, so an hour takes ~1 minute to
build. Files are cached under a scratch folder (never committed): `<dir>/meeting-<minutes>m.wav` and `.json`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from tests.speech import FEMALE, MALE, SAMPLE_RATE, Recording, synthesize

SECOND_MALE = "voice_ked_diphone"
VOICES = {MALE: "kal", FEMALE: "slt", SECOND_MALE: "ked"}

SENTENCES = (
    "Good morning everyone, let us start with the budget for the next quarter.",
    "The marketing team asked for two more weeks before the launch.",
    "I think we should move the release to the end of the month.",
    "Sales in the northern region grew by twelve percent last year.",
    "Could you send me the slides after the meeting?",
    "We still need a decision on the new office in the city centre.",
    "The customer survey shows that people like the new design.",
    "Our support team answered most tickets within one day.",
    "Let me share the numbers from the last three months.",
    "The server costs went down after we moved to the new provider.",
    "I agree with that plan, but we need more people for testing.",
    "Who is going to write the report for the board?",
    "The training for new staff will take place next Tuesday.",
    "We should ask the legal team to review the contract first.",
    "The project is on time, and the quality looks good so far.",
    "Please add this topic to the agenda for our next meeting.",
    "I will call the supplier this afternoon and ask about the delay.",
    "The prototype works well, but the battery life is too short.",
    "Our website had more visitors in March than ever before.",
    "Let us take a short break and continue in ten minutes.",
    "The new hires start on Monday, and they need laptops.",
    "I am worried that the deadline is too tight for this feature.",
    "The feedback from the pilot customers was mostly positive.",
    "We can reduce the travel budget by holding more video calls.",
    "Thank you all for your time, that is everything for today.",
)


def make_meeting(folder: Path, minutes: float, seed: int = 7,
                 phases: tuple[tuple[str, ...], ...] | None = None) -> Recording:
    """The meeting for `minutes` (built once, then reused from `folder`). With `phases` (groups of voice short
    names, e.g. `(("kal", "slt"), ("slt", "ked"), ("kal", "ked"))`), the meeting runs in equal parts with only
    that part's voices, so a speaker can leave and come back much later (a test of speakers staying the same
    person across a long file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"meeting-{minutes:g}m" + ("-" + "_".join("+".join(group) for group in phases) if phases else "")
    wav, reference = folder / f"{stem}.wav", folder / f"{stem}.json"
    if wav.is_file() and reference.is_file():
        data = json.loads(reference.read_text())
        return Recording(wav, data["script"], tuple(tuple(turn) for turn in data["turns"]))
    rng = random.Random(seed)
    by_name = {name: voice for voice, name in VOICES.items()}
    groups = [[by_name[name] for name in group] for group in phases] if phases else [list(VOICES)]
    cache: dict[tuple[str, int], np.ndarray] = {}
    total = int(minutes * 60 * SAMPLE_RATE)
    pieces, turns, words, cursor, previous = [], [], [], 0, None
    for number, voices in enumerate(groups, start=1):
        target = total * number // len(groups)
        while cursor < target:
            voice = rng.choice([v for v in voices if v != previous] or voices)  # turns alternate between speakers
            index = rng.randrange(len(SENTENCES))
            if (voice, index) not in cache:
                cache[voice, index] = synthesize(SENTENCES[index], voice)
            speech = cache[voice, index]
            gap = np.zeros(int(rng.uniform(0.3, 1.2) * SAMPLE_RATE), dtype=np.float32)
            if cursor + len(gap) + len(speech) > target:
                break
            start = cursor + len(gap)
            turns.append((round(start / SAMPLE_RATE, 3), round((start + len(speech)) / SAMPLE_RATE, 3),
                          VOICES[voice]))
            words.append(SENTENCES[index])
            pieces += [gap, speech]
            cursor = start + len(speech)
            previous = voice
        pieces.append(np.zeros(max(0, target - cursor), dtype=np.float32))
        cursor = max(cursor, target)
    soundfile.write(str(wav), np.concatenate(pieces), SAMPLE_RATE, subtype="PCM_16")
    script = " ".join(words)
    reference.write_text(json.dumps({"script": script, "turns": turns}))
    return Recording(wav, script, tuple(turns))


RETURNING = (("kal", "slt"), ("slt", "ked"), ("kal", "ked"))  # kal leaves after the first part, returns in the last


def labels_by_part(recording: Recording, hypothesis: Sequence[tuple[float, float, str]],
                   parts: int) -> dict[tuple[str, int], str]:
    """For each (voice, part) of a phased meeting: the hypothesis label that covers most of that voice's speech
    in that part. A speaker kept across the file has one label in every part it speaks in."""
    end = max(turn_end for _, turn_end, _ in recording.turns)
    size = end / parts
    overlap: dict[tuple[str, int], dict[str, float]] = {}
    for start, stop, voice in recording.turns:
        part = min(int(start // size), parts - 1)
        for hyp_start, hyp_end, label in hypothesis:
            shared = min(stop, hyp_end) - max(start, hyp_start)
            if shared > 0:
                votes = overlap.setdefault((voice, part), {})
                votes[label] = votes.get(label, 0.0) + shared
    return {key: max(votes, key=votes.get) for key, votes in overlap.items()}
