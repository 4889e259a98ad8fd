"""A live session in the engine itself (`core/live/`), on the open profile's real tiny.en and speaker model: a turn
longer than whisper's window is cut and goes on as a new item, the audio a session holds stays bounded however long
it runs, a cleared turn is never transcribed, a closed session leaves nothing behind, no speech is lost to an early
guess or a change of settings, and a failure in speaker labelling still sends the text."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile

from bench.live_client import encode_audio
from core.live import events
from core.live.engine import LiveBusy, LiveEngine
from core.live.session import MAX_ITEM_S, LiveConfig
from tests import speech

pytestmark = pytest.mark.slow
CHUNK_BYTES = 4800  # 100 ms of 24 kHz 16-bit PCM


class Recorder:
    def __init__(self) -> None:
        self.events: list[events.LiveEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: events.LiveEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        with self._lock:
            return [event for event in self.events if isinstance(event, kind)]

    def wait_settled(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.of(events.Completed)) + len(self.of(events.Failed)) == len(self.of(events.Committed)):
                return
            time.sleep(0.1)
        raise AssertionError("the session's turns were not all transcribed in time")


@pytest.fixture(scope="module")
def live(engine):
    return LiveEngine(engine, max_sessions=2)


@pytest.fixture(scope="module")
def long_turn(data_dir) -> speech.Recording:
    """~40 s of one festival voice with pauses of 0.2 s: a single turn for server VAD (pauses under 500 ms)."""
    lines = [(speech.MALE, text) for text in (*speech.ENROLMENT, *(t for _, t in speech.THREE_PEOPLE),
                                              *(t for _, t in speech.DIALOGUE))]
    return speech.make_dialogue(data_dir / "long-turn-40s.wav", lines, gap_s=0.2)


@pytest.fixture(scope="module")
def paused_turn(data_dir) -> speech.Recording:
    """~20 s of one festival voice with 0.35 s pauses: one turn for server VAD (it waits for 500 ms of silence),
    with pauses long enough to settle its parts at."""
    lines = [(speech.MALE, text) for text in (*speech.ENROLMENT, *(t for _, t in speech.THREE_PEOPLE))][:6]
    return speech.make_dialogue(data_dir / "paused-turn-20s.wav", lines, gap_s=0.35)


@contextlib.contextmanager
def watched_finals(live) -> Iterator[list[float]]:
    """The audio length (s) of each final decode of the default model while the block runs; the decoder's calls
    are watched, not replaced."""
    decoder, decoded = live.decoder(None), []
    original = decoder.final

    def watched(audio, **options):
        decoded.append(len(audio) / speech.SAMPLE_RATE)
        return original(audio, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoder, "final", watched)
        yield decoded


def feed(session, samples: np.ndarray, *, tail_s: float = 1.0, watch=None) -> None:
    audio = np.concatenate([samples, np.zeros(int(tail_s * speech.SAMPLE_RATE), np.float32)])
    data, _ = encode_audio(audio)
    for offset in range(0, len(data), CHUNK_BYTES):
        session.append(data[offset: offset + CHUNK_BYTES])
        if watch is not None:
            watch()


def test_a_turn_longer_than_the_window_is_cut_and_memory_stays_bounded(live, long_turn):
    samples, _ = soundfile.read(str(long_turn.path), dtype="float32")
    assert len(samples) / speech.SAMPLE_RATE > 1.2 * MAX_ITEM_S
    recorder, held = Recorder(), []
    session = live.open(LiveConfig(language="en"), recorder)
    try:
        feed(session, samples, watch=lambda: held.append(session.buffered_s))
        recorder.wait_settled()
    finally:
        session.close()
    started, stopped = recorder.of(events.SpeechStarted), recorder.of(events.SpeechStopped)
    assert len(started) >= 2 and len(started) == len(stopped)
    for begin, end in zip(started, stopped, strict=True):
        assert end.audio_end_ms - begin.audio_start_ms <= MAX_ITEM_S * 1000 + 100
    assert max(held) <= MAX_ITEM_S + 1.5, max(held)
    transcript = " ".join(event.transcript for event in recorder.of(events.Completed))
    assert speech.word_error_rate(long_turn.script, transcript) <= 0.25, transcript
    assert live.sessions == 0


def test_a_cleared_turn_is_never_transcribed(live, monologue):
    samples, _ = soundfile.read(str(monologue.path), dtype="float32")
    recorder = Recorder()
    session = live.open(LiveConfig(language="en"), recorder)
    try:
        data, _ = encode_audio(samples[: len(samples) // 2])
        for offset in range(0, len(data), CHUNK_BYTES):
            session.append(data[offset: offset + CHUNK_BYTES])
        assert recorder.of(events.SpeechStarted)
        session.clear()
        assert session.buffered_s == 0
        feed(session, samples)
        recorder.wait_settled()
    finally:
        session.close()
    cleared = recorder.of(events.SpeechStarted)[0].item_id
    assert cleared not in {event.item_id for event in recorder.of(events.Committed)}
    assert any(isinstance(event, events.Cleared) for event in recorder.events)
    completed = recorder.of(events.Completed)
    assert completed and speech.word_error_rate(monologue.script, " ".join(e.transcript for e in completed)) <= 0.2


def test_sessions_are_counted_and_a_closed_one_is_forgotten(live, monologue):
    samples, _ = soundfile.read(str(monologue.path), dtype="float32")
    first, second = Recorder(), Recorder()
    one = live.open(LiveConfig(language="en"), first)
    two = live.open(LiveConfig(language="en"), second)
    try:
        assert live.sessions == 2
        with pytest.raises(LiveBusy, match="LIVE_MAX_SESSIONS=2"):
            live.open(LiveConfig(), Recorder())
        data, _ = encode_audio(samples)
        for offset in range(0, len(data), CHUNK_BYTES):
            one.append(data[offset: offset + CHUNK_BYTES])
        one.close()  # mid-turn, finals perhaps queued: dropped
        assert live.sessions == 1 and one.buffered_s == 0 and live.queued(one) == 0
        feed(two, samples)
        second.wait_settled()
        assert second.of(events.Completed)
    finally:
        one.close()
        two.close()
    assert live.sessions == 0


def test_a_live_final_stops_falling_back_once_its_budget_is_spent(live, monologue):
    """A final that fails whisper's checks is decoded again at the next temperatures only within
    FINAL_FALLBACK_BUDGET_S (on far-field noise the whole schedule took a 7 s turn 12 s); a batch job's model keeps
    the whole schedule. Every decode is made to fail the checks (a log-probability threshold no text meets)."""
    import dataclasses

    from core.asr import decoding
    from core.live.decoder import FINAL_FALLBACK_BUDGET_S

    decoder = live.decoder(None)
    samples = soundfile.read(monologue.path, dtype="float32")[0][: 4 * speech.SAMPLE_RATE]
    temperatures: list[float] = []
    original = decoding.TimedWhisperModel._decode

    def counted(self, translator, encoded, mels, prompts, indices, temperature, options, kwargs):
        temperatures.append(temperature)
        return original(self, translator, encoded, mels, prompts, indices, temperature, options, kwargs)

    strict = dataclasses.replace(decoder._options, log_prob_threshold=0.0, no_speech_threshold=None)
    view = decoder._model
    assert view.fallback_budget_s == FINAL_FALLBACK_BUDGET_S
    assert live.engine.registry.asr(None).pipeline.model.fallback_budget_s is None  # the batch model's own
    patch = pytest.MonkeyPatch()
    patch.setattr(decoding.TimedWhisperModel, "_decode", counted)
    patch.setattr(decoder, "_options", strict)
    try:
        view.fallback_budget_s = 0.0
        assert decoder.final(samples, language="en").text  # the best attempt is kept
        assert temperatures == [0.0]
        temperatures.clear()
        view.fallback_budget_s = None
        decoder.final(samples, language="en")
        assert temperatures == list(strict.temperatures)
    finally:
        view.fallback_budget_s = FINAL_FALLBACK_BUDGET_S
        patch.undo()


def test_a_long_turn_is_settled_at_its_pauses_and_its_final_decodes_only_the_rest(live, paused_turn):
    """A turn longer than SETTLE_AFTER_S has its parts decoded at pauses while it goes on: no decode of the whole
    turn, the parts cover it, and the one item's text and segment times are the turn's (the decoder's calls are
    watched, not replaced)."""
    from core.live.session import SETTLE_AFTER_S

    samples, _ = soundfile.read(str(paused_turn.path), dtype="float32")
    recorder = Recorder()
    with watched_finals(live) as decoded:
        session = live.open(LiveConfig(language="en"), recorder)
        try:
            feed(session, samples)
            recorder.wait_settled()
        finally:
            session.close()
    (started,), (stopped,) = recorder.of(events.SpeechStarted), recorder.of(events.SpeechStopped)
    (completed,) = recorder.of(events.Completed)
    turn_s = (stopped.audio_end_ms - started.audio_start_ms) / 1000
    assert turn_s > 2 * SETTLE_AFTER_S and len(decoded) >= 2, decoded
    assert max(decoded) < turn_s - SETTLE_AFTER_S / 2 and sum(decoded) == pytest.approx(turn_s, abs=0.6), decoded
    assert speech.word_error_rate(paused_turn.script, completed.transcript) <= 0.15, completed.transcript
    segments = recorder.of(events.Segment)
    assert all(a.end <= b.start + 0.05 for a, b in itertools.pairwise(segments))
    assert started.audio_start_ms / 1000 - 0.05 <= segments[0].start and segments[-1].end <= stopped.audio_end_ms / 1000


def _wait_idle(live, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not live.idle():
        assert time.monotonic() < deadline, "the live decoder stayed busy"
        time.sleep(0.05)


def test_speech_that_comes_back_within_one_append_is_not_lost_to_the_guess_before_it(live):
    """A client sending large chunks: the turn pauses long enough to be guessed at (GUESS_AFTER_MS), then, inside
    one append, speaks again and pauses again (shorter than silence_duration_ms). The guess holds the first sentence
    only: the turn's final must be decoded again, not be the guess (the decoder's calls are watched, not replaced)."""
    rate = speech.SAMPLE_RATE
    first = speech.synthesize("I would like to book a table for two people tonight.", speech.MALE)
    second = speech.synthesize("Could we also order a bottle of red wine?", speech.MALE)

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * rate), np.float32)

    appends = [np.concatenate([silence(0.5), first, silence(0.35)]),  # ends 350 ms into a 400 ms pause
               np.concatenate([silence(0.05), second, silence(0.25)]),  # speech again, then a pause under 500 ms
               silence(1.5)]  # the turn ends
    recorder = Recorder()
    with watched_finals(live) as decoded:
        session = live.open(LiveConfig(language="en"), recorder)
        try:
            _wait_idle(live)
            for index, audio in enumerate(appends):
                session.append(encode_audio(audio)[0])
                if index == 0:
                    _wait_idle(live)  # the guess at the first sentence is decoded
                    assert len(decoded) == 1, "the pause was not guessed at: the test no longer tests the guess"
            recorder.wait_settled(timeout_s=120)
        finally:
            session.close()
    (completed,) = recorder.of(events.Completed)
    assert len(decoded) >= 2 and max(decoded[1:]) > decoded[0] + 1.5, decoded  # the whole turn decoded again
    assert "wine" in completed.transcript.lower(), completed.transcript


@pytest.mark.parametrize("new_detection", ["other server_vad settings", "none"])
def test_a_turn_open_when_turn_detection_changes_ends_there_and_is_transcribed(live, monologue, new_detection):
    """session.update while someone speaks: the open turn gets its speech_stopped, committed and transcript (before,
    the new detector began outside speech and a new item opened over this one's audio, which was never heard of
    again)."""
    import dataclasses

    from core.live.turns import ServerVad

    samples, _ = soundfile.read(str(monologue.path), dtype="float32")
    cut = int((monologue.turns[0][1] + 0.1) * speech.SAMPLE_RATE)  # 0.1 s after the first sentence: a turn still open
    recorder = Recorder()
    session = live.open(LiveConfig(language="en"), recorder)
    try:
        feed(session, samples[:cut], tail_s=0)
        (started,) = recorder.of(events.SpeechStarted)
        assert not recorder.of(events.Committed)
        detection = ServerVad(silence_duration_ms=800) if new_detection != "none" else None
        session.update(dataclasses.replace(session.config, turn_detection=detection))
        assert [event.item_id for event in recorder.of(events.SpeechStopped)] == [started.item_id]
        feed(session, samples[cut:])
        if detection is None:
            session.commit()
        recorder.wait_settled()
    finally:
        session.close()
    opened = [event.item_id for event in recorder.of(events.SpeechStarted)]
    committed = [event.item_id for event in recorder.of(events.Committed)]
    assert set(opened) <= set(committed) and started.item_id in committed
    first_sentence = monologue.script.split(". ")[0]
    (text,) = [event.transcript for event in recorder.of(events.Completed) if event.item_id == started.item_id]
    assert speech.word_error_rate(first_sentence, text) <= 0.2, text


def test_a_failure_in_speaker_labelling_still_sends_the_text(live, monologue):
    """The voice library or the speaker model failing (here: made to raise) costs the speakers, never the turn's
    text: it is completed with its segments, unlabelled, and the session goes on."""
    samples, _ = soundfile.read(str(monologue.path), dtype="float32")

    def unreadable():
        raise RuntimeError("the voice library cannot be read")

    recorder = Recorder()
    patch = pytest.MonkeyPatch()
    patch.setattr(live, "voice_space", unreadable)
    session = live.open(LiveConfig(language="en"), recorder)
    try:
        feed(session, samples[: 8 * speech.SAMPLE_RATE])
        recorder.wait_settled(timeout_s=120)
    finally:
        session.close()
        patch.undo()
    assert recorder.of(events.Completed) and not recorder.of(events.Failed)
    segments = recorder.of(events.Segment)
    assert segments and all(segment.speaker == "" for segment in segments)


def test_a_final_longer_than_one_window_stops_where_it_is_told_to(live, long_turn):
    """A manual commit may hold minutes of audio, decoded window by window; its session passes `stop` (closed or
    cancelled), so a client that went away does not keep the one decoder busy for minutes."""
    samples, _ = soundfile.read(str(long_turn.path), dtype="float32")
    assert len(samples) / speech.SAMPLE_RATE > 35
    decoder, asked = live.decoder(None), []

    def stop() -> bool:
        asked.append(True)
        return True

    whole = decoder.final(samples, language="en")
    stopped = decoder.final(samples, language="en", stop=stop)
    assert whole.segments[-1].end > 31 and len(asked) == 1
    assert stopped.segments and stopped.segments[-1].end <= 30.5 and len(stopped.segments) < len(whole.segments)
