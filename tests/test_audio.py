"""Every container and layout decodes to the same 16 kHz mono signal, through libsndfile or ffmpeg."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from core.audio import SAMPLE_RATE, decode_audio

FORMATS = {
    "wav-44k-stereo.wav": ["-ar", "44100", "-ac", "2"],
    "flac.flac": [],
    "mp3.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "aac.m4a": ["-c:a", "aac", "-b:a", "64k"],
    "vorbis.ogg": ["-c:a", "libvorbis"],
    "opus.opus": ["-c:a", "libopus", "-b:a", "32k"],
    "webm.webm": ["-c:a", "libopus"],
    "video.mp4": ["-f", "lavfi", "-i", "color=c=blue:s=64x64:d=30", "-shortest", "-c:v", "libx264",
                  "-c:a", "aac", "-pix_fmt", "yuv420p"],
    "video.mkv": ["-f", "lavfi", "-i", "color=c=red:s=64x64:d=30", "-shortest", "-c:v", "libx264",
                  "-c:a", "libvorbis"],
}


@pytest.fixture(scope="module")
def source(monologue):
    return monologue.path


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_container_decodes_to_16k_mono(tmp_path, source, name):
    target = tmp_path / name
    extra = FORMATS[name]
    inputs, codec = (extra[:4], extra[4:]) if extra[:2] == ["-f", "lavfi"] else ([], extra)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), *inputs, *codec, str(target)],
                   check=True)
    reference = decode_audio(source).samples
    decoded = decode_audio(target)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert abs(decoded.duration_s - len(reference) / SAMPLE_RATE) < 0.1
    assert 0.3 < np.sqrt(np.mean(decoded.samples**2)) / np.sqrt(np.mean(reference**2)) < 3.0
    assert decoded.warnings == ()


def test_upload_size_limit(tmp_path, source):
    from core import AudioDecodeError

    with pytest.raises(AudioDecodeError, match="over the limit of 1000 bytes"):
        decode_audio(source, max_bytes=1000)


@pytest.mark.parametrize("name", ["notes.txt", "transcript.srt", "meeting.wav"])
def test_text_files_are_named_as_text(tmp_path, name):
    """ffmpeg reads long text as a 'tty' video with no audio stream; the user should hear it is text."""
    from core import AudioDecodeError

    path = tmp_path / name
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nHéllo, this is a transcript, not audio.\n" * 200)
    with pytest.raises(AudioDecodeError, match="text file, not a media file"):
        decode_audio(path)


def test_binary_media_is_never_taken_for_text(tmp_path, source):
    from core.audio import _looks_like_text

    for name, args in FORMATS.items():
        if name.startswith("video"):
            continue
        target = tmp_path / name
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *args, str(target)],
                       check=True)
        assert not _looks_like_text(target), name
