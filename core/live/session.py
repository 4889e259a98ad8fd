"""One live transcription session: audio in as it is spoken, events out (`core/live/events.py`).

The caller (one thread at a time) appends audio, commits, clears or changes the configuration; decoding runs on
the live engine's worker (`core/live/engine.py`) and its events come from there. In server-VAD mode a turn is an
item: its partial drafts are decoded about once a second while it is spoken (`TextDelta`s of the words two drafts
agree on), and once it ends it is decoded in full (`Segment`s with speakers, then `Completed`). Without turn
detection the buffer is an item when the client commits it.

Memory is bounded whatever the session's length: the audio kept is the open turn (at most MAX_ITEM_S; a longer
turn is cut at its quietest frame and goes on as a new item) plus the prefix padding before it, or, without turn
detection, the uncommitted buffer (at most MAX_BUFFER_S). What was already transcribed is not kept: the events
carry it. At most MAX_PENDING_FINALS finished turns of one session wait for the decoder; beyond that, `append`
waits (the client's socket then stops being read: back-pressure, never unbounded queues).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InvalidInput
from core.live import events
from core.live.agreement import StablePrefix
from core.live.audio import StreamDecoder
from core.live.decoder import FinalText, joined
from core.live.speakers import LiveSpeakers
from core.live.turns import ServerVad, TurnDetector
from core.live.vad import FRAME_MS, FRAME_SAMPLES, FrameScorer
from core.media.decode import SAMPLE_RATE

if TYPE_CHECKING:
    from core.live.engine import LiveEngine

logger = logging.getLogger(__name__)

PARTIAL_EVERY_S = 1.0  # a draft of the open turn about this often (of audio)
MIN_PARTIAL_S = 0.6  # no draft of a turn shorter than this
MAX_ITEM_S = 30.0  # a turn longer than this is cut at its quietest frame (whisper's window; bounded memory)
SPLIT_SEARCH_S = 6.0  # ...searched for in its last seconds
MAX_BUFFER_S = 600.0  # without turn detection: the most audio an uncommitted buffer may hold
MIN_COMMIT_MS = 100  # OpenAI's minimum for a commit
MAX_PENDING_FINALS = 6
LANGUAGE_KEEP_P = 0.8  # a detected language this sure is kept for the session's later turns
GUESS_AFTER_MS = 200  # a turn silent this long is decoded already, before its silence_duration_ms is over
# A turn whose undecoded part has run this long is settled at its next pause of GUESS_AFTER_MS: that part is decoded
# while the speaker goes on, and the turn's final decodes only what follows (a 20 s turn's final took 5 s at once).
SETTLE_AFTER_S = 8.0
NO_DRAFT_SILENCE_MS = 96  # no draft once the turn has been silent this long


class BufferTooSmall(InvalidInput):
    """A commit of less than MIN_COMMIT_MS of audio."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """A session's settings (the protocol's `session.update` maps onto these)."""

    model: str | None = None  # installed ASR model name; None: the default
    language: str | None = None
    prompt: str | None = None
    format_type: str = "audio/pcm"
    turn_detection: ServerVad | None = dataclasses.field(default_factory=ServerVad)
    transcribe: bool = True  # False: turns are detected and committed, not transcribed
    speakers: bool = True


@dataclasses.dataclass
class _Guess:
    """Part of a turn decoded before the turn ended: a guess at its rest, made while its closing silence was waited
    for (stale if the speech goes on), or a settled part of a long turn (`_Item.heads`: never stale, the speaker
    paused after it and what follows is decoded on its own)."""

    start: int  # the audio it decoded, from here (session sample)...
    until: int  # ...to here
    result: FinalText | None = None
    stale: bool = False  # the speech went on: not the turn's text after all


@dataclasses.dataclass
class _Item:
    item_id: str
    start: int  # first sample, on the session clock
    prefix: StablePrefix = dataclasses.field(default_factory=StablePrefix)
    drafted_at: int = 0  # session sample at which the last draft was asked for
    cancelled: bool = False
    finalizing: bool = False
    guess: _Guess | None = None
    heads: list[_Guess] = dataclasses.field(default_factory=list)  # settled parts, in order, from `start` on
    tail_speech: bool = True  # set when the turn ends: whether anything was said after its last settled part

    @property
    def settled(self) -> int:
        """Where the part not yet settled begins."""
        return self.heads[-1].until if self.heads else self.start


class LiveSession:
    """See the module docstring. `on_event` is called from the caller's thread and from the engine's worker."""

    def __init__(self, engine: LiveEngine, config: LiveConfig, on_event: Callable[[events.LiveEvent], None]) -> None:
        self.engine = engine
        self.session_id = "sess_" + secrets.token_hex(10)
        self._emit = on_event
        self._lock = threading.Condition()  # guards what the worker and the caller share: items, counters
        self.closed = False
        self.config = config
        self._clock = 0  # samples (16 kHz) received since the session opened
        self._chunks: list[np.ndarray] = []  # the buffer: audio from `_buffer_start` to `_clock`
        self._buffer_start = 0
        self._item: _Item | None = None
        self._last_item_id: str | None = None
        self._last_item_end = 0
        self._pending_finals = 0
        self._drafting = False
        self._language = config.language
        self._speakers: LiveSpeakers | None = None
        self._recent: collections.deque[tuple[int, float]] = collections.deque(  # (frame, speech probability)
            maxlen=int(SPLIT_SEARCH_S * 1000 / FRAME_MS))
        self._frames = 0  # frames scored since `_vad_origin`
        self._configure(config)

    # ---- the caller's side -------------------------------------------------------------------
    def update(self, config: LiveConfig) -> None:
        """New settings from now on; the audio already buffered stays."""
        if config.model != self.config.model:
            self.engine.decoder(config.model)  # refuses a model that is not installed, before anything changes
        if config.language != self.config.language:
            self._language = config.language
        self.config = config
        self._configure(config)

    def append(self, data: bytes) -> None:
        samples = self._decoder.push(data)
        self._wait_for_decoder()
        if not len(samples):
            return
        if self._detector is None and (self._clock + len(samples) - self._buffer_start) > MAX_BUFFER_S * SAMPLE_RATE:
            raise InvalidInput(f"the input audio buffer holds {MAX_BUFFER_S / 60:g} minutes at most without turn "
                               "detection: commit or clear it", field="audio")
        self._chunks.append(samples)
        self._clock += len(samples)
        if self._detector is None:
            return
        probabilities = self._scorer.push(samples)
        self._recent.extend(zip(range(self._frames, self._frames + len(probabilities)), probabilities.tolist(),
                                strict=True))
        self._frames += len(probabilities)
        for change in self._detector.push(probabilities):
            at = self._vad_origin + change.ms * SAMPLE_RATE // 1000
            if change.kind == "started":
                self._start_item(at)
            elif self._item is not None:
                self._end_item(at, speech_end=self._vad_origin + (change.speech_end_ms or change.ms) * SAMPLE_RATE
                               // 1000)
        if self._item is not None:
            if (self._clock - self._item.start) >= MAX_ITEM_S * SAMPLE_RATE:
                self._split_item()
            self._maybe_guess()
            self._maybe_draft()
        else:
            self._trim()

    def commit(self) -> None:
        """The buffer becomes an item (with server VAD, the turn being spoken ends here)."""
        length = self._clock - self._buffer_start if self._item is None else self._clock - self._item.start
        if length * 1000 < MIN_COMMIT_MS * SAMPLE_RATE:
            raise BufferTooSmall(f"buffer too small: expected at least {MIN_COMMIT_MS} ms of audio, but the buffer "
                                 f"only has {length * 1000 / SAMPLE_RATE:.2f} ms", field="input_audio_buffer")
        if self._item is None:
            self._item = _Item(self._new_item_id(), self._buffer_start)
        self._end_item(self._clock, announce=False)
        if self._detector is not None:
            self._reset_vad()

    def clear(self) -> None:
        with self._lock:
            if self._item is not None:
                self._item.cancelled = True
            self._item = None
        self._chunks, self._buffer_start = [], self._clock
        if self._detector is not None:
            self._reset_vad()
        self._emit(events.Cleared())

    def close(self) -> None:
        """The client left: queued decodes of this session are dropped, its buffers freed."""
        with self._lock:
            self.closed = True
            if self._item is not None:
                self._item.cancelled = True
            self._lock.notify_all()
        self._chunks = []
        self.engine.forget(self)

    @property
    def clock_ms(self) -> int:
        return self._clock * 1000 // SAMPLE_RATE

    @property
    def buffered_s(self) -> float:
        """Audio held now (the memory a session costs, for tests and figures)."""
        return sum(len(chunk) for chunk in self._chunks) / SAMPLE_RATE

    # ---- items ---------------------------------------------------------------------------------
    def _start_item(self, onset: int) -> None:
        prefix = (self.config.turn_detection or ServerVad()).prefix_padding_ms * SAMPLE_RATE // 1000
        start = max(onset - prefix, self._buffer_start, self._last_item_end)
        self._item = _Item(self._new_item_id(), start, drafted_at=start)
        self._emit(events.SpeechStarted(self._item.item_id, start * 1000 // SAMPLE_RATE))

    def _end_item(self, end: int, *, announce: bool = True, speech_end: int | None = None) -> None:
        """`speech_end`: where the VAD heard the turn's speech end (None: at `end`, a commit or a cut)."""
        item = self._item
        assert item is not None
        audio = self._slice(item.start, end)
        if announce:
            self._emit(events.SpeechStopped(item.item_id, end * 1000 // SAMPLE_RATE))
        self._emit(events.Committed(item.item_id, self._last_item_id))
        heard = speech_end if speech_end is not None else min(end, self._heard_until())
        with self._lock:
            item.finalizing = True
            # cut before the guess's end, or speech heard after it (it came back, perhaps within one append, and
            # paused again): the guess is not this turn's text
            if item.guess is not None and (item.guess.until > end or heard > item.guess.until):
                item.guess.stale = True
            if item.heads and item.heads[-1].until > end:  # cut inside a settled part (a 30 s cut): decode it whole
                item.heads = []
            item.tail_speech = (end if speech_end is None else speech_end) > item.settled
            self._item = None
            self._pending_finals += 1
        self._last_item_id, self._last_item_end = item.item_id, end
        self._drop_before(end)
        self.engine.submit_final(self, item, audio, item.start)

    def _split_item(self) -> None:
        """A turn that reached MAX_ITEM_S: cut at its quietest frame in the last SPLIT_SEARCH_S, go on as a new
        item."""
        item = self._item
        assert item is not None
        earliest = item.start + SAMPLE_RATE
        candidates = [(probability, frame) for frame, probability in self._recent
                      if self._vad_origin + frame * FRAME_SAMPLES >= earliest]
        _, frame = min(candidates, default=(0.0, (self._clock - self._vad_origin) // FRAME_SAMPLES))
        cut = min(self._vad_origin + frame * FRAME_SAMPLES + FRAME_SAMPLES // 2, self._clock)
        self._end_item(cut)
        self._item = _Item(self._new_item_id(), cut, drafted_at=cut)
        self._emit(events.SpeechStarted(self._item.item_id, cut * 1000 // SAMPLE_RATE))

    def _maybe_guess(self) -> None:
        """Once a turn has been silent for GUESS_AFTER_MS (but not yet long enough to end), decode what is not
        settled of it already. A long one (SETTLE_AFTER_S) is settled there, whatever else waits: that part is
        final whether the speech goes on or not. A shorter one is guessed at, when the decoder has nothing else
        waiting: if the silence lasts, the turn's final text is (nearly) ready when it ends; if the speech goes on,
        the guess is dropped."""
        item, detector = self._item, self._detector
        if item is None or detector is None or not self.config.transcribe:
            return
        silence = detector.silence_ms
        with self._lock:
            if item.guess is not None and self._heard_until() > item.guess.until:  # the speech went on
                item.guess.stale = True
                item.guess = None
                return
            wait = detector.config.silence_duration_ms
            if item.guess is not None or silence < GUESS_AFTER_MS or wait - GUESS_AFTER_MS < 2 * FRAME_MS:
                return
            start = item.settled
            if self._clock - start >= SETTLE_AFTER_S * SAMPLE_RATE:
                part = _Guess(start, self._clock)
                item.heads.append(part)
            elif (self._pending_finals or not self.engine.idle()
                  or self._clock - silence * SAMPLE_RATE // 1000 <= start):  # nothing said since it settled
                return
            else:
                item.guess = part = _Guess(start, self._clock)
        self.engine.submit_guess(self, item, part, self._slice(start, self._clock))

    def _heard_until(self) -> int:
        """Where the speech last heard ended (samples; the clock without turn detection)."""
        if self._detector is None:
            return self._clock
        return self._vad_origin + self._detector.voiced_until_ms * SAMPLE_RATE // 1000

    def _maybe_draft(self) -> None:
        item = self._item
        if item is None or not self.config.transcribe:
            return
        if self._detector is not None and self._detector.silence_ms >= NO_DRAFT_SILENCE_MS:
            return  # the speaker paused: the final (or a guess) comes next, a draft would only delay it
        with self._lock:
            if self._drafting or self._pending_finals:  # behind: finals first, drafts only when caught up
                return
            due = self._clock - item.drafted_at >= PARTIAL_EVERY_S * SAMPLE_RATE
            long_enough = self._clock - item.start >= MIN_PARTIAL_S * SAMPLE_RATE
            if not (due and long_enough):
                return
            self._drafting = True
            item.drafted_at = self._clock
        start = max(item.start, self._clock - int(MAX_ITEM_S * SAMPLE_RATE))
        self.engine.submit_partial(self, item, self._slice(start, self._clock))

    # ---- the worker's side ---------------------------------------------------------------------
    def run_partial(self, item: _Item, audio: np.ndarray) -> None:
        try:
            with self._lock:
                if item.cancelled or item.finalizing or self.closed:
                    return
            text, language = self.engine.decoder(self.config.model).partial(audio, language=self._language,
                                                                             prompt=self.config.prompt)
            with self._lock:
                if item.cancelled or item.finalizing or self.closed:
                    return
                delta = item.prefix.update(text, len(audio) / SAMPLE_RATE)
            if delta:
                self._emit(events.TextDelta(item.item_id, delta))
            del language
        finally:
            with self._lock:
                self._drafting = False

    def run_guess(self, item: _Item, guess: _Guess, audio: np.ndarray) -> None:
        with self._lock:
            if guess.stale or item.cancelled or self.closed:
                return
        try:
            result = self.engine.decoder(self.config.model).final(audio, language=self._language,
                                                                  prompt=self.config.prompt)
        except Exception:
            logger.debug("live guess failed", exc_info=True)
            return
        with self._lock:
            if not guess.stale:
                guess.result = result

    def run_final(self, item: _Item, audio: np.ndarray, offset: int) -> None:
        try:
            if item.cancelled or self.closed:
                return
            seconds = round(len(audio) / SAMPLE_RATE, 3)
            if not self.config.transcribe:
                return
            try:
                final = self._final_text(item, audio)
            except Exception as error:  # the session goes on; the client learns which item failed
                logger.exception("live transcription failed")
                self._emit(events.Failed(item.item_id, f"transcription failed: {type(error).__name__}"))
                return
            if self._language is None and final.language and (final.language_probability or 0) >= LANGUAGE_KEEP_P:
                self._language = final.language
            if self.closed:
                return
            try:
                labels = self._labels(audio, final.segments)
            except Exception:  # the text still goes out, without speakers; the log has the trace
                logger.exception("live speaker labelling failed")
                labels = [""] * len(final.segments)
            rest = item.prefix.rest_of(final.text)
            if rest:
                self._emit(events.TextDelta(item.item_id, rest))
            base = offset / SAMPLE_RATE
            for index, (segment, speaker) in enumerate(zip(final.segments, labels, strict=True)):
                self._emit(events.Segment(item.item_id, f"{item.item_id}_{index}", round(base + segment.start, 3),
                                          round(base + segment.end, 3), segment.text, speaker))
            self._emit(events.Completed(item.item_id, final.text, seconds, final.language))
        finally:
            with self._lock:
                self._pending_finals -= 1
                self._lock.notify_all()

    def _final_text(self, item: _Item, audio: np.ndarray) -> FinalText:
        """The turn's text: its settled parts and a decode of the rest (the guess at it, when that still holds), or
        the whole turn decoded at once when a settled part failed."""
        with self._lock:
            heads = list(item.heads)
            guess = item.guess if item.guess is not None and not item.guess.stale else None
        rest = item.settled if heads and all(head.result is not None for head in heads) else item.start
        parts = [(head.start, head.result) for head in heads] if rest != item.start else []
        if rest == item.start or item.tail_speech:
            text = guess.result if guess is not None and guess.start == rest else None
            if text is None:
                text = self.engine.decoder(self.config.model).final(audio[rest - item.start:],
                                                                    stop=lambda: self.closed or item.cancelled,
                                                                    language=self._language, prompt=self.config.prompt)
            parts.append((rest, text))
        return joined([((start - item.start) / SAMPLE_RATE, text) for start, text in parts])

    def _labels(self, audio: np.ndarray, segments: tuple) -> list[str]:
        if not segments:
            return []
        if not self.config.speakers:
            return [""] * len(segments)
        if self._speakers is None:
            space = self.engine.voice_space()
            if space is None:
                return [""] * len(segments)
            self._speakers = LiveSpeakers(space)
        return self._speakers.label(audio, [(segment.start, segment.end) for segment in segments])

    # ---- buffer ----------------------------------------------------------------------------------
    def _configure(self, config: LiveConfig) -> None:
        if getattr(self, "_decoder", None) is None or self._decoder.format_type != config.format_type:
            self._decoder = StreamDecoder(config.format_type)
        previous = getattr(self, "_detector", None)
        wanted = config.turn_detection
        changed = previous.config != wanted if previous is not None else wanted is not None
        if changed and self._item is not None:
            # a turn open when turn detection changes ends here (stopped, committed, transcribed): the new
            # detector starts outside speech, and would otherwise open a new item over this one's audio
            self._end_item(self._clock)
        if wanted is None:
            self._detector = None
        elif changed:
            self._detector = TurnDetector(wanted)
            self._reset_vad()

    def _reset_vad(self) -> None:
        self._scorer = FrameScorer(self.engine.vad_session())
        self._vad_origin, self._frames = self._clock, 0
        self._recent.clear()
        if self._detector is not None:
            self._detector = TurnDetector(self._detector.config)

    def _slice(self, start: int, end: int) -> np.ndarray:
        audio = np.concatenate(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks = [audio] if len(audio) else []
        return audio[max(start - self._buffer_start, 0): max(end - self._buffer_start, 0)].copy()

    def _drop_before(self, sample: int) -> None:
        if sample <= self._buffer_start:
            return
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        keep = audio[sample - self._buffer_start:]
        self._chunks = [keep.copy()] if len(keep) else []
        self._buffer_start = sample

    def _trim(self) -> None:
        """Outside a turn, keep only what a turn starting now could need: the prefix padding, and a little more
        for the frames the VAD has not scored yet."""
        padding = (self.config.turn_detection or ServerVad()).prefix_padding_ms * SAMPLE_RATE // 1000
        keep = padding + 4 * FRAME_SAMPLES + int(0.2 * SAMPLE_RATE)
        if self._clock - self._buffer_start > 2 * keep:
            self._drop_before(self._clock - keep)

    def _wait_for_decoder(self) -> None:
        with self._lock:
            while self._pending_finals >= MAX_PENDING_FINALS and not self.closed:
                self._lock.wait(1.0)

    def _new_item_id(self) -> str:
        return "item_" + secrets.token_hex(10)
