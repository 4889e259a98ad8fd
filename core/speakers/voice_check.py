"""Sentences and short pieces of speech checked against the voice they were given, so an interjection is not
folded into the speaker around it, nor a sentence into a similar voice.

The segmentation model finds who speaks within 5 s chunks; when a second voice says a few words between two
sentences of the first with a short pause (an interjection: "Let me see.", "Printing?"), it often keeps both in
one local speaker, and no clustering can separate them afterwards. On the dev conversations the interjections
came out under the dominant speaker, at a CAM++ similarity of 0.06-0.18 to that speaker's voice, where the
same speaker's short sentences scored 0.56-0.91.

So each piece of speech in the transcript (a run of words between pauses or sentence ends,
MIN_PIECE_S-MAX_PIECE_S long, not overlapped by another speaker) is embedded and compared with the voice of the
speaker it was given, that voice leaving the piece itself out (each speaker's voice is the diarization's
centroid weighted by its seconds of speech; a speaker made of two different voices loses the one that fits
less, one piece at a time). A piece that does not sound like its speaker (below KEEP) goes to the speaker it
sounds like (at least JOIN, and MARGIN above its own), or else to a new speaker, shared with the other such
pieces that sound like it (at least KEEP, as a piece stays with its own speaker: two short pieces of one voice
can score as low as 0.30); never beyond the count the user allowed.

`recheck` is pure logic on vectors; `check_voices` embeds the pieces with the diarization's embedding model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from core.speakers.strays import joined
from core.speakers.word_labels import is_break
from core.transcript.result import SpeakerTurn

MIN_PIECE_S = 0.7  # shorter pieces say too little about a voice
# Up to 6 s: on 24 more dev conversations (new mixes of the dev voices) transcript words DER 6.9 % checking pieces
# up to 2 s, 6.6 % up to 4 s, 6.1 % up to 6, 8 or 10 s (the first 8 dev conversations: 5.8 % by every length).
# Longer pieces cost more (the 11-minute bench meeting: 56 pieces up to 2 s, 188 up to 6 s, 18 s of CPU; embedded
# in parallel, `embed_all`: 9.7 s of wall time on 2 cores).
MAX_PIECE_S = 6.0
MAX_OVERLAP = 0.2  # share of a piece another speaker's turn may cover: more, and its voice is a mix
KEEP = 0.30  # similarity to its own speaker's voice (the piece left out) at or above which a piece stays
JOIN = 0.45  # similarity to another voice at or above which (and MARGIN above its own) a piece moves there
MARGIN = 0.20
MIN_REST_S = 0.5  # a speaker keeps its last pieces: a voice needs this much other speech to compare with
# The thresholds above are cosine similarities of CAM++ voices (measured on its dev conversations); another
# embedding model's scale differs (e.g. the default profile's WeSpeaker), so only these networks are checked.
CALIBRATED = ("CAMPPlusEmbedding",)


@dataclasses.dataclass(frozen=True)
class Piece:
    """A run of one speaker's words; `words` are (segment index, word index) pairs."""

    start: float
    end: float
    speaker: str
    words: tuple[tuple[int, int], ...]

    @property
    def seconds(self) -> float:
        return self.end - self.start


def pieces(segments: Sequence[dict]) -> list[Piece]:
    """The transcript's timed words cut where a speaker could stop (`word_labels.is_break`: a pause or a sentence
    end) and where the speaker changes."""
    found: list[Piece] = []
    run: list[tuple[int, int, dict]] = []

    def close() -> None:
        if run:
            found.append(Piece(run[0][2]["start"], run[-1][2]["end"], run[0][2]["speaker"],
                               tuple((s, w) for s, w, _ in run)))
            run.clear()

    for s, segment in enumerate(segments):
        for w, word in enumerate(segment.get("words") or ()):
            if word.get("start") is None or word.get("end") is None or not word.get("speaker"):
                continue
            if run and (word["speaker"] != run[-1][2]["speaker"] or is_break(run[-1][2], word)):
                close()
            run.append((s, w, word))
    close()
    return found


def candidates(found: Sequence[Piece], turns: Sequence[SpeakerTurn]) -> list[Piece]:
    """The pieces worth checking: MIN_PIECE_S to MAX_PIECE_S long, at most MAX_OVERLAP under others' turns."""
    chosen = []
    for piece in found:
        if not MIN_PIECE_S <= piece.seconds <= MAX_PIECE_S:
            continue
        covered = sum(max(0.0, min(piece.end, turn.end) - max(piece.start, turn.start))
                      for turn in turns if turn.speaker != piece.speaker)
        if covered <= MAX_OVERLAP * piece.seconds:
            chosen.append(piece)
    return chosen


def recheck(checked: Sequence[tuple[Piece, np.ndarray]], voices: Mapping[str, tuple[np.ndarray, float]], *,
            most: int | None = None, new_label: Callable[[int], str] = lambda n: f"SPEAKER_{n:02d}") -> list[str]:
    """The speaker each checked piece should have (its own where it sounds like it). `voices`: label → (centroid,
    seconds of speech); `most`: the most speakers the recording may have (None: no limit)."""
    sums = {label: _unit(vector) * seconds for label, (vector, seconds) in voices.items()}
    weights = {label: seconds for label, (_, seconds) in voices.items()}
    vectors = [_unit(vector) for _, vector in checked]
    labels = [piece.speaker for piece, _ in checked]
    foreign: list[int] = []
    for label in sums:
        members = [i for i, (piece, _) in enumerate(checked) if piece.speaker == label]
        while members:
            scored = [(_cosine(vectors[i], sums[label] - vectors[i] * checked[i][0].seconds), -checked[i][0].seconds, i)
                      for i in members if weights[label] - checked[i][0].seconds >= MIN_REST_S]
            if not scored or min(scored)[0] >= KEEP:
                break
            _, _, worst = min(scored)
            sums[label] = sums[label] - vectors[worst] * checked[worst][0].seconds
            weights[label] -= checked[worst][0].seconds
            members.remove(worst)
            foreign.append(worst)
    taken = set(voices)
    created: dict[str, np.ndarray] = {}
    for i in sorted(foreign, key=lambda index: (-checked[index][0].seconds, checked[index][0].start)):  # surest first
        own = labels[i]
        scores = {label: _cosine(vectors[i], total) for label, total in sums.items() if label != own}
        mine = _cosine(vectors[i], sums[own])
        best = max(scores, key=scores.__getitem__, default=None)
        fresh = {label: _cosine(vectors[i], total) for label, total in created.items()}
        kin = max(fresh, key=fresh.__getitem__, default=None)
        if best is not None and scores[best] >= JOIN and scores[best] >= mine + MARGIN:
            labels[i] = best
        elif kin is not None and fresh[kin] >= KEEP:  # a voice found in this pass: kept at KEEP, as any speaker's
            labels[i] = kin
            created[kin] = created[kin] + vectors[i] * checked[i][0].seconds
        elif most is None or len(taken) < most:
            number = 0
            while new_label(number) in taken:
                number += 1
            labels[i] = new_label(number)
            taken.add(labels[i])
            created[labels[i]] = vectors[i] * checked[i][0].seconds
    return labels


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Move:
    """A piece of speech given to another (or a new) speaker."""

    start: float
    end: float
    old: str
    new: str


def check_voices(embed_all: Callable[[list[np.ndarray]], list[np.ndarray | None]], audio: np.ndarray,
                 segments: list[dict],
                 turns: Sequence[SpeakerTurn], voices: Mapping[str, tuple[np.ndarray, float]], *,
                 most: int | None = None, sample_rate: int = 16000) -> tuple[list[dict], list[Move]]:
    """`segments` (words labelled) with each short piece that does not sound like its speaker given to the one it
    sounds like, or to a new speaker; and the moves made (to carry into the diarization's turns). `embed_all` maps
    clips of samples to voice vectors (None: too short)."""
    found = [piece for piece in candidates(pieces(segments), turns) if piece.speaker in voices]
    vectors = embed_all([audio[int(piece.start * sample_rate): int(piece.end * sample_rate)] for piece in found])
    checked = [(piece, vector) for piece, vector in zip(found, vectors, strict=True) if vector is not None]
    if not checked:
        return segments, []
    labels = recheck(checked, voices, most=most)
    moves = [Move(piece.start, piece.end, piece.speaker, label) for (piece, _), label in zip(checked, labels,
                                                                                              strict=True)
             if label != piece.speaker]
    if not moves:
        return segments, []
    out = [{**segment, "words": [dict(word) for word in segment.get("words") or ()]} for segment in segments]
    for (piece, _), label in zip(checked, labels, strict=True):
        for s, w in piece.words:
            out[s]["words"][w]["speaker"] = label
    return out, moves


def moved_turns(turns: Sequence[SpeakerTurn], moves: Sequence[Move]) -> tuple[SpeakerTurn, ...]:
    """`turns` with each move's span taken from its old speaker and given to its new one."""
    result = list(turns)
    for move in moves:
        kept: list[SpeakerTurn] = []
        for turn in result:
            if turn.speaker != move.old or turn.end <= move.start or turn.start >= move.end:
                kept.append(turn)
                continue
            if turn.start < move.start:
                kept.append(dataclasses.replace(turn, end=move.start))
            if turn.end > move.end:
                kept.append(dataclasses.replace(turn, start=move.end))
        kept.append(SpeakerTurn(start=move.start, end=move.end, speaker=move.new))
        result = kept
    return joined(result)
