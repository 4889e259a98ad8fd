"""The one result object, plain data: every output (JSON, subtitles, UI, RunPod) is rendered from it at the edges
(`core.transcript.formats`), never stored in it.

whisperx's dicts are converted here and only here (`segments_from_whisperx`), into plain JSON types.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
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
    # The other speakers heard during this word (overlapped speech, sorted; core/transcript/overlap.py).
    overlap_with: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: tuple[Word, ...] = ()
    overlap_with: tuple[str, ...] = ()  # the union of its words' (or, without word times, by its own span)
    # What the decoder measured (None where it cannot be known, e.g. a segment cut from a chunk by wav2vec2).
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None
    tokens: tuple[int, ...] | None = None
    edited: bool = False  # corrected after the job (core.transcript.edit): text re-timed or speaker changed

    def to_dict(self, *, diarized: bool = False) -> dict[str, Any]:
        """This segment as in `Result.to_dict()`'s `segments` (e.g. one streamed while the job runs)."""
        return _segment_dict(self, diarized)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class VoiceMatch:
    """A diarized speaker compared with the voice library: `label` its diarization label, `name` the voice it was
    recognised as (None: nobody above the threshold), `score` the cosine similarity to the best voice."""

    label: str
    name: str | None
    score: float | None


def text_language_of(language: str | None, task: str) -> str | None:
    """The language a job's text is written in: English for a translation, else the audio's."""
    return "en" if task == "translate" else language


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """A finished job. `speakers`/`diarization` are `None` unless diarization ran."""

    segments: tuple[Segment, ...]
    language: str | None
    language_probability: float | None = None
    speakers: tuple[str, ...] | None = None
    diarization: tuple[SpeakerTurn, ...] | None = None
    word_timing: str | None = None  # which method timed the words: "wav2vec2", "whisper", or None
    duration: float = 0.0
    model: str = ""
    device: str = ""
    compute_type: str = ""
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    translation: tuple[Segment, ...] | None = None  # English translation when `translate` was asked (no words)
    voices: tuple[VoiceMatch, ...] | None = None  # the voice library's verdict per speaker, when it was asked
    partial: bool = False  # the job was stopped: this is what was finished by then (a warning says up to where)
    task: str = "transcribe"  # "translate": the segments are English, whatever `language` the audio was in

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments if segment.text.strip())

    @property
    def text_language(self) -> str | None:
        """The language the segments are written in (how their words join): English for a translation."""
        return text_language_of(self.language, self.task)

    @property
    def diarized(self) -> bool:
        return self.diarization is not None

    @property
    def aligned(self) -> bool:
        return bool(self.segments) and all(segment.words for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        """The result's data in the wire format (docs/result.md; plain JSON types only)."""
        data: dict[str, Any] = {
            "segments": [_segment_dict(segment, self.diarized) for segment in self.segments],
            "language": self.language,
            "language_probability": self.language_probability,
            "word_timing": self.word_timing,
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
        if self.voices is not None:
            data["voices"] = [dataclasses.asdict(match) for match in self.voices]
        if self.partial:  # only a stopped job's result carries the key
            data["partial"] = True
        if self.task == "translate":  # only a translation carries the key: the segments are English
            data["task"] = "translate"
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Inverse of `to_dict()`, so a client (or the UI) can re-render a result it holds."""
        diarization = data.get("diarization")
        return cls(
            segments=segments_from_whisperx(data.get("segments", ())),
            language=data.get("language"),
            language_probability=data.get("language_probability"),
            speakers=tuple(data["speakers"]) if "speakers" in data else None,
            diarization=tuple(SpeakerTurn(**turn) for turn in diarization) if diarization is not None else None,
            word_timing=data.get("word_timing"),
            duration=data.get("duration", 0.0),
            model=data.get("model", ""),
            device=data.get("device", ""),
            compute_type=data.get("compute_type", ""),
            timings=dict(data.get("timings", {})),
            warnings=tuple(data.get("warnings", ())),
            translation=(segments_from_whisperx(data["translation_segments"]) if "translation_segments" in data
                         else None),
            voices=tuple(VoiceMatch(**match) for match in data["voices"]) if data.get("voices") is not None else None,
            partial=data.get("partial") is True,
            task="translate" if data.get("task") == "translate" else "transcribe",
        )

    def with_speaker_names(self, names: Mapping[str, str]) -> Result:
        """Rename speakers everywhere (segments, words, turns); unnamed labels stay as they are."""
        names = {old: new.strip() for old, new in names.items() if new and new.strip()}
        if not names or not self.diarized:
            return self

        def rename(label: str | None) -> str | None:
            return names.get(label, label) if label is not None else None

        def others(labels: tuple[str, ...], own: str | None) -> tuple[str, ...]:
            """Overlap labels renamed; a speaker merged into the word's own is no longer someone else."""
            return tuple(sorted({rename(label) for label in labels} - {own})) if labels else ()

        segments = tuple(
            dataclasses.replace(
                seg,
                speaker=rename(seg.speaker),
                overlap_with=others(seg.overlap_with, rename(seg.speaker)),
                words=tuple(dataclasses.replace(w, speaker=rename(w.speaker),
                                                overlap_with=others(w.overlap_with, rename(w.speaker or seg.speaker)))
                            for w in seg.words),
            )
            for seg in self.segments
        )
        turns = tuple(dataclasses.replace(t, speaker=rename(t.speaker)) for t in self.diarization or ())
        speakers = tuple(dict.fromkeys(rename(s) for s in self.speakers or ()))
        voices = None if self.voices is None else tuple(
            dataclasses.replace(match, name=rename(match.name) if match.name else match.name) for match in self.voices)
        return dataclasses.replace(self, segments=segments, diarization=turns, speakers=speakers, voices=voices)

    def with_recognized_voices(self, matches: Iterable[VoiceMatch]) -> Result:
        """Speakers the voice library recognised carry their names everywhere (as if renamed); `voices` keeps
        every comparison with its score."""
        matches = tuple(matches)
        named = self.with_speaker_names({match.label: match.name for match in matches if match.name})
        return dataclasses.replace(named, voices=matches)

    def original_label(self, speaker: str) -> str:
        """The diarization label behind a speaker the voice library named (the speaker itself otherwise)."""
        return next((match.label for match in self.voices or () if match.name == speaker), speaker)

    def with_speakers_in_order(self) -> Result:
        """Relabel speakers SPEAKER_00, SPEAKER_01, … in order of first appearance (the clustering's numbering
        is arbitrary: a dialogue must not start with SPEAKER_02)."""
        if not self.diarized:
            return self
        appearances = [(turn.start, turn.speaker) for turn in self.diarization or ()]
        appearances += [(seg.start, seg.speaker) for seg in self.segments if seg.speaker is not None]
        order = list(dict.fromkeys(speaker for _, speaker in sorted(appearances, key=lambda item: item[0])))
        order += [speaker for speaker in self.speakers or () if speaker not in order]
        names = {old: f"SPEAKER_{index:02d}" for index, old in enumerate(order)}
        renamed = self.with_speaker_names(names)
        return dataclasses.replace(renamed, speakers=tuple(names[old] for old in order))


_SEGMENT_STATISTICS = ("avg_logprob", "no_speech_prob", "compression_ratio", "temperature", "tokens")


def _segment_dict(segment: Segment, diarized: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"start": segment.start, "end": segment.end, "text": segment.text}
    if diarized:
        data["speaker"] = segment.speaker
    if segment.overlap_with:  # only overlapped speech carries the key, so other segments' JSON is unchanged
        data["overlap_with"] = list(segment.overlap_with)
    data["words"] = [_word_dict(word, diarized) for word in segment.words]
    for name in _SEGMENT_STATISTICS:
        value = getattr(segment, name)
        data[name] = list(value) if isinstance(value, tuple) else value
    if segment.edited:  # only corrected segments carry the key, so an uncorrected result's JSON is unchanged
        data["edited"] = True
    return data


def _word_dict(word: Word, diarized: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"word": word.word, "start": word.start, "end": word.end, "score": word.score}
    if diarized:
        data["speaker"] = word.speaker
    if word.overlap_with:
        data["overlap_with"] = list(word.overlap_with)
    return data


def segments_from_whisperx(segments: Iterable[Mapping[str, Any]]) -> tuple[Segment, ...]:
    """Convert whisperx segment dicts (aligned or not, with or without speakers), or our own wire dicts
    (`to_dict()`'s), to `Segment`s."""
    converted = []
    for seg in segments:
        words = tuple(
            Word(
                word=str(w.get("word", "")),
                start=_num(w.get("start")),
                end=_num(w.get("end")),
                score=_num(w.get("score")),
                speaker=w.get("speaker"),
                overlap_with=_labels(w.get("overlap_with")),
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
                overlap_with=_labels(seg.get("overlap_with")),
                avg_logprob=_num(seg.get("avg_logprob"), 4),
                no_speech_prob=_num(seg.get("no_speech_prob"), 4),
                compression_ratio=_num(seg.get("compression_ratio")),
                temperature=_num(seg.get("temperature"), 2),
                tokens=tuple(int(token) for token in seg["tokens"]) if seg.get("tokens") else None,
                edited=seg.get("edited") is True,
            )
        )
    return tuple(converted)


def _labels(value: Any) -> tuple[str, ...]:
    """A saved `overlap_with` (a list of speaker labels) as the sorted tuple the dataclasses hold."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(label, str) for label in value):
        raise TypeError(f"overlap_with must be a list of speaker labels, not {value!r:.60}")
    return tuple(sorted(set(value)))


# Finished segments while a job runs (`Engine.transcribe(..., on_segments=...)`, see core/asr/streaming.py).
SegmentsCallback = Callable[[tuple[Segment, ...]], None]


def partial_note(reached_s: float, duration_s: float) -> str:
    """The warning of a stopped job's result (`Result.partial`): up to where its transcript goes."""
    return (f"partial: the job was stopped at {_clock(reached_s)} of {_clock(duration_s)}; this transcript is what "
            "was finished by then")


def _clock(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`)."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
