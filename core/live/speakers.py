"""Who is speaking, decided as each turn ends: incremental clustering of voice embeddings, named from the voice
library.

Each finished turn (or, in a long turn with several sentences, each sentence long enough to say something about a
voice) is embedded by the diarization pipeline's own speaker-embedding model (`core.speakers.verification.embed`),
the same space the batch diarization and the voice library use. Then, in order:
1. a voice in the library it matches at the speaker model's naming threshold
   (`core.speakers.verification.naming_threshold`)
   gives its name;
2. else the nearest of the session's speakers so far within the pipeline's own linking distance
   (`core.speakers.windowed_clustering.link_distance_of`: the distance under which its clustering merges two
   clusters) keeps that speaker's label, A, B, C, ...;
3. else it is a new speaker with the next letter.
Speakers' centroids are running means weighted by seconds of speech, so a label stays with a voice for the whole
session; an unnamed speaker whose centroid comes to match a library voice is called by that name from then on.
Both thresholds come from those two places, so another embedding model (with its pipeline's clustering threshold
and the library's threshold tuned for it) needs no change here. Per session the state is a few vectors.
"""

from __future__ import annotations

import dataclasses
import logging
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.media.decode import SAMPLE_RATE

logger = logging.getLogger(__name__)

MIN_VOICE_S = 1.0  # a sentence shorter than this borrows its neighbour's speaker instead of being embedded alone
SPLIT_TURN_S = 6.0  # a turn at least this long, with several sentences, is labelled sentence by sentence


@dataclasses.dataclass
class _Speaker:
    label: str
    total: np.ndarray  # sum of voice vectors weighted by seconds
    seconds: float
    name: str | None = None

    @property
    def centroid(self) -> np.ndarray:
        return _normalised(self.total / max(self.seconds, 1e-9))


@dataclasses.dataclass(frozen=True)
class VoiceSpace:
    """What labelling needs from the process, shared by its sessions: the embedding model, the two thresholds
    and the library's voices (name → vector, embedded by that model)."""

    model: Any
    link_similarity: float
    name_similarity: float
    references: Mapping[str, np.ndarray]


class LiveSpeakers:
    """One session's speakers. Not thread-safe: one session's turns are labelled one at a time, in order."""

    def __init__(self, space: VoiceSpace) -> None:
        self.space = space
        self._speakers: list[_Speaker] = []
        self._last: str | None = None

    def label(self, audio: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[str]:
        """A speaker for each span (seconds within `audio`, one finished turn): the turn as a whole, or sentence
        by sentence in a long turn; a span too short to embed takes its neighbour's speaker."""
        from core.speakers.verification import embed

        if not spans:
            return []
        whole = (spans[0][0], spans[-1][1])
        pieces = list(spans) if whole[1] - whole[0] >= SPLIT_TURN_S and len(spans) > 1 else [whole]
        labels: list[str | None] = []
        for start, end in pieces:
            if end - start < MIN_VOICE_S and len(pieces) > 1:
                labels.append(None)
                continue
            vector = embed(self.space.model, audio[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)])
            labels.append(None if vector is None else self.assign(vector, end - start))
        filled = _filled(labels, self._last or self._new_label())
        self._last = filled[-1]
        return filled if len(pieces) == len(spans) else filled * len(spans)

    def assign(self, vector: np.ndarray, seconds: float) -> str:
        """The speaker of one voice vector (L2-normalised) from `seconds` of speech; updates the speakers."""
        space = self.space
        named = {name: float(np.dot(vector, reference)) for name, reference in space.references.items()}
        best_name = max(named, key=named.__getitem__, default=None)
        if best_name is not None and named[best_name] >= space.name_similarity:
            speaker = self._speaker_named(best_name, vector)
        else:
            heard = [s for s in self._speakers if s.seconds > 0]
            scores = [float(np.dot(vector, s.centroid)) for s in heard]
            if scores and max(scores) >= space.link_similarity:
                speaker = heard[int(np.argmax(scores))]
            else:
                speaker = _Speaker(self._new_label(), np.zeros_like(vector, dtype=np.float64), 0.0)
                self._speakers.append(speaker)
        speaker.total = speaker.total + vector * seconds
        speaker.seconds += seconds
        if speaker.name is None:
            self._maybe_name(speaker)
        return speaker.name or speaker.label

    def _speaker_named(self, name: str, vector: np.ndarray) -> _Speaker:
        for speaker in self._speakers:
            if speaker.name == name:
                return speaker
        speaker = _Speaker(name, np.zeros_like(vector, dtype=np.float64), 0.0, name=name)
        self._speakers.append(speaker)
        return speaker

    def _maybe_name(self, speaker: _Speaker) -> None:
        """An unnamed speaker whose voice, over all its turns so far, matches a library voice no one else has."""
        taken = {s.name for s in self._speakers if s.name}
        centroid = speaker.centroid
        scores = {name: float(np.dot(centroid, reference)) for name, reference in self.space.references.items()
                  if name not in taken}
        best = max(scores, key=scores.__getitem__, default=None)
        if best is not None and scores[best] >= self.space.name_similarity:
            speaker.name = best
            logger.info("live speaker %s recognised from the voice library", speaker.label)

    def _new_label(self) -> str:
        count = sum(1 for s in self._speakers if s.name is None or s.label != s.name)
        return _letters(count)


def _letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA (as OpenAI labels speakers)."""
    letters = string.ascii_uppercase
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = letters[rest] + text
    return text


def _filled(labels: list[str | None], fallback: str) -> list[str]:
    """Unlabelled pieces take the previous labelled piece's speaker (the next one's at the start)."""
    known = [label for label in labels if label is not None]
    current = known[0] if known else fallback
    out = []
    for label in labels:
        current = label if label is not None else current
        out.append(current)
    return out


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
