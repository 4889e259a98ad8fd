"""Checks scripts/image-test.sh runs INSIDE a container of the app image (so they need only what the image has):

    python image_check.py ui URL                 # the page answers; /transcribe labels pyannote's sample correctly
    python image_check.py runpod LOG_FILE        # `--test_input` output: job completed, transcript, speakers

Prints one line per check and exits non-zero on the first failure, with what was expected and what came back.
The recording is pyannote's own sample (two speakers, reference turns in sample.rttm), shipped in the image
with pyannote.audio; its transcript is checked against words it says and its speaker turns with pyannote.metrics.
"""

from __future__ import annotations

import ast
import re
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

DER_BOUND = 0.2  # tests/test_engine.py's bound for speaker-labelled segments on this recording (open profile)
SAMPLE_WORDS = ("hello", "jersey", "chicago")  # "… Diane in New Jersey … originally from Chicago"


def fail(message: str) -> None:
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


def ok(message: str) -> None:
    print(f"ok   {message}", flush=True)


def wait_for_page(url: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError):
            time.sleep(2)
    fail(f"no answer from {url} within {timeout_s:.0f} s")
    return ""


def segment_der(reference: list[tuple[float, float, str]], segments: list[dict]) -> float:
    """Who-spoke-when error of the transcript's speaker-labelled segments against the reference turns."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns) -> Annotation:
        result = Annotation()
        for start, end, label in turns:
            result[Segment(start, end)] = label
        return result

    hypothesis = [(s["start"], s["end"], s["speaker"]) for s in segments if s.get("speaker")]
    return float(DiarizationErrorRate(collar=0.25)(annotation(reference), annotation(hypothesis)))


def sample() -> tuple[Path, list[tuple[float, float, str]]]:
    from pyannote.database.util import load_rttm

    folder = resources.files("pyannote.audio") / "sample"
    reference = next(iter(load_rttm(str(folder / "sample.rttm")).values()))
    turns = [(seg.start, seg.end, label) for seg, _, label in reference.itertracks(yield_label=True)]
    return Path(str(folder / "sample.wav")), turns


def check_result(result: dict, reference: list[tuple[float, float, str]], where: str) -> None:
    words = re.findall(r"[a-z']+", result.get("text", "").lower())
    if result.get("language") != "en" or not all(word in words for word in SAMPLE_WORDS):
        fail(f"{where}: expected English with {SAMPLE_WORDS}, got language={result.get('language')!r} "
             f"text={result.get('text', '')[:200]!r}")
    segments = result.get("segments") or []
    speakers = set(result.get("speakers") or [])
    if len(speakers) != 2 or any(s.get("speaker") not in speakers for s in segments):
        fail(f"{where}: expected 2 speakers labelling every segment, got {sorted(speakers)} over "
             f"{len(segments)} segments")
    der = segment_der(reference, segments)
    if der > DER_BOUND:
        fail(f"{where}: speaker-labelled segments DER {der:.3f} > {DER_BOUND}")
    ok(f"{where}: {len(words)} words in English, {len(segments)} segments, speakers {sorted(speakers)}, "
       f"segment DER {der:.3f} (bound {DER_BOUND})")


def check_ui(url: str) -> None:
    from gradio_client import Client, handle_file

    page = wait_for_page(url, timeout_s=600)
    if "<title>WhisperX</title>" not in page and "WhisperX" not in page:
        fail(f"{url} answered, but not with the WhisperX page: {page[:200]!r}")
    ok(f"UI page served at {url}")
    path, reference = sample()
    started = time.monotonic()
    result = Client(url, verbose=False).predict(handle_file(str(path)), diarization=True, num_speakers=2,
                                                output_formats=["srt"], api_name="/transcribe")
    check_result(result, reference, f"/transcribe ({time.monotonic() - started:.1f} s)")
    if "[SPEAKER_0" not in (result.get("outputs") or {}).get("srt", ""):
        fail("/transcribe: the SRT output carries no speaker labels")
    ok("/transcribe: speaker-labelled SRT returned")


def check_runpod(log_file: str) -> None:
    """The SDK's local test prints `Job result: {'output': ...}` (a Python repr) and `completed successfully`."""
    log = Path(log_file).read_text(encoding="utf-8", errors="replace")
    if "completed successfully" not in log:
        fail(f"runpod --test_input: no 'completed successfully' in the output:\n{log[-2000:]}")
    line = next((line for line in log.splitlines() if "Job result: " in line), None)
    if line is None:
        fail("runpod --test_input: no 'Job result' line")
    job = ast.literal_eval(line.split("Job result: ", 1)[1])
    output = job.get("output") or {}
    if "error" in job or not output.get("segments") or not output.get("text", "").strip():
        fail(f"runpod --test_input: the job returned no transcript: {str(job)[:500]}")
    if not all(segment.get("speaker") for segment in output["segments"]) or not output.get("outputs"):
        fail(f"runpod --test_input: expected speaker-labelled segments and rendered outputs: {str(job)[:500]}")
    ok(f"runpod --test_input: {output['text']!r} ({', '.join(sorted(output['outputs']))}; "
       f"speakers {output.get('speakers')})")


def main(argv: list[str]) -> None:
    mode, *rest = argv or ["?"]
    if mode == "ui" and len(rest) == 1:
        check_ui(rest[0])
    elif mode == "runpod" and len(rest) == 1:
        check_runpod(rest[0])
    else:
        fail(f"usage: image_check.py ui URL | runpod LOG_FILE (got {argv})")


if __name__ == "__main__":
    main(sys.argv[1:])
