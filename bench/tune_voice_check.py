"""Choose the voice check's settings (core/speakers/voice_check.py) on DEV voices only, on more than the quality set's
eight dev conversations.

    python -m bench.tune_voice_check --models-dir models                 # the 8 dev conversations + 24 new mixes
    python -m bench.tune_voice_check --models-dir models --mixes 0       # the 8 dev conversations and AMI dev only

`--mixes N` composes N new conversations per recording condition from the dev speakers' committed utterances
(seeded: the same ones every run; a third of the two-person ones are two women or two men), with the conditions of
bench/conversations.py, and pieces 0.7–1.4 s cut at pauses as interjections (their text is unknown, so these mixes
score who spoke when, not WER). Each clip runs once through the engine up to the check; every piece of 0.4–10 s is
embedded once (any other span a setting asks for, on first use; all kept in the cache); then
the check alone reruns on those vectors with the current settings, without the check, and with each setting of
GRID varied alone around the current ones (an earlier full grid on the 8 dev conversations
was a plateau). Printed per setting: transcript words DER (collar ±0.25 s, outside overlapped speech) pooled over
each set, and how many clips got the speaker count right.
Held-out voices are never used.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import pickle
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from bench import conversations as mixes
from bench.quality_runs import Clip, load_set

CONDITIONS = ("clean", "quick", "quiet", "phone", "noise", "softer", "mp3", "interject")
GRID = {"KEEP": (0.25, 0.3, 0.35), "JOIN": (0.4, 0.45, 0.5), "MARGIN": (0.1, 0.15, 0.2),
        "MIN_PIECE_S": (0.5, 0.7, 1.0), "MAX_PIECE_S": (2.0, 4.0, 6.0, 8.0, 10.0),
        "MIN_REST_S": (0.5, 1.0, 2.0, 4.0)}  # each varied alone
EMBEDDED_S = (0.4, 10.0)  # pieces embedded once per clip: every length the grid can ask for


def interjections(spec: dict[str, Any], speakers: list[str]) -> list[str]:
    """Pieces 0.7–1.4 s from the start of a run of speech to a pause, one per utterance (added to `spec`)."""
    found = [name for name, piece in spec["pieces"].items()
             if spec["utterances"][piece["utterance"]]["speaker"] in speakers]
    for name, utterance in spec["utterances"].items():
        if utterance["speaker"] not in speakers:
            continue
        spans = mixes.speech_spans(mixes.decode(mixes.QUALITY_DIR / utterance["audio"]))
        cut = next(((spans[i][0], spans[j][1]) for i in range(len(spans)) for j in range(i, len(spans))
                    if 0.7 <= spans[j][1] - spans[i][0] <= 1.4
                    and (j + 1 == len(spans) or spans[j + 1][0] - spans[j][1] > 0.1)), None)
        if cut:
            spec["pieces"][f"{name}-cut"] = {"utterance": name, "start": cut[0], "end": cut[1], "text": "?"}
            found.append(f"{name}-cut")
    return found


def mix_entry(spec: dict[str, Any], cid: str, condition: str, people: list[str], rng: random.Random,
              pieces: list[str], seconds: Callable[[str], float]) -> dict[str, Any]:
    """One conversation's spec: people take turns (or one dominates, with interjections) until ~40 s."""
    by = {p: rng.sample(sorted(u for u, v in spec["utterances"].items() if v["speaker"] == p),
                        k=sum(v["speaker"] == p for v in spec["utterances"].values())) for p in people}
    entry: dict[str, Any] = {"id": cid, "split": "dev", "condition": condition, "turns": []}
    if condition == "interject":
        dominant = people[0]
        others = rng.sample([p for p in pieces if spec["utterances"][spec["pieces"][p]["utterance"]]["speaker"]
                             != dominant], k=3)
        for index, main in enumerate(by[dominant][:4]):
            entry["turns"].append({"utterance": main, "gap": round(rng.uniform(0.25, 0.5), 2)})
            if index < len(others):
                entry["turns"].append({"utterance": others[index], "gap": round(rng.uniform(0.15, 0.3), 2)})
        return {**entry, "dominant": dominant}
    entry.update({"quiet": {"level_dbfs": -30.0}, "noise": {"snr_db": 15.0, "seed": rng.randrange(10_000)},
                  "softer": {"softer": people[0], "softer_db": -10.0}, "mp3": {"bitrate": "64k"}}.get(condition, {}))
    for turn in range(14):
        person = people[turn % len(people)]
        if not by[person]:
            break
        gap = rng.uniform(0.1, 0.25) if condition == "quick" else rng.uniform(0.3, 0.75)
        entry["turns"].append({"utterance": by[person].pop(), "gap": round(gap, 2)})
        if sum(turn["gap"] + seconds(turn["utterance"]) for turn in entry["turns"]) + 0.6 > 40:  # compose's tail
            break
    return entry


def build_mixes(out: Path, per_condition: int, seed: int = 7) -> list[Clip]:
    """`per_condition` new dev conversations per condition in `out` (audio and references), as quality clips."""
    spec = mixes.load_spec()
    speakers = sorted(s for s, v in spec["speakers"].items() if v["split"] == "dev")
    pieces = interjections(spec, speakers)
    rng, clips, lengths = random.Random(seed), [], {}

    def seconds(name: str) -> float:
        if name not in lengths:
            lengths[name] = len(mixes.utterance(spec, name, mixes.QUALITY_DIR)[0]) / mixes.SAMPLE_RATE
        return lengths[name]

    out.mkdir(parents=True, exist_ok=True)
    for k, condition in itertools.product(range(per_condition), CONDITIONS):
        cid = f"conv-mix{k}-{condition}"
        for _ in range(200):
            count = 1 if condition == "interject" else 3 if condition == "quick" else rng.choice((2, 2, 3))
            sex = rng.choice("FM")
            pool = [s for s in speakers if spec["speakers"][s]["sex"] == sex] if k == 0 and count == 2 else speakers
            if condition == "interject":  # a dominant reader needs four utterances
                pool = [s for s in pool if sum(v["speaker"] == s for v in spec["utterances"].values()) >= 5]
            people = rng.sample(pool, k=min(count, len(pool)))
            entry = mix_entry(spec, cid, condition, people, rng, pieces, seconds)
            try:
                conversation = mixes.compose(spec, entry)
                mixes.validate(spec, conversation, entry)
                break
            except ValueError:
                continue
        else:
            raise RuntimeError(f"{cid}: no valid mix in 200 tries")
        audio = out / conversation.file_name
        if not audio.exists():
            mixes.write_audio(conversation, audio, entry.get("bitrate", "64k"))
        for name, text in mixes.reference_files(conversation).items():
            (out / name).write_text(text, encoding="utf-8")
        clips.append(Clip(id=cid, audio=audio, split="dev", group=cid, rttm=out / f"{cid}.rttm",
                          turns=out / f"{cid}.turns.json", condition=condition))
    return clips


@functools.cache
def _engine() -> Any:
    """One engine (its models loaded once) for the captures and the spans embedded later."""
    from core import Settings
    from core.engine import Engine

    return Engine(Settings.from_env())


def capture(clips: list[Clip]) -> dict[str, Any]:
    """Each clip through the engine up to the voice check: (segments, diarization, piece vectors, count asked)."""
    import numpy as np

    from core.engine import Engine
    from core.media.decode import SAMPLE_RATE
    from core.options import TranscribeOptions
    from core.speakers import voice_check
    from core.speakers.verification import embed_all, embedding_model

    engine = _engine()
    model = embedding_model(engine.registry.diarization())
    captured: dict[str, Any] = {}

    def keep(_self: Any, job: Any, _diarizer: Any, segments: list[dict], found: Any, _joiner: str) -> Any:
        captured["_now"] = (segments, found, np.asarray(job.audio), job.options.num_speakers)
        return segments, found

    Engine._check_voices = keep  # type: ignore[method-assign]  # this process only ever tunes
    for clip in clips:
        engine.transcribe(clip.audio, TranscribeOptions(align_output=True, diarization=True, language=clip.language))
        segments, found, audio, most = captured.pop("_now")
        spans = [(int(p.start * SAMPLE_RATE), int(p.end * SAMPLE_RATE)) for p in voice_check.pieces(segments)
                 if EMBEDDED_S[0] <= p.seconds <= EMBEDDED_S[1]]
        vectors = embed_all(model, [audio[a:b] for a, b in spans])
        captured[clip.id] = (segments, found, dict(zip(spans, vectors, strict=True)), most)
        print(f"captured {clip.id}: {len(spans)} pieces", file=sys.stderr, flush=True)
    return captured


class Embedded:
    """Each clip's piece vectors by sample span: those captured, and any other span (a piece's middle, say) embedded
    on first use from the clip's audio as the engine heard it (decoded, its level raised as the engine raises it)."""

    def __init__(self, captured: dict[str, Any]) -> None:
        self.captured, self.added, self._model = captured, 0, None

    def __call__(self, clip: Clip, cuts: list[tuple[int, int]]) -> list[Any]:
        vectors = self.captured[clip.id][2]
        missing = [cut for cut in dict.fromkeys(cuts) if cut not in vectors]
        if missing:
            from core.media.decode import decode_audio
            from core.media.level import normalize_level
            from core.speakers.verification import embed_all

            audio, _ = normalize_level(decode_audio(clip.audio).samples)
            vectors.update(zip(missing, embed_all(self.model(), [audio[a:b] for a, b in missing]), strict=True))
            self.added += len(missing)
        return [vectors[cut] for cut in cuts]

    def model(self) -> Any:
        if self._model is None:
            from core.speakers.verification import embedding_model

            self._model = embedding_model(_engine().registry.diarization())
        return self._model


def score(clips: list[Clip], captured: dict[str, Any], settings: dict[str, float], embedded: Embedded
          ) -> tuple[float, int, dict[str, int]]:
    """Pooled transcript words DER (%, collar ±0.25 s, outside overlapped speech: the conversations have none),
    clips with the speaker count right, and each clip's count."""
    from bench.quality_metrics import Unit
    from bench.quality_report import Pool, score_clip
    from bench.quality_runs import Output
    from core.speakers import voice_check

    for name, value in settings.items():
        setattr(voice_check, name, value)

    class Spans:  # the audio is not needed: a slice is the key of its vector
        def __getitem__(self, cut: slice) -> tuple[int, int]:
            return cut.start, cut.stop

    pool, counts = Pool(), {}
    for clip in clips:
        segments, found, _, most = captured[clip.id]
        turns = found.turns
        if found.voices:
            segments, moves = voice_check.check_voices(lambda cuts, c=clip: embedded(c, cuts), Spans(),
                                                       segments, found.turns, found.voices, most=most)
            turns = voice_check.moved_turns(found.turns, moves)
        units = tuple(Unit(w["start"], w["end"], w["word"], w.get("speaker")) for s in segments
                      for w in s.get("words") or () if w.get("start") is not None)
        row = score_clip(clip, Output(units, tuple((t.start, t.end, t.speaker) for t in turns), ""), pool)
        counts[clip.id] = row["speakers"]
    return 100 * abs(pool.metric("words", 0.25, True)), pool.speakers_right, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tune_voice_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "models")))
    parser.add_argument("--mixes", type=int, default=3, help="new dev conversations per condition (0: none)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "voice-check-mixes",
                        help="the mixes and each clip's captured state (captured.pkl: delete it after engine changes)")
    args = parser.parse_args(argv)
    os.environ["MODELS_DIR"] = str(args.models_dir.resolve())
    dev = load_set(splits=("dev",))
    sets = {"dev conversations": [c for c in dev if c.turns is not None],
            "AMI dev": [c for c in dev if c.id.startswith("ami") and c.rttm is not None]}
    if args.mixes:
        sets["new dev mixes"] = build_mixes(args.scratch, args.mixes)
    cache = args.scratch / "captured.pkl"  # delete it after changing the engine
    captured = pickle.loads(cache.read_bytes()) if cache.is_file() else {}
    wanted = [clip for clips in sets.values() for clip in clips if clip.id not in captured]
    if wanted:
        captured.update(capture(wanted))
        cache.write_bytes(pickle.dumps(captured))
    print(f"\n## The voice check's settings on dev ({', '.join(f'{k}: {len(v)}' for k, v in sets.items())})\n")
    print("| " + " | ".join(GRID) + " | " + " | ".join(f"{name}: words DER %, count right" for name in sets) + " |")
    print("|" + "---|" * (len(GRID) + len(sets)))
    from core.speakers import voice_check

    current = {name: getattr(voice_check, name) for name in GRID}
    off = {**current, "MIN_PIECE_S": 99.0, "MAX_PIECE_S": 99.0}  # no piece is checked
    trials = [off, current, *({**current, name: value} for name, values in GRID.items() for value in values
                              if value != current[name])]
    found: list[dict[str, int]] = []  # each trial's speakers per clip
    embedded = Embedded(captured)
    for settings in trials:
        cells, found_now = [], {}
        for clips in sets.values():
            der, right, counts = score(clips, captured, settings, embedded)
            cells.append(f"{der:.2f}, {right}/{len(clips)}")
            found_now.update(counts)
        found.append(found_now)
        label = (["check off", *([""] * (len(GRID) - 1))] if settings is off else
                 [f"{value} (now)" if settings is current else str(value) for value in settings.values()])
        print("| " + " | ".join(label + cells) + " |", flush=True)
    if embedded.added:
        cache.write_bytes(pickle.dumps(captured))
    everything = {clip.id: clip for clips in sets.values() for clip in clips}
    before, now = found[0], found[1]  # trials: off, current, then each setting varied
    changed = [f"{name} {before[name]} → {now[name]} (reference {clip.reference_speakers()})"
               for name, clip in everything.items() if before[name] != now[name]]
    print(f"\nSpeakers found, check off → the current settings: {'; '.join(changed) or 'no clip changed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
