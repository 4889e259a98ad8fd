"""Who is who on the quality set's joined conversations (bench/quality/conversations.json), apart from DER:

- speaker verification on the real utterances: every source utterance (whole, one speaker) and a 2 s piece of
  its speech embedded by the diarization pipeline's own speaker-embedding model (`core.speakers.verification`),
  all same-speaker and different-speaker cosine pairs within a split, their equal error rate and distributions;
- the voice library as people use it: each speaker who appears in two or more conversations of a split is
  enrolled (the engine's own `voiceprint`, into a scratch library) from the utterances they say in the first of
  them; the engine then transcribes every clip with recognition on, and the report counts, for each reference
  speaker, the words named after them (in the enrolment conversation, in the others), the words given another
  person's name, and any name given to a stranger (a speaker never enrolled, or anyone in the AMI clips).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench import conversations
from bench import quality_metrics as qm
from bench.quality_runs import Clip, Output

CROP_S = 2.0  # the short piece: the first 2 s of an utterance's speech (an interjection's length)
SILENCE_S = 0.3  # between the utterances of an enrolment clip


def utterance_splits(spec: dict[str, Any], splits: Iterable[str]) -> dict[str, str]:
    """Utterance → split, for the utterances of speakers in `splits`."""
    wanted = set(splits)
    return {name: spec["speakers"][entry["speaker"]]["split"] for name, entry in spec["utterances"].items()
            if spec["speakers"][entry["speaker"]]["split"] in wanted}


def verification(pipeline: Any, splits: Iterable[str], folder: Path = conversations.QUALITY_DIR) -> dict[str, Any]:
    """Per split and kind ("whole", "2 s"): EER, its threshold, and the same / different score distributions of
    the utterances embedded by `pipeline`'s (a loaded diarization pipeline's) speaker-embedding model."""
    from core.speakers.verification import embed, embedding_model

    spec = conversations.load_spec(folder)
    model = embedding_model(pipeline)
    vectors: dict[str, dict[str, np.ndarray]] = {"whole": {}, f"{CROP_S:g} s": {}}
    names = utterance_splits(spec, splits)
    for name in names:
        samples = conversations.decode(folder / spec["utterances"][name]["audio"])
        for kind, piece in (("whole", samples),
                            (f"{CROP_S:g} s", conversations.trim(samples)[:int(CROP_S * conversations.SAMPLE_RATE)])):
            vector = embed(model, piece)
            if vector is not None:
                vectors[kind][name] = vector
    figures: dict[str, Any] = {}
    for split in sorted(set(names.values())):
        for kind, found in vectors.items():
            same, different = [], []
            members = sorted(name for name in found if names[name] == split)
            for a, b in itertools.combinations(members, 2):
                score = float(np.dot(found[a], found[b]))
                same_speaker = spec["utterances"][a]["speaker"] == spec["utterances"][b]["speaker"]
                (same if same_speaker else different).append(score)
            eer, threshold = qm.equal_error_rate(same, different)
            figures[f"{split}/{kind}"] = {"split": split, "kind": kind, "eer": eer, "threshold": threshold,
                                          "utterances": len(members),
                                          "speakers": len({spec["utterances"][n]["speaker"] for n in members}),
                                          "same": qm.score_summary(same), "different": qm.score_summary(different)}
    return figures


def enrolment_plan(spec: dict[str, Any], clip_ids: Iterable[str]) -> dict[str, tuple[str, list[str]]]:
    """Speaker → (the conversation they are enrolled from, its whole utterances of theirs), for each speaker who
    appears in two or more of the conversations in `clip_ids` (the others stay strangers)."""
    wanted = set(clip_ids)
    appearances: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for entry in spec["conversations"]:
        if entry["id"] not in wanted:
            continue
        spoken: dict[str, list[str]] = defaultdict(list)
        for turn in entry["turns"]:
            name = turn["utterance"]
            if name in spec["utterances"]:  # whole utterances only: a piece is too short to enrol from
                spoken[spec["utterances"][name]["speaker"]].append(name)
            else:
                spoken.setdefault(spec["utterances"][spec["pieces"][name]["utterance"]]["speaker"], [])
        for speaker, names in spoken.items():
            appearances[speaker].append((entry["id"], names))
    plan = {}
    for speaker, found in appearances.items():
        usable = [(conversation, names) for conversation, names in found if names]
        if len(found) >= 2 and usable:
            plan[speaker] = usable[0]
    return plan


def enrolment_audio(spec: dict[str, Any], names: list[str], folder: Path = conversations.QUALITY_DIR) -> np.ndarray:
    """One person's enrolment clip: their utterances, trimmed, one after another."""
    silence = np.zeros(int(SILENCE_S * conversations.SAMPLE_RATE), dtype=np.float32)
    parts = []
    for name in names:
        parts += [conversations.trim(conversations.decode(folder / spec["utterances"][name]["audio"])), silence]
    return np.concatenate(parts)


def enrol(engine: Any, plan: dict[str, tuple[str, list[str]]],
          folder: Path = conversations.QUALITY_DIR) -> dict[str, str]:
    """Each planned speaker into the engine's voice library (named after their speaker id); → speaker: enrolment
    conversation. A speaker the engine refuses (too little speech, more than one voice found) stays a stranger."""
    from core.errors import InvalidInput

    spec = conversations.load_spec(folder)
    enrolled = {}
    for speaker, (conversation, names) in sorted(plan.items()):
        try:
            voiceprint, model = engine.voiceprint(enrolment_audio(spec, names, folder),
                                                  source=f"bench: {conversation}")
        except InvalidInput:
            continue
        engine.voices.add(speaker, [voiceprint], model)
        enrolled[speaker] = conversation
    return enrolled


def naming(clip: Clip, output: Output, enrolled: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per reference speaker of a joined conversation: its words (`words`), those the transcript gives its name
    (`named`), another enrolled person's name (`misnamed`) or no name. Words are paired by the WER alignment of
    the transcript's words (with their speakers) to the reference turns' words."""
    turns = clip.reference_turns() or []
    reference, owners = [], []
    for turn in turns:
        words = qm.wer_words(turn["text"])
        reference += words
        owners += [turn["speaker"]] * len(words)
    hypothesis, labels = [], []
    for unit in output.units:
        words = qm.wer_words(unit.text)
        hypothesis += words
        labels += [unit.speaker] * len(words)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"words": 0, "named": 0, "misnamed": 0})
    for owner in owners:
        counts[owner]["words"] += 1
    for r, h in qm.align(reference, hypothesis):
        if r is None or h is None:
            continue
        label = labels[h]
        if label == owners[r]:
            counts[owners[r]]["named"] += 1
        elif label in enrolled:
            counts[owners[r]]["misnamed"] += 1
    return dict(counts)


def named_strangers(output: Output, enrolled: dict[str, str]) -> set[str]:
    """The enrolled names a clip with no enrolled speaker in it (AMI, jfk) was given."""
    return {unit.speaker for unit in output.units if unit.speaker in enrolled}


def library_figures(clips: list[Clip], outputs: dict[str, Output], enrolled: dict[str, str],
                    speaker_split: dict[str, str]) -> dict[str, Any]:
    """The voice library's figures, per split: enrolled speakers in their enrolment conversation and in the
    others, strangers, and names given in the clips without a joined reference (AMI, jfk)."""
    per_speaker: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {"enrolment": {"words": 0, "named": 0, "misnamed": 0},
                 "other": {"words": 0, "named": 0, "misnamed": 0}})
    other_clips: dict[str, list[str]] = defaultdict(list)
    for clip in clips:
        output = outputs.get(clip.id)
        if output is None:
            continue
        if clip.turns is None:
            named = named_strangers(output, enrolled)
            other_clips[clip.split].append(f"{clip.id}: {', '.join(sorted(named))}" if named else "")
            continue
        for speaker, counts in naming(clip, output, enrolled).items():
            where = "enrolment" if enrolled.get(speaker) == clip.id else "other"
            for key, value in counts.items():
                per_speaker[speaker][where][key] += value
    figures: dict[str, Any] = {}
    for speaker, found in per_speaker.items():
        figures[speaker] = {"split": speaker_split[speaker], "enrolled_from": enrolled.get(speaker), **found}
    names_given = {split: [entry for entry in entries if entry] for split, entries in other_clips.items()}
    return {"speakers": figures, "other_clips": names_given,
            "other_clips_checked": {split: len(entries) for split, entries in other_clips.items()}}


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.0f} %" if whole else "–"


def verification_table(figures: dict[str, Any], split: str) -> str:
    from bench.quality_report import markdown

    header = ["pieces", "utterances (speakers)", "EER %", "at cosine", "same speaker: mean / min / max (pairs)",
              "different speakers: mean / max (pairs)"]
    rows = []
    for found in figures.values():
        if found["split"] != split:
            continue
        same, different = found["same"], found["different"]
        rows.append([found["kind"], f"{found['utterances']} ({found['speakers']})",
                     "–" if math.isnan(found["eer"]) else f"{100 * found['eer']:.1f}",
                     "–" if math.isnan(found["threshold"]) else f"{found['threshold']:.3f}",
                     f"{same['mean']:.3f} / {same['min']:.3f} / {same['max']:.3f} ({same['count']})",
                     f"{different['mean']:.3f} / {different['max']:.3f} ({different['count']})"])
    return markdown(f"Speaker verification on the real utterances, {split} (open profile's embedding model)",
                    header, rows)


def library_table(figures: dict[str, Any], split: str) -> str:
    from bench.quality_report import markdown

    header = ["speaker", "enrolled from", "words named, enrolment conversation",
              "words named, other conversations", "words given another person's name"]
    rows = []
    for speaker, found in sorted(figures["speakers"].items(), key=lambda item: (item[1]["enrolled_from"] is None,
                                                                                 item[0])):
        if found["split"] != split:
            continue
        enrolment, other = found["enrolment"], found["other"]
        misnamed = enrolment["misnamed"] + other["misnamed"]
        if found["enrolled_from"]:
            rows.append([speaker, found["enrolled_from"], share(enrolment["named"], enrolment["words"]),
                         share(other["named"], other["words"]), str(misnamed)])
        else:
            words = enrolment["words"] + other["words"]
            rows.append([f"{speaker} (stranger)", "–", "–", "–", f"{misnamed} of {words}"])
    checked = figures["other_clips_checked"].get(split, 0)
    named = figures["other_clips"].get(split, [])
    rows.append([f"{checked} AMI / jfk clips (strangers)", "–", "–", "–",
                 "; ".join(named) if named else "no name given"])
    return markdown(f"Voice library on the joined conversations, {split} (ours; named = the enrolled person's "
                    "name on their own words)", header, rows)
