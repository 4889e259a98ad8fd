"""What a live session tells its front end, as plain data (the OpenAI Realtime adapter turns each into the
protocol's server event; times are on the session's clock: audio received since it opened)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SpeechStarted:
    item_id: str
    audio_start_ms: int  # includes the prefix padding


@dataclasses.dataclass(frozen=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int  # includes the silence that ended the turn


@dataclasses.dataclass(frozen=True)
class Committed:
    item_id: str
    previous_item_id: str | None


@dataclasses.dataclass(frozen=True)
class Cleared:
    pass


@dataclasses.dataclass(frozen=True)
class TextDelta:
    item_id: str
    delta: str  # appended to the item's text so far


@dataclasses.dataclass(frozen=True)
class Segment:
    item_id: str
    segment_id: str
    start: float  # seconds on the session's clock
    end: float
    text: str
    speaker: str  # a library voice's name, else A, B, C, ... in order of first appearance


@dataclasses.dataclass(frozen=True)
class Completed:
    item_id: str
    transcript: str
    audio_s: float  # the item's audio
    language: str | None


@dataclasses.dataclass(frozen=True)
class Failed:
    item_id: str
    message: str


LiveEvent = SpeechStarted | SpeechStopped | Committed | Cleared | TextDelta | Segment | Completed | Failed
