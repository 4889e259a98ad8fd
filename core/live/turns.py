"""Turn detection on a live stream (the Realtime protocol's `server_vad`): when speech starts and stops.

Rules, on Silero's per-frame speech probabilities (`core/live/vad.py`), with the protocol's three settings:
- speech starts at the first frame at or above `threshold`, announced once MIN_SPEECH_MS of such frames have come
  without a clear silence between them (a click or a cough's edge is not a turn);
- it goes on while frames stay above `threshold - END_MARGIN` (Silero's own hysteresis: a word's quiet tail
  does not end it);
- it stops after `silence_duration_ms` of frames below that, at the end of the silence (the protocol's
  `audio_end_ms` includes it). The item's audio starts `prefix_padding_ms` before the speech.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from core.errors import InvalidInput
from core.live.vad import FRAME_MS

MIN_SPEECH_MS = 96  # three frames
END_MARGIN = 0.15  # silero's `neg_threshold = threshold - 0.15`


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerVad:
    """The protocol's `server_vad` settings, with OpenAI's defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidInput(f"threshold must be between 0.0 and 1.0, got {self.threshold}", field="threshold")
        if not 0 <= self.prefix_padding_ms <= 10_000:
            raise InvalidInput(f"prefix_padding_ms must be between 0 and 10000, got {self.prefix_padding_ms}",
                               field="prefix_padding_ms")
        if not FRAME_MS <= self.silence_duration_ms <= 10_000:
            raise InvalidInput(f"silence_duration_ms must be between {FRAME_MS} and 10000, got "
                               f"{self.silence_duration_ms}", field="silence_duration_ms")


@dataclasses.dataclass(frozen=True)
class TurnChange:
    """`started`: speech began at `ms` (the first voiced frame). `stopped`: the silence that ends the turn is
    complete at `ms`; `speech_end_ms` is where the speech itself ended."""

    kind: str  # "started" | "stopped"
    ms: int
    speech_end_ms: int | None = None


class TurnDetector:
    """Feeds on frame probabilities in stream order; says where turns start and stop."""

    def __init__(self, config: ServerVad) -> None:
        self.config = config
        self.in_speech = False
        self._frame = 0  # index of the next frame
        self._onset: int | None = None  # first voiced frame of a start not yet announced
        self._voiced = 0  # voiced frames since `_onset`
        self._silence = 0  # frames of silence in a row, while in speech
        self._voiced_until = 0  # the end of the last frame heard as speech (frames)

    @property
    def silence_ms(self) -> int:
        """How long the current turn has been silent (0 outside a turn)."""
        return self._silence * FRAME_MS if self.in_speech else 0

    @property
    def voiced_until_ms(self) -> int:
        """Where the last speech heard ended (ms since the detector began), also inside the last push: speech that
        came back and paused again within one push leaves `silence_ms` above zero, but moves this on."""
        return self._voiced_until * FRAME_MS

    def push(self, probabilities: np.ndarray) -> list[TurnChange]:
        changes: list[TurnChange] = []
        high, low = self.config.threshold, self.config.threshold - END_MARGIN
        needed = -(-MIN_SPEECH_MS // FRAME_MS)
        silent_frames = -(-self.config.silence_duration_ms // FRAME_MS)
        for probability in probabilities:
            frame, self._frame = self._frame, self._frame + 1
            if not self.in_speech:
                if probability >= high:
                    if self._onset is None:
                        self._onset, self._voiced = frame, 0
                    self._voiced += 1
                    if self._voiced >= needed:
                        self.in_speech, self._silence, self._voiced_until = True, 0, frame + 1
                        changes.append(TurnChange("started", self._onset * FRAME_MS))
                        self._onset = None
                elif probability < low:
                    self._onset = None
            elif probability >= low:
                self._silence, self._voiced_until = 0, frame + 1
            else:
                self._silence += 1
                if self._silence >= silent_frames:
                    end = (frame + 1) * FRAME_MS
                    changes.append(TurnChange("stopped", end, speech_end_ms=end - self._silence * FRAME_MS))
                    self.in_speech, self._silence = False, 0
        return changes
