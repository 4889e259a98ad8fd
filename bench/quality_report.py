"""`python -m bench --parts quality`: the real-recording quality report (bench/quality/), per file and pooled,
dev and held-out apart, for our engine, whisperX's own API and plain faster-whisper on the same weights.

Per file: WER (clips with a transcript; words normalised by `quality_metrics.wer_words`), cpWER (meetings with
each participant's words: `quality_metrics.cp_word_errors`), DER of the diarization's
own turns and of the transcript's labelled words (collar ±0.25 s; with and without overlapped speech), speakers
found vs the reference, turns missing (joined conversations: reference turns fewer than half of whose words the
transcript has, `quality_metrics.missing_turns`), speech coverage (share of reference speech time covered by
words) and the longest loop (one word or n-gram repeated back to back). Pooled: the same, plus DER at collar 0
and every DER split into missed / false alarm / confusion; then which turns were lost, and (bench/
quality_speakers.py) speaker verification and the voice library on the joined conversations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench import quality_metrics as qm
from bench.quality_runs import SYSTEMS, Clip, Output

COLLARS_S = (0.25, 0.0)
SOURCES = ("turns", "words")  # the diarization's own turns; the transcript's labelled words


@dataclass
class Pool:
    """Sums over the files of one split and system, for the pooled rows."""

    metrics: dict[tuple[str, float, bool], Any] = field(default_factory=dict)
    wer_edits: float = 0.0
    wer_words: int = 0
    covered_s: float = 0.0
    speech_s: float = 0.0
    speakers_right: int = 0
    speakers_known: int = 0
    turns_missing: int = 0
    turns_total: int = 0
    worst_loop: tuple[int, str, str] = (0, "", "")

    def metric(self, source: str, collar_s: float, skip_overlap: bool) -> Any:
        key = (source, collar_s, skip_overlap)
        if key not in self.metrics:
            self.metrics[key] = qm.scorer(collar_s, skip_overlap=skip_overlap)
        return self.metrics[key]


def score_clip(clip: Clip, output: Output, pool: Pool) -> dict[str, Any]:
    """Every measure of one system on one clip (NaN where the clip lacks that reference); adds it to `pool`."""
    row: dict[str, Any] = {"clip": clip.id, "split": clip.split, "units": output.unit_kind}
    transcript = clip.transcript()
    row["wer"], row["wer_edits"], row["wer_words"] = math.nan, 0, 0
    if transcript:
        edits, words = qm.word_errors(transcript, output.text)
        row |= {"wer": edits / max(words, 1), "wer_edits": edits, "wer_words": words}
        pool.wer_edits += edits
        pool.wer_words += words
    by_speaker = clip.speaker_transcripts()
    row["cpwer"], row["cpwer_edits"], row["cpwer_words"] = math.nan, 0, 0
    if by_speaker:
        edits, words = qm.cp_word_errors(by_speaker, output.units)
        row |= {"cpwer": edits / max(words, 1), "cpwer_edits": edits, "cpwer_words": words}
    turns = clip.reference_turns()
    row["missing"] = None
    if turns is not None:
        row["missing"] = [turns[index] for index in qm.missing_turns([turn["text"] for turn in turns], output.text)]
        row["turns"] = len(turns)
        pool.turns_missing += len(row["missing"])
        pool.turns_total += len(turns)
    reference = clip.reference()
    hypotheses = {"words": qm.units_annotation(output.units, clip.id)}
    if output.turns is not None:
        hypotheses["turns"] = qm.annotation(output.turns, clip.id)
    if reference is not None:
        duration = clip.duration_s()
        for source, hypothesis in hypotheses.items():
            for collar in COLLARS_S:
                for skip in (False, True):
                    row[(source, collar, skip)] = qm.score(pool.metric(source, collar, skip), reference, hypothesis,
                                                           duration)
        speech = reference.get_timeline().support().duration()
        row["coverage"] = qm.speech_coverage(reference, output.units)
        pool.covered_s += row["coverage"] * speech
        pool.speech_s += speech
    else:
        row["coverage"] = math.nan
    row["speakers"] = qm.speakers_found(output.units)
    row["speakers_ref"] = clip.reference_speakers()
    if row["speakers_ref"] is not None:
        pool.speakers_known += 1
        pool.speakers_right += row["speakers"] == row["speakers_ref"]
    row["loop"] = qm.longest_loop(qm.tokens(" ".join(u.text for u in output.units)))
    if row["loop"][0] > pool.worst_loop[0]:
        pool.worst_loop = (*row["loop"], clip.id)
    return row


def pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def der_cell(row: dict[str, Any], source: str, collar: float, skip: bool) -> str:
    scored = row.get((source, collar, skip))
    return pct(scored["der"]) if scored else "–"


def parts_cell(scored: dict[str, float] | None) -> str:
    if not scored:
        return "–"
    return (f"{pct(scored['der'])} ({scored['missed detection']:.1f} / {scored['false alarm']:.1f} / "
            f"{scored['confusion']:.1f} of {scored['total']:.1f} s)")


def markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"\n## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def file_table(rows: list[dict[str, Any]], split: str) -> str:
    header = ["clip", "system", "WER %", "cpWER %", "DER turns %", "DER words %", "DER words, no overlap %",
              "speakers found/ref", "turns missing", "coverage %", "longest loop"]
    cells = []
    for row in rows:
        if row["split"] != split:
            continue
        loop = f"{row['loop'][0]}× \"{row['loop'][1]}\"" if row["loop"][0] > 1 else "–"
        ref = row["speakers_ref"] if row["speakers_ref"] is not None else "?"
        cells.append([row["clip"], row["system"] + (" (segments)" if row["units"] == "segments" else ""),
                      pct(row["wer"]), pct(row["cpwer"]), der_cell(row, "turns", 0.25, False),
                      der_cell(row, "words", 0.25, False), der_cell(row, "words", 0.25, True),
                      f"{row['speakers']}/{ref}",
                      f"{len(row['missing'])}/{row['turns']}" if row["missing"] is not None else "–",
                      pct(row["coverage"]), loop])
    return markdown(f"Quality set, {split}: per file (DER collar ±0.25 s)", header, cells)


def pooled_table(pools: dict[tuple[str, str], Pool], split: str) -> str:
    header = ["system", "measure", "collar ±0.25 s: DER % (missed / false alarm / confusion of total)",
              "collar 0: DER % (missed / false alarm / confusion of total)"]
    cells = []
    for system in SYSTEMS:
        pool = pools.get((split, system))
        if pool is None:
            continue
        for source, label in (("turns", "diarization's turns"), ("words", "transcript's words")):
            for skip, overlap in ((False, "all speech"), (True, "outside overlap")):
                if (source, 0.25, skip) not in pool.metrics:
                    continue
                cells.append([system, f"DER, {label}, {overlap}",
                              *(parts_cell(qm.pooled(pool.metrics[(source, c, skip)])) for c in COLLARS_S)])
        wer = pool.wer_edits / pool.wer_words if pool.wer_words else math.nan
        coverage = pool.covered_s / pool.speech_s if pool.speech_s else math.nan
        loop = pool.worst_loop
        cells.append([system, "WER; speech coverage; speaker count right; turns missing; longest loop",
                      f"{pct(wer)} %; {pct(coverage)} %; {pool.speakers_right}/{pool.speakers_known} clips; "
                      f"{pool.turns_missing}/{pool.turns_total}; {loop[0]}× \"{loop[1]}\" ({loop[2]})", ""])
    return markdown(f"Quality set, {split}: pooled", header, cells)


def joined_table(clips: list[Clip], rows: list[dict[str, Any]], split: str) -> str:
    """The joined conversations alone, per system: pooled WER, speaker count right, turns missing, and the DER of
    the transcript's labelled words (collar ±0.25 s) pooled over them."""
    joined = {clip.id for clip in clips if clip.split == split and clip.turns is not None}
    header = ["system", "WER %", "speakers found exactly", "turns missing", "transcript-words DER % (collar ±0.25 s)"]
    cells = [[system, pct(_pooled_rate(mine, "wer")), _exact(mine, "conversations"),
              f"{sum(len(row['missing']) for row in mine)}/{sum(row['turns'] for row in mine)}",
              pct(_pooled_der(mine, ("words", 0.25, False)))] for system, mine in _by_system(rows, joined)]
    return markdown(f"Joined conversations, {split}: pooled over {len(joined)} recordings of real voices", header,
                    cells)


def meeting_table(clips: list[Clip], rows: list[dict[str, Any]], split: str) -> str:
    """Meetings with each participant's words, per system: cpWER pooled over them, speaker count right, and the
    transcript's words DER outside overlap (collar ±0.25 s)."""
    meetings = {clip.id for clip in clips if clip.split == split and clip.speaker_texts is not None}
    header = ["system", "cpWER %", "speakers found exactly", "transcript-words DER outside overlap % (±0.25 s)"]
    cells = [[system, pct(_pooled_rate(mine, "cpwer")), _exact(mine, "meetings"),
              pct(_pooled_der(mine, ("words", 0.25, True)))] for system, mine in _by_system(rows, meetings)]
    return markdown(f"Meetings with each participant's words, {split}: pooled over {len(meetings)}", header, cells)


def _by_system(rows: list[dict[str, Any]], clip_ids: set[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each system with its rows of these clips, in SYSTEMS order (systems without any left out)."""
    grouped = [(system, [row for row in rows if row["clip"] in clip_ids and row["system"] == system])
               for system in SYSTEMS]
    return [(system, mine) for system, mine in grouped if mine]


def _pooled_rate(rows: list[dict[str, Any]], measure: str) -> float:
    """A word error rate ("wer", "cpwer") of several files' rows as one: their edits over their reference words."""
    words = sum(row[f"{measure}_words"] for row in rows)
    return sum(row[f"{measure}_edits"] for row in rows) / words if words else math.nan


def _exact(rows: list[dict[str, Any]], noun: str) -> str:
    """How many of the rows found the reference's speaker count, e.g. "7/8 conversations"."""
    return f"{sum(row['speakers'] == row['speakers_ref'] for row in rows)}/{len(rows)} {noun}"


def _pooled_der(rows: list[dict[str, Any]], key: tuple[str, float, bool]) -> float:
    """The DER `key` (source, collar, outside overlap only) of several files' rows as one: their errors over their
    scored time."""
    scored = [row[key] for row in rows if key in row]
    total = sum(found["total"] for found in scored)
    errors = sum(found[part] for found in scored for part in ("missed detection", "false alarm", "confusion"))
    return errors / total if total else math.nan


def missing_table(rows: list[dict[str, Any]], split: str) -> str:
    """Every reference turn a system lost, with its speaker, length and first words."""
    cells = []
    for row in rows:
        if row["split"] != split or not row["missing"]:
            continue
        for turn in row["missing"]:
            words = turn["text"].split()
            cells.append([row["clip"], row["system"], turn["speaker"], f"{turn['end'] - turn['start']:.1f} s",
                          " ".join(words[:8]) + (" …" if len(words) > 8 else "")])
    if not cells:
        cells.append(["–", "–", "–", "–", "no turn missing"])
    return markdown(f"Turns missing, {split}", ["clip", "system", "speaker", "turn", "words"], cells)


def report(clips: list[Clip], outputs: dict[str, dict[str, Output]],
           speakers: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The report's tables (Markdown) and its figures: `rows` (per file and system), `pooled`, and with `speakers`
    (`verification` and `library` figures of bench/quality_speakers.py) their tables too."""
    from bench import quality_speakers

    pools: dict[tuple[str, str], Pool] = defaultdict(Pool)
    rows = []
    for clip in clips:
        for system in SYSTEMS:
            if clip.id in outputs.get(system, {}):
                row = score_clip(clip, outputs[system][clip.id], pools[(clip.split, system)])
                rows.append(row | {"system": system, "text": outputs[system][clip.id].text})
    splits = [split for split in ("dev", "heldout") if any(clip.split == split for clip in clips)]
    parts = []
    for split in splits:
        parts += [file_table(rows, split), pooled_table(pools, split)]
        if any(clip.turns is not None and clip.split == split for clip in clips):
            parts += [joined_table(clips, rows, split), missing_table(rows, split)]
        if any(clip.speaker_texts is not None and clip.split == split for clip in clips):
            parts.append(meeting_table(clips, rows, split))
        if speakers and speakers.get("verification"):
            parts.append(quality_speakers.verification_table(speakers["verification"], split))
        if speakers and speakers.get("library"):
            parts.append(quality_speakers.library_table(speakers["library"], split))
    text = "".join(part + "\n" for part in parts)
    pooled = {f"{split}/{system}": {f"{source}@{collar}{'/no-overlap' if skip else ''}": qm.pooled(metric)
                                    for (source, collar, skip), metric in pool.metrics.items()}
              for (split, system), pool in pools.items()}
    return text, {"rows": rows, "pooled": pooled, "speakers": speakers or {}}
