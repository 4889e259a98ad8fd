"""A batch without a server: what one press of Transcribe runs, links through the real safe downloader, Stop,
saved results and the zip of all outputs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core import InvalidInput, Result
from core.media.fetch import Limits
from core.transcript.result import Segment
from tests.servers import folder_server
from ui import batch


def test_uploads_then_links_and_the_recording_only_alone(tmp_path):
    sources = batch.collect_sources(["/u/a.wav", "/u/b.mp4"], "https://x.org/c.mp3\n\n  http://y.org/d/  ",
                                    "/rec/mic.wav")
    assert [(s.name, s.path, s.url) for s in sources] == [
        ("a.wav", "/u/a.wav", None), ("b.mp4", "/u/b.mp4", None),
        ("c.mp3", None, "https://x.org/c.mp3"), ("d", None, "http://y.org/d/")]
    assert batch.collect_sources(None, "", "/rec/mic.wav") == [batch.Source("recording.wav", path="/rec/mic.wav")]
    with pytest.raises(InvalidInput, match="Add an audio or video file, a link or a recording"):
        batch.collect_sources([], " \n", None)
    with pytest.raises(InvalidInput, match="up to 20"):
        batch.collect_sources([f"/u/{i}.wav" for i in range(21)], None, None)


def test_a_saved_result_pairs_with_the_recording_of_the_same_name():
    sources = batch.collect_sources(["/u/talk.json", "/u/talk.wav", "/u/other.json"], None, None)
    assert sources == [batch.Source("talk.wav", path="/u/talk.wav", saved="/u/talk.json"),
                       batch.Source("other.json", saved="/u/other.json")]


@pytest.mark.parametrize("line", ["ftp://x.org/a.mp3", "file:///etc/passwd", "x.org/a.mp3", "data:audio/wav,AAAA"])
def test_links_must_be_http(line):
    with pytest.raises(InvalidInput, match=r"^Links: line 2 is not an http:// or https:// link"):
        batch.parse_links(f"https://ok.org/a.mp3\n{line}")


def test_saved_results_load_and_anything_else_is_refused(tmp_path):
    result = Result(segments=(Segment(start=0.0, end=1.0, text="hi"),), language="en")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(result.to_dict()))
    assert batch.load_saved(str(good)) == result
    for name, text in (("list.json", "[1, 2]"), ("empty.json", "{}"), ("broken.json", "{")):
        (tmp_path / name).write_text(text)
        with pytest.raises(InvalidInput, match=f"^{name}: not a result saved by this app"):
            batch.load_saved(str(tmp_path / name))


def test_stop_reaches_every_armed_job_of_the_session_only():
    stops = batch.Stops()
    first, second, other = stops.arm("s1"), stops.arm("s1"), stops.arm("s2")
    assert stops.latest("s1") is second and stops.armed() == 3
    assert stops.stop("s1") == 2
    assert first.is_set() and second.is_set() and not other.is_set()
    stops.release("s1", first)
    stops.release("s1", second)
    assert stops.armed() == 1 and stops.stop("s1") == 0
    stops.forget("s2")
    assert other.is_set() and stops.armed() == 0, "a closed page's job stops and leaves the count"


def test_the_upload_box_takes_the_media_containers_ffmpeg_reads():
    """Gradio checks uploads against the box's file types by Python's `mimetypes`, which misses some."""
    from gradio_client.utils import is_valid_file

    from ui.layout import MEDIA_FILE_TYPES

    for name in ("talk.wav", "talk.mp3", "talk.m4a", "talk.mp4", "talk.webm", "talk.weba", "book.m4b", "cam.m2ts",
                 "talk.opus", "talk.wv", "saved.json"):
        assert is_valid_file(name, MEDIA_FILE_TYPES), name
    assert not is_valid_file("minutes.txt", MEDIA_FILE_TYPES)


def test_a_session_is_busy_while_its_job_is_armed():
    stops = batch.Stops()
    job = stops.arm("s1")
    assert stops.busy("s1") and not stops.busy("s2")
    stops.release("s1", job)
    assert not stops.busy("s1")


def test_zip_holds_every_file_under_a_unique_folder(tmp_path):
    stems = batch.unique_stems(["talk.wav", "talk.mp3", "a/b?.wav"])
    assert stems == ["talk", "talk-2", "b_"]
    outputs = []
    for stem in stems[:2]:
        (tmp_path / stem).mkdir()
        paths = [tmp_path / stem / f"{stem}.{fmt}" for fmt in ("json", "srt")]
        for path in paths:
            path.write_text(path.name)
        outputs.append((stem, [str(p) for p in paths]))
    target = batch.write_zip(tmp_path / "out" / "transcripts.zip", outputs)
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["talk-2/talk-2.json", "talk-2/talk-2.srt", "talk/talk.json",
                                              "talk/talk.srt"]
        assert archive.read("talk-2/talk-2.srt") == b"talk-2.srt"
    assert [p.name for p in target.parent.iterdir()] == ["transcripts.zip"], "no partial file left"


@pytest.fixture
def media_server(tmp_path):
    """A real HTTP server on loopback serving one small file."""
    (tmp_path / "clip.wav").write_bytes(b"RIFF" + b"\0" * 2000)
    with folder_server(tmp_path) as url:
        yield url


def test_links_go_through_the_safe_downloader(media_server, tmp_path):
    """Loopback is refused unless ALLOW_PRIVATE_URLS (the tests' switch) is on; limits are the worker's."""
    url = f"{media_server}/clip.wav"
    with pytest.raises(InvalidInput, match=r"^Links: refused http://127\.0\.0\.1:\d+/clip\.wav: .*loopback"):
        batch.fetch_link(url, tmp_path, Limits(max_bytes=1 << 20))
    media = batch.fetch_link(url, tmp_path, Limits(max_bytes=1 << 20, allow_private=True))
    assert media.name == "clip.wav" and media.path.read_bytes().startswith(b"RIFF")
    with pytest.raises(InvalidInput, match=r"^Links: .* over the limit of"):
        batch.fetch_link(url, tmp_path / "x", Limits(max_bytes=100, allow_private=True))
    with pytest.raises(InvalidInput, match=r"^Links: download failed: HTTP 404"):
        batch.fetch_link(f"{media_server}/missing.wav", tmp_path, Limits(max_bytes=1 << 20, allow_private=True))
    assert Path(media.path).parent == tmp_path
