"""The engine's streaming hook on real weights: finished segments arrive while the job runs, once each, in time
order, from the job's thread, and are the final transcript's own segments before speakers are assigned."""

from __future__ import annotations

import threading

import pytest

from core import TranscribeOptions
from core.errors import Cancelled

pytestmark = pytest.mark.slow


def _run(engine, path, options):
    """Runs a job, recording streamed batches and progress events in the order they happened."""
    events: list[tuple] = []
    threads: set[int] = set()

    def on_segments(segments):
        threads.add(threading.get_ident())
        events.append(("segments", segments))

    result = engine.transcribe(path, options, on_segments=on_segments,
                               on_progress=lambda stage, fraction: events.append(("progress", stage, fraction)))
    batches = [event[1] for event in events if event[0] == "segments"]
    return result, events, batches, threads


@pytest.mark.parametrize("batch_size", [1, 4])
def test_streamed_segments_are_the_transcript_as_it_runs(engine, dialogue, batch_size):
    # Short chunks make several VAD chunks of the 20 s dialogue, so text arrives in several batches.
    options = TranscribeOptions(chunk_size=5, batch_size=batch_size)
    result, events, batches, threads = _run(engine, dialogue.path, options)
    streamed = [segment for batch in batches for segment in batch]
    assert len(batches) >= 3, len(batches)
    assert threads == {threading.get_ident()}  # the job's own thread: the caller's here
    # Without alignment or diarization the final segments are those streamed, in the same order; the final times
    # are the streamed ones fitted to the speech (a padded chunk's edge moves to where its words are spoken).
    from core.asr.chunks import CHUNK_PAD_S

    assert [s.text for s in streamed] == [s.text for s in result.segments]
    for early, final in zip(streamed, result.segments, strict=True):
        assert abs(early.start - final.start) <= CHUNK_PAD_S + 0.05 and abs(early.end - final.end) <= CHUNK_PAD_S + 0.05
    starts = [segment.start for segment in streamed]
    assert starts == sorted(starts)
    # The first text arrives before transcription finishes, not with the result.
    first = next(index for index, event in enumerate(events) if event[0] == "segments")
    transcribe_done = next(index for index, event in enumerate(events)
                           if event[0] == "progress" and event[1] != "transcribe" and index > first)
    later_transcribe = [event for event in events[first:transcribe_done] if event[:2] == ("progress", "transcribe")]
    assert later_transcribe, "segments came only after transcription ended"


def test_streamed_segments_carry_no_speakers_and_the_result_is_final(engine, dialogue):
    options = TranscribeOptions(diarization=True, chunk_size=10)
    result, _, batches, _ = _run(engine, dialogue.path, options)
    streamed = [segment for batch in batches for segment in batch]
    assert streamed and all(segment.speaker is None for segment in streamed)
    assert result.speakers and all(segment.speaker for segment in result.segments)
    # Diarization splits segments at speaker changes but never changes the words.
    assert " ".join(s.text for s in streamed).split() == result.text.split()


def test_a_failing_callback_stops_the_job_and_the_next_job_streams_afresh(engine, monologue):
    def refuse(_segments):
        raise Cancelled()

    with pytest.raises(Cancelled):
        engine.transcribe(monologue.path, TranscribeOptions(), on_segments=refuse)
    result, _, batches, _ = _run(engine, monologue.path, TranscribeOptions())
    assert [s.text for batch in batches for s in batch] == [s.text for s in result.segments]
    # The pipeline is left as it was: no hook stays attached after a job.
    pipeline = engine.registry.asr().pipeline
    assert "postprocess" not in pipeline.__dict__ and type(pipeline.vad_model).__name__ != "_RecordingVad"



def test_a_stopped_job_keeps_what_it_finished(engine, dialogue):
    """Stop once two segments are final: the job ends at its next step, and `Cancelled.partial` holds those
    segments as a result marked partial (no speakers: diarization labels them at the end), with a warning saying up
    to where, in every format; a job stopped before anything was finished has none."""
    import soundfile

    from core import Result
    from core.transcript.formats import Layout, render

    cancel = threading.Event()
    seen = []

    def on_segments(segments):
        seen.extend(segments)
        if len(seen) >= 2:
            cancel.set()

    options = TranscribeOptions(chunk_size=5, batch_size=1, diarization=True)
    with pytest.raises(Cancelled) as stopped:
        engine.transcribe(dialogue.path, options, on_segments=on_segments, cancel=cancel)
    partial = stopped.value.partial
    assert partial is not None and partial.partial and partial.segments == tuple(seen)
    assert partial.speakers is None and all(segment.speaker is None for segment in partial.segments)
    assert partial.duration == pytest.approx(soundfile.info(str(dialogue.path)).duration, abs=0.01)
    assert any(w.startswith("partial: the job was stopped at 0:") and w.endswith("what was finished by then")
               for w in partial.warnings), partial.warnings
    data = partial.to_dict()
    assert data["partial"] is True and Result.from_dict(data) == partial
    assert "partial" not in Result(segments=partial.segments, language="en").to_dict()  # only a stopped job's
    assert seen[0].text.strip() in render(partial, "srt", Layout())

    cancel.set()  # stopped before it began: nothing finished, nothing kept
    with pytest.raises(Cancelled) as stopped:
        engine.transcribe(dialogue.path, options, cancel=cancel)
    assert stopped.value.partial is None
