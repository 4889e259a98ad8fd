"""The one result object, plain data: every output (JSON, subtitles, UI, RunPod) is rendered from it at the edges
(`core.formats`), never stored in it.

whisperx's dicts are converted here and only here (`segments_from_whisperx`), into plain JSON types.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any


def _num(value: Any, ndigits: int = 3) -> float | None:
    """numpy scalars and NaN become plain floats / None so `to_dict()` is always valid JSON."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else round(value, ndigits)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Word:
    word: str
    start: float | None = None
    end: float | None = None
    score: float | None = None
    speaker: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: tuple[Word, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """A finished job. `speakers`/`diarization` are `None` unless diarization ran."""

    segments: tuple[Segment, ...]
    language: str | None
    language_probability: float | None = None
    speakers: tuple[str, ...] | None = None
    diarization: tuple[SpeakerTurn, ...] | None = None
    duration: float = 0.0
    model: str = ""
    device: str = ""
    compute_type: str = ""
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    translation: tuple[Segment, ...] | None = None  # English translation when `translate` was asked (no words)

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments if segment.text.strip())

    @property
    def diarized(self) -> bool:
        return self.diarization is not None

    @property
    def aligned(self) -> bool:
        return bool(self.segments) and all(segment.words for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        """The result's data in the wire format (README.md, "Result"; plain JSON types only)."""
        data: dict[str, Any] = {
            "segments": [_segment_dict(segment, self.diarized) for segment in self.segments],
            "language": self.language,
            "language_probability": self.language_probability,
        }
        if self.diarized:
            data["speakers"] = list(self.speakers or ())
            data["diarization"] = [dataclasses.asdict(turn) for turn in self.diarization or ()]
        data.update(
            text=self.text,
            duration=self.duration,
            model=self.model,
            device=self.device,
            compute_type=self.compute_type,
            timings=dict(self.timings),
            warnings=list(self.warnings),
            detected_language=self.language,
        )
        if self.translation is not None:
            data["translation_segments"] = [_segment_dict(segment, False) for segment in self.translation]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Inverse of `to_dict()`, so a client (or the UI) can re-render a result it holds."""
        diarization = data.get("diarization")
        return cls(
            segments=tuple(
                Segment(
                    start=seg["start"],
                    end=seg["end"],
                    text=seg["text"],
                    speaker=seg.get("speaker"),
                    words=tuple(Word(**word) for word in seg.get("words", ())),
                )
                for seg in data.get("segments", ())
            ),
            language=data.get("language"),
            language_probability=data.get("language_probability"),
            speakers=tuple(data["speakers"]) if "speakers" in data else None,
            diarization=tuple(SpeakerTurn(**turn) for turn in diarization) if diarization is not None else None,
            duration=data.get("duration", 0.0),
            model=data.get("model", ""),
            device=data.get("device", ""),
            compute_type=data.get("compute_type", ""),
            timings=dict(data.get("timings", {})),
            warnings=tuple(data.get("warnings", ())),
            translation=tuple(Segment(start=seg["start"], end=seg["end"], text=seg["text"])
                              for seg in data["translation_segments"]) if "translation_segments" in data else None,
        )

    def with_speaker_names(self, names: Mapping[str, str]) -> Result:
        """Rename speakers everywhere (segments, words, turns); unnamed labels stay as they are."""
        names = {old: new.strip() for old, new in names.items() if new and new.strip()}
        if not names or not self.diarized:
            return self

        def rename(label: str | None) -> str | None:
            return names.get(label, label) if label is not None else None

        segments = tuple(
            dataclasses.replace(
                seg,
                speaker=rename(seg.speaker),
                words=tuple(dataclasses.replace(w, speaker=rename(w.speaker)) for w in seg.words),
            )
            for seg in self.segments
        )
        turns = tuple(dataclasses.replace(t, speaker=rename(t.speaker)) for t in self.diarization or ())
        speakers = tuple(dict.fromkeys(rename(s) for s in self.speakers or ()))
        return dataclasses.replace(self, segments=segments, diarization=turns, speakers=speakers)


def _segment_dict(segment: Segment, diarized: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"start": segment.start, "end": segment.end, "text": segment.text}
    if diarized:
        data["speaker"] = segment.speaker
    data["words"] = [_word_dict(word, diarized) for word in segment.words]
    return data


def _word_dict(word: Word, diarized: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"word": word.word, "start": word.start, "end": word.end, "score": word.score}
    if diarized:
        data["speaker"] = word.speaker
    return data


def segments_from_whisperx(segments: Iterable[Mapping[str, Any]]) -> tuple[Segment, ...]:
    """Convert whisperx segment dicts (aligned or not, with or without speakers) to `Segment`s."""
    converted = []
    for seg in segments:
        words = tuple(
            Word(
                word=str(w.get("word", "")),
                start=_num(w.get("start")),
                end=_num(w.get("end")),
                score=_num(w.get("score")),
                speaker=w.get("speaker"),
            )
            for w in seg.get("words", ())
        )
        converted.append(
            Segment(
                start=_num(seg["start"]) or 0.0,
                end=_num(seg["end"]) or 0.0,
                text=str(seg.get("text", "")).strip(),
                speaker=seg.get("speaker"),
                words=words,
            )
        )
    return tuple(converted)


def turns_from_dataframe(frame: Any) -> tuple[SpeakerTurn, ...]:
    """whisperx's diarization DataFrame (start, end, speaker) → sorted `SpeakerTurn`s."""
    turns = [
        SpeakerTurn(start=_num(row.start) or 0.0, end=_num(row.end) or 0.0, speaker=str(row.speaker))
        for row in frame.itertuples(index=False)
    ]
    return tuple(sorted(turns, key=lambda turn: (turn.start, turn.end)))
