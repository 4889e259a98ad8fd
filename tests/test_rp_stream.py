"""The RunPod worker with `RUNPOD_STREAM=1`: a generator handler behind the real SDK server. `/stream` gives the
finished segments while the job runs and the whole result last; `/run` + `/status` and `/runsync` return RunPod's
aggregate of the same items (`return_aggregate_stream`), whose last item is the whole result."""

from __future__ import annotations

import base64

import pytest
import requests

from core.asr.chunks import CHUNK_PAD_S
from tests.rp_server import launch, stop_workers, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def streaming(models_dir, tmp_path_factory):
    worker = launch(models_dir, tmp_path_factory.mktemp("rp-stream"), RUNPOD_STREAM="1")
    try:
        wait_ready(worker)
        yield worker
    finally:
        stop_workers({"stream": worker})


def _payload(path, **options):
    return {"audio_base64": base64.b64encode(path.read_bytes()).decode(), "chunk_size": 5, **options}


def _check_items(items, *, diarized):
    """Partial items first (segments in time order, no speakers), then the whole result, whose words they are."""
    *partials, final = items
    assert partials and all(item["partial"] is True and set(item) == {"partial", "segments"} for item in partials)
    streamed = [segment for item in partials for segment in item["segments"]]
    assert all("speaker" not in segment for segment in streamed)
    starts = [segment["start"] for segment in streamed]
    assert starts == sorted(starts)
    assert "partial" not in final and final["transcription"] and final["segments"]
    if diarized:
        assert len(final["speakers"]) == 2
        assert " ".join(s["text"] for s in streamed).split() == " ".join(s["text"] for s in final["segments"]).split()
    else:
        # The same segments; the final times are the streamed ones fitted to the speech (a padded chunk's edge
        # moves to where its words are spoken).
        assert [s["text"] for s in streamed] == [s["text"] for s in final["segments"]]
        for early, last in zip(streamed, final["segments"], strict=True):
            assert abs(early["start"] - last["start"]) <= CHUNK_PAD_S + 0.05, (early, last)
            assert abs(early["end"] - last["end"]) <= CHUNK_PAD_S + 0.05, (early, last)


def test_stream_endpoint_gives_segments_then_the_result(streaming, dialogue):
    job = requests.post(f"{streaming.url}/run", json={"input": _payload(dialogue.path, diarization=True)},
                        timeout=30).json()
    reply = requests.post(f"{streaming.url}/stream/{job['id']}", timeout=600).json()
    assert reply["status"] == "COMPLETED", reply
    _check_items([item["output"] for item in reply["stream"]], diarized=True)


def test_runsync_and_status_return_the_aggregate_with_the_whole_result_last(streaming, monologue):
    reply = streaming.run(_payload(monologue.path))
    assert reply["status"] == "COMPLETED", reply
    _check_items(reply["output"], diarized=False)
    job = requests.post(f"{streaming.url}/run", json={"input": _payload(monologue.path)}, timeout=30).json()
    status = requests.post(f"{streaming.url}/status/{job['id']}", timeout=600).json()
    assert status["status"] == "COMPLETED"
    _check_items(status["output"], diarized=False)
    assert status["output"][-1]["segments"] == reply["output"][-1]["segments"]


def test_a_refused_job_streams_only_its_error(streaming):
    reply = streaming.run({"audio_base64": "QUJD", "colour": "red"})
    output = reply["output"]
    assert len(output) == 1 and "unknown field 'colour'" in output[0]["error"]
