"""Shared fixtures: the open model profile is built once per session and models load once."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The open profile's default is the multilingual `base`; most tests use the faster `tiny.en` (English speech),
# in this process and in every server or CLI they start (which inherit the environment).
os.environ.setdefault("WHISPER_MODEL", "tiny.en")
# The voice library of every engine, server and CLI the tests start: never a checkout's ./data (a developer's
# enrolled voices would name speakers in other tests). Tests of the library give each run its own DATA_DIR.
# Each pytest process makes its own (xdist's workers inherit the controller's environment: a directory made there
# is replaced in each worker, so no two workers share a library); a DATA_DIR the caller set is kept.
if "DATA_DIR" not in os.environ or os.environ.get("WXW_TEST_DATA_DIR_MADE"):
    import atexit
    import shutil
    import tempfile

    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="wxw-test-data-")
    os.environ["WXW_TEST_DATA_DIR_MADE"] = "1"
    atexit.register(shutil.rmtree, os.environ["DATA_DIR"], True)

import subprocess
import sys
from pathlib import Path

import pytest

from tests import speech

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


# The longest test modules (minutes each, measured with --durations), run first: scripts/test.sh runs the suite in
# two processes, one module per process at a time (`--dist loadfile --no-loadscope-reorder`), and a long module
# started last would leave one process working alone at the end.
LONGEST_MODULES = ("test_bench.py", "test_voices.py", "test_windowed_diarization.py", "test_realtime.py",
                   "test_openai_api.py", "test_cli_stream.py", "test_rp_voices.py", "test_ui_voices.py",
                   "test_ui_browser.py", "test_ui_browser_live.py", "test_ui_browser_reading.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: index for index, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module keeps its own order

    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device; none is visible")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """The open profile, built with the command scripts/setup.sh runs (or reused from WXW_TEST_MODELS_DIR)."""
    reuse = os.environ.get("WXW_TEST_MODELS_DIR")
    target = Path(reuse) if reuse else tmp_path_factory.mktemp("models")
    if not (target / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "builder", "--profile", "open", "--models-dir", str(target)],
                       cwd=ROOT, check=True, capture_output=True, text=True)
    return target


@pytest.fixture(scope="session")
def settings(models_dir):
    from core import Settings

    return Settings(models_dir=models_dir, device="cpu", whisper_model=os.environ["WHISPER_MODEL"],
                    data_dir=Path(os.environ["DATA_DIR"]))


@pytest.fixture(scope="session")
def engine(settings):
    from core.engine import Engine

    return Engine(settings)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def dialogue(data_dir) -> speech.Recording:
    if not speech.festival_available():
        pytest.fail("festival (text2wave) is not installed; .ci/run installs it")
    return speech.make_dialogue(data_dir / "dialogue.wav")


@pytest.fixture(scope="session")
def monologue(data_dir) -> speech.Recording:
    lines = ((speech.MALE, "The quick brown fox jumps over the lazy dog."),
             (speech.MALE, "Speech recognition is working well today."))
    return speech.make_dialogue(data_dir / "monologue.wav", lines)


@pytest.fixture(scope="session")
def timed_dialogue(data_dir) -> speech.Recording:
    """Two voices with festival's own word boundaries (the reference for word timing)."""
    return speech.make_conversation(data_dir / "timed_dialogue.wav", speech.DIALOGUE, [0.5] * len(speech.DIALOGUE))


@pytest.fixture(scope="session")
def quick_turns(data_dir) -> speech.Recording:
    """Three voices taking quick turns: gaps under 0.3 s and two overlaps, as in a lively meeting."""
    return speech.make_conversation(data_dir / "quick_turns.wav", speech.QUICK_TURNS,
                                    [0.3, 0.15, 0.2, -0.3, 0.1, 0.25, -0.2, 0.15])


@pytest.fixture(scope="session")
def voice_recordings(data_dir) -> dict[str, speech.Recording]:
    """The voice library's recordings: `enrol` the male voice alone (three sentences), `meeting` that voice with
    two others saying other things, `without` the two others only."""
    return {
        "enrol": speech.make_dialogue(data_dir / "enrol-male.wav", [(speech.MALE, text) for text in speech.ENROLMENT]),
        "meeting": speech.make_dialogue(data_dir / "three-people.wav", speech.THREE_PEOPLE),
        "without": speech.make_dialogue(data_dir / "two-others.wav", speech.WITHOUT_MALE),
    }


@pytest.fixture(scope="session")
def pyannote_sample():
    """pyannote's real two-speaker recording and its reference turns."""
    from importlib import resources

    from pyannote.database.util import load_rttm

    sample = resources.files("pyannote.audio") / "sample"
    reference = next(iter(load_rttm(str(sample / "sample.rttm")).values()))
    turns = [(seg.start, seg.end, label) for seg, _, label in reference.itertracks(yield_label=True)]
    return Path(str(sample / "sample.wav")), turns


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium (tests/browser.py), one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def ui_server(models_dir):
    """The real Gradio app (`ui.server.serve`) on a free port with the open profile, one per session."""
    from tests.ui_server import shared_server

    server = shared_server(models_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rp_workers(models_dir, tmp_path_factory):
    """The real RunPod worker (`rp_handler.py --rp_serve_api`), strict and lenient, shared by the RunPod tests."""
    from tests.rp_server import start_workers, stop_workers

    workers = start_workers(models_dir, tmp_path_factory.mktemp("rp-workers"))
    yield workers
    stop_workers(workers)


@pytest.fixture
def page(browser, ui_server):
    """A fresh session on the web app's page (its own Gradio session and downloads; the clipboard allowed)."""
    from tests.browser import open_page

    yield from open_page(browser, ui_server.url, clipboard=True)


@pytest.fixture(scope="module")
def client(ui_server):
    """gradio_client on the web app (its API: /transcribe, /realign)."""
    from gradio_client import Client

    return Client(ui_server.url, verbose=False)
