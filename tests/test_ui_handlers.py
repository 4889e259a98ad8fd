"""The page's event logic without a server: error mapping (`ui.errors`), renaming into every download, progress
labels, and the `ui` modules importing one another in one direction only."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from core import AudioDecodeError, InvalidInput, Result, TranscribeOptions
from core.progress import STAGES
from core.transcript.formats import render
from core.transcript.result import Segment, SpeakerTurn
from ui import errors, handlers, items, progress
from ui.render import render_empty


def _state(formats: tuple[str, ...] = ("srt", "vtt", "txt", "tsv", "rttm")) -> dict:
    result = Result(
        segments=(Segment(start=0.5, end=2.0, text="Hello there.", speaker="SPEAKER_00"),
                  Segment(start=2.5, end=4.0, text="Hi.", speaker="SPEAKER_01")),
        language="en", speakers=("SPEAKER_00", "SPEAKER_01"),
        diarization=(SpeakerTurn(start=0.5, end=2.0, speaker="SPEAKER_00"),
                     SpeakerTurn(start=2.5, end=4.0, speaker="SPEAKER_01")),
        duration=4.5,
    )
    options = TranscribeOptions(diarization=True, output_formats=("json", *formats))
    return {"result": result.to_dict(), "options": options.to_mapping(), "names": {}, "stem": "talk",
            "audio_url": "gradio_api/file=/tmp/talk.wav"}


def test_worker_errors_reach_the_user_as_their_message():
    with pytest.raises(gr.Error) as caught, errors.user_errors():
        raise AudioDecodeError("talk.wav: could not decode audio", field="audio")
    assert caught.value.message == "talk.wav: could not decode audio"
    assert caught.value.print_exception is False


def test_unexpected_errors_become_a_generic_message_without_details(caplog):
    with pytest.raises(gr.Error) as caught, errors.user_errors():
        raise KeyError("internal detail /secret/path")
    assert caught.value.message == errors.GENERIC_ERROR and "secret" not in caught.value.message
    assert "internal detail" in caplog.text, "the server log keeps the details"


def test_no_audio_is_a_user_error():
    with pytest.raises(InvalidInput, match="Upload an audio or video file"):
        handlers.pick_audio(None, None)
    assert handlers.pick_audio("/a.wav", "/rec.wav") == "/a.wav"
    assert handlers.pick_audio(None, "/rec.wav") == "/rec.wav"


def test_renaming_reaches_every_download(tmp_path):
    state = items.set_speaker_name(_state(), "SPEAKER_01", "  Ada Lovelace ")
    assert state["names"] == {"SPEAKER_01": "Ada Lovelace"}
    result = items.renamed(state)
    files = {Path(p).name: Path(p).read_text(encoding="utf-8")
             for p in handlers.write_downloads(result, TranscribeOptions.from_mapping(state["options"]),
                                                     "talk", tmp_path)}
    assert sorted(files) == ["talk.json", "talk.rttm", "talk.srt", "talk.tsv", "talk.txt", "talk.vtt"]
    assert "[Ada Lovelace]: Hi." in files["talk.srt"] and "[Ada Lovelace]: Hi." in files["talk.vtt"]
    assert "Ada Lovelace\tHi." in files["talk.tsv"] and " Ada_Lovelace " in files["talk.rttm"]
    assert "SPEAKER_01" not in "".join(files.values())
    data = json.loads(files["talk.json"])
    assert data["speakers"] == ["SPEAKER_00", "Ada Lovelace"] and data["segments"][1]["speaker"] == "Ada Lovelace"
    assert data == result.to_dict(), "the JSON download is the result's data; each format is its own file"


def test_an_empty_name_restores_the_label_and_choices_keep_original_labels():
    state = items.set_speaker_name(_state(), "SPEAKER_00", "Alice")
    assert items.speaker_choices(state) == [("Alice", "SPEAKER_00"), ("SPEAKER_01", "SPEAKER_01")]
    restored = items.set_speaker_name(state, "SPEAKER_00", " ")
    assert restored["names"] == {} and "[SPEAKER_00]" in render(items.renamed(restored), "srt")
    with pytest.raises(InvalidInput, match="Choose a speaker"):
        items.set_speaker_name(state, "SPEAKER_09", "Bob")


def test_file_urls_are_relative_and_encoded():
    assert items.file_url("/tmp/gradio/ab/call #2 (ü)?.wav") == (
        "gradio_api/file=/tmp/gradio/ab/call%20%232%20%28%C3%BC%29%3F.wav")


def test_progress_names_the_stage():
    seen = []
    report = progress.gradio_progress(lambda fraction, desc: seen.append((fraction, desc)))
    report("transcribe", 0.1)
    report("diarize", 0.7)
    report("fetch", 0.0)
    report("something-new", 0.9)
    assert seen == [(0.0, "Starting…"), (0.1, "Transcribing"), (0.7, "Identifying speakers"),
                    (0.0, "Downloading the link"), (0.9, "something-new")]


def test_every_engine_stage_has_a_label():
    assert list(progress.STAGE_LABELS) == list(STAGES)
    assert all(label and label[0].isupper() for label in progress.STAGE_LABELS.values())


def test_batch_progress_names_the_file_fills_its_share_and_gives_the_measured_time_of_the_step():
    seen = []
    report = progress.gradio_progress(lambda fraction, desc: seen.append((fraction, desc)), "b.wav (2 of 4): ",
                                      (0.25, 0.25))
    report("transcribe", 0.5)  # no time measured: none promised
    report("transcribe", 0.6, left_s=10.2)
    report("diarize", 0.7, left_s=200)
    assert seen == [(0.25, "b.wav (2 of 4): Starting…"), (0.375, "b.wav (2 of 4): Transcribing"),
                    (0.4, "b.wav (2 of 4): Transcribing · about 10 s left in this step"),
                    (0.425, "b.wav (2 of 4): Identifying speakers · about 3 min left in this step")]


def test_the_strip_shows_its_text_again_after_every_update_of_the_panel(models_dir, dialogue, tmp_path):
    """Gradio blanks the progress strip each time the batch yields the panel (the live text, every second): the
    batch's own thread sends the last text again at once, so the strip is never empty while a file runs. A real
    job on the open profile's default model, in small pieces so its text arrives piece by piece."""
    from core import Settings
    from core.service import Service

    events: list[tuple] = []
    batch_thread = threading.get_ident()

    def on_progress(fraction: float, desc: str) -> None:
        events.append(("progress", desc, threading.get_ident() == batch_thread))

    page = handlers.Handlers(Service(Settings(models_dir=models_dir, device="cpu")), handlers.DownloadStore(tmp_path))
    for panel in page.run_batch([str(dialogue.path)], None, None, {"chunk_size": "5", "batch_size": "1"}, "s",
                                on_progress):
        events.append(("panel", 'class="wx-live"' in panel[3], True))
    live = [index for index, event in enumerate(events) if event[:2] == ("panel", True)]
    assert len(live) >= 2, events
    for index in live:
        last = next(event[1] for event in reversed(events[:index]) if event[0] == "progress")
        after = next(event for event in events[index + 1:] if event[2])  # the batch's own thread, next
        assert after == ("progress", last, True), (index, events)
    assert events[-1][0] == "panel" and not any(event[0] == "progress" and event[2] for event in events[-2:]), (
        "the finished file's text is not shown again")


def test_download_folders_are_per_session_and_replaced(tmp_path):
    store = handlers.DownloadStore(tmp_path, ttl_s=60)
    first = store.job_dir("abc")
    (first / "x.srt").write_text("1")
    second = store.job_dir("abc")
    assert not first.exists() and second.exists() and second.parent == first.parent
    other = store.job_dir("../../etc")
    assert other.parent.parent == tmp_path, "session ids cannot escape the folder"
    old = time.time() - 3600
    os.utime(other.parent, (old, old))
    store.job_dir("abc")
    assert not other.parent.exists(), "idle sessions are removed"


def test_a_name_another_speaker_has_is_refused():
    """Two speakers under one name would merge silently in every download."""
    state = items.set_speaker_name(_state(), "SPEAKER_00", "Alice")
    for taken in ("Alice", " alice "):
        with pytest.raises(InvalidInput, match="Another speaker is already called “Alice”"):
            items.set_speaker_name(state, "SPEAKER_01", taken)
    with pytest.raises(InvalidInput, match="already called “SPEAKER_01”"):
        items.set_speaker_name(state, "SPEAKER_00", "SPEAKER_01")
    assert items.set_speaker_name(state, "SPEAKER_00", "Alice")["names"] == {"SPEAKER_00": "Alice"}


def test_page_errors_name_the_labels_on_screen():
    from ui.controls import labels

    with pytest.raises(gr.Error) as caught, errors.user_errors(labels()):
        TranscribeOptions.from_mapping({"num_speakers": 2, "min_speakers": 3})
    assert caught.value.message == "“Number of speakers” (2) is below “Min speakers” (3)"
    with pytest.raises(gr.Error) as caught, errors.user_errors(labels()):
        from ui.controls import to_options

        to_options({"beam_size": "five"})
    assert caught.value.message.startswith("“Beam size” must be a number")
    assert errors.on_screen("talk.wav: it is a text file", labels()) == "talk.wav: it is a text file"


def test_speaker_counts_are_not_sent_with_diarization_off():
    values = {"diarization": False, "num_speakers": "2", "min_speakers": "3", "beam_size": "5"}
    assert handlers._without_speaker_counts(values) == {"diarization": False, "num_speakers": "",
                                                        "min_speakers": "", "beam_size": "5"}
    assert handlers._without_speaker_counts({**values, "diarization": True})["num_speakers"] == "2"


def test_pressing_transcribe_clears_the_panel_and_says_where_the_job_stands():
    page = handlers.Handlers(service=None, downloads=None)
    first = page.arm("s1")
    assert first[0] is None and "Starting" in first[1]
    assert first[3] == render_empty(handlers.WORKING_TEXT), "no transcript of an earlier batch stays"
    assert first[4]["visible"] is False and first[5]["visible"] is False, "nor its downloads"
    queued = page.arm("s2")
    assert "1 job ahead of yours" in queued[1] and "1 job ahead of yours" in queued[3], "the view says it too"
    assert "2 jobs ahead of yours" in page.arm("s3")[1]
    assert page.stop("s2") == "Stopping at the next step…" and page.stop("nobody") == "Nothing is running."


def test_a_refused_transcribe_keeps_the_shown_transcript(monkeypatch):
    """Nothing to transcribe, or an option mistyped: a toast and the note (marking the field); the transcript on
    screen, its corrections and their undo history stay."""
    from ui.controls import labels

    monkeypatch.setattr(handlers, "error_toast", lambda message: None)
    page = handlers.Handlers(service=None, downloads=None, labels=labels())
    kept = page.arm("s1", None, "", None, {"beam_size": "5"})
    assert all(isinstance(value, type(gr.skip())) for value in kept) and not page.stops.busy("s1")
    panels = list(page.run_batch(None, "", None, {"beam_size": "five"}, "s1", progress=None))
    assert len(panels) == 1 and isinstance(panels[0][0], type(gr.skip())), "the state is not replaced"
    assert "“Beam size” must be a number" in panels[0][1] and 'data-field="beam_size"' in panels[0][1]
    assert not page.stops.busy("s1")


def test_corrections_wait_for_the_sessions_running_batch(tmp_path, monkeypatch):
    """The batch rewrites the state and the downloads as each file ends: an edit meanwhile is refused (it would be
    lost, or remove files the batch still zips)."""
    from ui.editor import Editor

    shown: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda message, *args, **kwargs: shown.append(message))
    page = handlers.Handlers(service=None, downloads=handlers.DownloadStore(tmp_path))
    state = {"items": [{**_state(), "status": "done", "files": [], "name": "talk.wav"}], "current": 0,
             "dir": str(tmp_path), "zip": None}
    job = page.stops.arm("s1")
    refused = [page.rename(state, "SPEAKER_00", "Alice", "s1"), Editor(page).edit(state, {"op": "undo"}, "s1")]
    assert all(isinstance(value, type(gr.skip())) for panel in refused for value in panel)
    assert len(shown) == 2 and all("A transcription is running" in message for message in shown)
    page.stops.release("s1", job)
    assert page.rename(state, "SPEAKER_00", "Alice", "s1")[0]["items"][0]["names"] == {"SPEAKER_00": "Alice"}


def test_a_voice_library_export_leaves_the_transcripts_downloads(tmp_path):
    store = handlers.DownloadStore(tmp_path)
    job = store.job_dir("s1")
    (job / "talk.srt").write_text("1")
    first = store.side_dir("s1", "voices")
    second = store.side_dir("s1", "voices")
    assert (job / "talk.srt").exists() and not first.exists() and second.exists()


def test_user_text_and_names_stay_out_of_the_log():
    logged = handlers._loggable({"initial_prompt": "Zyx Corp quarterly", "hotwords": "Zyx", "beam_size": 5})
    assert logged == {"initial_prompt": "<18 characters>", "hotwords": "<3 characters>", "beam_size": 5}
    state = items.set_speaker_name(_state(), "SPEAKER_00", " Alice   Smith ")
    assert state["names"] == {"SPEAKER_00": "Alice Smith"}, "as the page shows it and its menus send it back"


def _imports(path: Path, package: str) -> set[str]:
    """The `package` modules `path` imports, at the top or inside a function (a deferred import is still one)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != package else [f"{package}.{a.name}" for a in node.names]
            found.update(name for name in names if name.startswith(package + "."))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(package + "."))
    return found


def test_ui_modules_import_one_another_in_one_direction():
    """No cycle among `ui`'s modules (ui.editor and ui.handlers used to import each other): each piece has one
    home, and a module can be read knowing only what it imports."""
    folder = Path(handlers.__file__).parent
    graph = {f"ui.{path.stem}": _imports(path, "ui") for path in folder.glob("*.py") if path.stem != "__init__"}
    assert "ui.handlers" in graph["ui.layout"], "the graph holds the imports"

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        return seen

    cycles = sorted(module for module in graph if module in reachable(module))
    assert not cycles, f"these ui modules import themselves through others: {cycles}"
    assert "ui.editor" not in reachable("ui.handlers") and "ui.handlers" not in reachable("ui.editor")
    assert "ui.items" in graph["ui.handlers"] and "ui.items" in graph["ui.editor"], "what both use has one home"


def test_front_ends_ask_the_service_not_the_model_registry():
    """Front ends talk to `core.service.Service`, never through it to the engine or its registry (jobs,
    re-timing, splits and the queue's count are the service's)."""
    root = Path(handlers.__file__).resolve().parents[1]
    sources = [*root.glob("ui/*.py"), *root.glob("openai_api/*.py"), *root.glob("rp_worker/*.py"),
               root / "rp_handler.py", root / "app.py"]
    reaching = [str(path.relative_to(root)) for path in sources if ".registry" in path.read_text(encoding="utf-8")]
    assert not reaching, f"reach into the model registry instead of asking the service: {reaching}"
    engine = [str(path.relative_to(root)) for path in sources if ".engine." in path.read_text(encoding="utf-8")]
    assert not engine, f"reach into the engine instead of asking the service: {engine}"


def test_the_service_says_what_an_empty_batch_size_means(models_dir):
    """The page's batch-size box shows the server's default, which the service gives (no registry in `ui`)."""
    from core import Settings
    from core.service import Service

    assert Service(Settings(models_dir=models_dir, device="cpu")).batch_size == 4  # CPU without BATCH_SIZE
    assert Service(Settings(models_dir=models_dir, device="cpu", batch_size=8)).batch_size == 8


def test_links_on_the_page_are_fetched_within_the_deployments_limits():
    """DOWNLOAD_TIMEOUT_S, MAX_UPLOAD_MB and ALLOW_PRIVATE_URLS hold for the page's links as for RunPod's: the page
    kept the downloader's fixed 180 s whatever DOWNLOAD_TIMEOUT_S said."""
    from types import SimpleNamespace

    from core import Settings

    settings = Settings(download_timeout_s=12.0, max_upload_mb=5, allow_private_urls=True)
    limits = handlers.Handlers(service=SimpleNamespace(settings=settings), downloads=None).limits
    assert (limits.total_timeout_s, limits.max_bytes, limits.allow_private) == (12.0, settings.max_upload_bytes, True)
