"""Every container and layout decodes to the same 16 kHz mono signal, through libsndfile or ffmpeg."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

from core.media.decode import SAMPLE_RATE, decode_audio, decode_span

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


def _encoded(source, tmp_path, name: str):
    """`source` re-encoded as FORMATS[name] (video containers get a synthetic picture track)."""
    target = tmp_path / name
    extra = FORMATS[name]
    inputs, codec = (extra[:4], extra[4:]) if extra[:2] == ["-f", "lavfi"] else ([], extra)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), *inputs, *codec, str(target)],
                   check=True)
    return target


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_container_decodes_to_16k_mono(tmp_path, source, name):
    target = _encoded(source, tmp_path, name)
    reference = decode_audio(source).samples
    decoded = decode_audio(target)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert abs(decoded.duration_s - len(reference) / SAMPLE_RATE) < 0.1
    assert 0.3 < np.sqrt(np.mean(decoded.samples**2)) / np.sqrt(np.mean(reference**2)) < 3.0
    assert decoded.warnings == ()


@pytest.mark.parametrize("name", ["wav-44k-stereo.wav", "flac.flac", "mp3.mp3", "aac.m4a", "opus.opus",
                                  "video.mp4"])
def test_a_span_holds_the_samples_a_full_decode_has_there(tmp_path, source, name):
    """`decode_span` (re-timing one turn) seeks instead of decoding the whole file: the same samples as a full
    decode at that span, to within a sample (libsndfile: exactly; ffmpeg's seek may shift its resampler's phase
    by a fraction of a sample), and nothing past the end of the file."""
    target = _encoded(source, tmp_path, name)
    full = decode_audio(target).samples
    for start_s, end_s in ((0.0, 1.5), (1.37, 2.9), (full.size / SAMPLE_RATE - 1.0, 99.0)):
        span = decode_span(target, start_s, end_s).samples
        first = round(start_s * SAMPLE_RATE)
        expected = full[first:first + math.ceil((end_s - start_s) * SAMPLE_RATE)]
        assert span.dtype == np.float32 and abs(span.size - expected.size) <= 2, (start_s, span.size, expected.size)
        size = min(span.size, expected.size)
        lags = {lag: np.abs(full[first + 2 + lag:first + lag + size - 2] - span[2:size - 2]).mean()
                for lag in range(-2, 3)}  # 2-sample margins: the spans' ends may differ
        best = min(lags, key=lags.get)
        assert best == 0 or (name not in ("wav-44k-stereo.wav", "flac.flac") and abs(best) <= 1), lags
        assert lags[best] <= 0.05 * np.abs(expected).mean() + 1e-6, (start_s, lags)
    assert decode_span(target, full.size / SAMPLE_RATE + 5, full.size / SAMPLE_RATE + 9).samples.size == 0


def test_a_span_of_a_missing_or_over_long_file_is_refused_like_a_whole_one(tmp_path):
    from core import AudioDecodeError

    with pytest.raises(AudioDecodeError, match="file not found"):
        decode_span(tmp_path / "gone.wav", 0.0, 1.0)
    wav = tmp_path / "long.wav"
    _tone(wav, 6.0)
    with pytest.raises(AudioDecodeError, match=r"over the limit of 0\.05 minutes"):
        decode_span(wav, 1.0, 2.0, max_seconds=3.0)


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
    from core.media.decode import _looks_like_text

    for name, args in FORMATS.items():
        if name.startswith("video"):
            continue
        target = tmp_path / name
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), *args, str(target)],
                       check=True)
        assert not _looks_like_text(target), name


def _tone(path, seconds: float) -> None:
    import soundfile

    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    soundfile.write(str(path), (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE)


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_audio_over_the_length_limit_is_refused(tmp_path, suffix):
    """MAX_AUDIO_MINUTES: the WAV header is enough; ffmpeg stops decoding just past the limit."""
    from core import AudioDecodeError

    wav = tmp_path / "long.wav"
    _tone(wav, 6.0)
    path = wav
    if suffix != ".wav":
        path = tmp_path / f"long{suffix}"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), str(path)], check=True)
    with pytest.raises(AudioDecodeError, match=r"over the limit of 0\.05 minutes \(MAX_AUDIO_MINUTES\)") as caught:
        decode_audio(path, max_seconds=3.0)
    assert caught.value.field == "audio"
    assert abs(decode_audio(path, max_seconds=7.0).duration_s - 6.0) < 0.1  # under the limit: whole file


def test_engine_refuses_long_audio_before_any_model_runs(settings, monologue):
    """Both a file and an array over MAX_AUDIO_MINUTES are refused with the field named; no model was loaded."""
    import dataclasses

    from core import AudioDecodeError, TranscribeOptions
    from core.engine import Engine

    engine = Engine(dataclasses.replace(settings, max_audio_minutes=0.01))  # 0.6 s
    options = TranscribeOptions(diarization=True)
    for audio in (monologue.path, np.zeros(SAMPLE_RATE, dtype=np.float32)):
        with pytest.raises(AudioDecodeError, match=r"over the limit of 0\.01 minutes") as caught:
            engine.transcribe(audio, options)
        assert caught.value.field == "audio"
    assert not engine.registry._asr and not engine.registry._diarization


def test_ffmpeg_decode_holds_the_samples_once(tmp_path, monkeypatch):
    """A long upload through ffmpeg must not be held two or three times over while decoding (a captured pipe's
    pieces, their join and the array: 2.7 GB at the peak for four hours); the scratch file is removed."""
    import tempfile
    import tracemalloc

    wav, path = tmp_path / "tone.wav", tmp_path / "tone.m4a"  # AAC: libsndfile cannot, ffmpeg decodes
    _tone(wav, 240.0)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-c:a", "aac", str(path)],
                   check=True)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    tracemalloc.start()
    try:
        decoded = decode_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(decoded.duration_s - 240.0) < 0.1
    size = decoded.samples.nbytes
    assert peak < 1.3 * size, f"peak {peak / 2**20:.1f} MB for {size / 2**20:.1f} MB of samples"
    assert list(scratch.iterdir()) == []


def test_quiet_samples_are_raised_in_place_or_copied_as_asked():
    from core.media.level import normalize_level

    rng = np.random.default_rng(0)
    quiet = (0.003 * rng.standard_normal(SAMPLE_RATE * 10)).astype(np.float32)
    original = quiet.copy()
    copied, gain_db = normalize_level(quiet)
    assert gain_db > 20 and copied is not quiet and np.array_equal(quiet, original)
    raised, same_gain = normalize_level(quiet, in_place=True)
    assert raised is quiet and same_gain == gain_db and np.array_equal(raised, copied)


def test_measuring_and_raising_the_level_allocates_no_copy_of_the_recording():
    """A float64 square (or an |x|) of four hours of samples would be 1.8 GB (0.9 GB) on top of them."""
    import tracemalloc

    from core.media.level import normalize_level

    quiet = (0.003 * np.random.default_rng(1).standard_normal(SAMPLE_RATE * 1800)).astype(np.float32)
    tracemalloc.start()
    try:
        _, gain_db = normalize_level(quiet, in_place=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert gain_db > 20
    assert peak < 0.2 * quiet.nbytes, f"peak {peak / 2**20:.1f} MB for {quiet.nbytes / 2**20:.1f} MB of samples"


@pytest.mark.parametrize("name", ["flac.flac", "aac.m4a"])
def test_a_long_recording_is_mapped_from_disk_with_the_same_samples(tmp_path, source, name, monkeypatch):
    """Over `map_over_s`, the samples are a mapped scratch file (never all resident; core/media/mapped.py), equal
    to what an in-memory decode holds; the scratch file is unlinked at once, so nothing is left behind."""
    import tempfile

    from core.media.mapped import mapping_of

    target = _encoded(source, tmp_path, name)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    in_memory = decode_audio(target)
    mapped = decode_audio(target, map_over_s=1.0)
    assert mapping_of(in_memory.samples) is None and mapping_of(mapped.samples) is not None
    assert mapped.samples.dtype == np.float32 and mapped.samples.flags.writeable
    assert np.abs(mapped.samples - in_memory.samples).max() < 1e-6
    assert list(scratch.iterdir()) == []


def _resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def test_mapped_samples_do_not_stay_resident(tmp_path, monkeypatch):
    """Reading mapped samples faults their pages in; `released_behind` drops them again while a job runs, and
    `release_pages` leaves the values as they were (scaled in place included)."""
    import tempfile
    import time

    from core.media.mapped import map_samples, new_scratch_file, release_pages, released_behind

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = new_scratch_file()
    values = np.random.default_rng(2).standard_normal(SAMPLE_RATE * 1200).astype("<f4")  # 20 min: 73 MB
    values.tofile(path)
    samples = map_samples(path)
    assert not path.exists()
    release_pages(samples)
    before = _resident_mb()
    samples *= np.float32(0.5)  # in place, as the level normalisation does
    total = float(np.sum(samples, dtype=np.float64))
    assert _resident_mb() - before > 50  # the read is resident ...
    assert release_pages(samples) and _resident_mb() - before < 10  # ... until released
    assert float(np.sum(samples, dtype=np.float64)) == total and np.array_equal(samples[:1000], values[:1000] * 0.5)
    with released_behind(samples, every_s=0.05):
        release_pages(samples)
        base = _resident_mb()
        np.sum(samples[: len(samples) // 2])
        deadline = time.monotonic() + 5.0
        while _resident_mb() - base > 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _resident_mb() - base < 10
    assert not release_pages(values)  # ordinary memory: nothing to release


def test_the_engine_gives_the_same_result_from_mapped_samples(engine, dialogue, monkeypatch):
    """A recording over MAP_OVER_S runs from its mapped scratch file, pages released behind the stages, with the
    result an in-memory run gives (the limit lowered so a short dialogue counts as long)."""
    import contextlib

    import core.engine
    import core.media.decode
    from core import TranscribeOptions
    from core.media.mapped import mapping_of, released_behind

    options = TranscribeOptions(diarization=True)
    in_memory = engine.transcribe(dialogue.path, options)
    seen: list[bool] = []

    @contextlib.contextmanager
    def watched(samples, **kwargs):
        seen.append(mapping_of(samples) is not None)
        with released_behind(samples, **kwargs):
            yield

    monkeypatch.setattr(core.media.decode, "MAP_OVER_S", 1.0)
    monkeypatch.setattr(core.engine, "released_behind", watched)
    mapped = engine.transcribe(dialogue.path, options)
    assert seen == [True]
    assert mapped.segments == in_memory.segments and mapped.diarization == in_memory.diarization


def test_decoding_a_long_recording_leaves_it_on_disk(tmp_path):
    """Decoding (ffmpeg, the NaN sweep) and measuring and raising the level read every sample; none of it stays
    resident when the recording is mapped."""
    from core.media.level import normalize_level

    path = tmp_path / "long.wav"
    _tone(path, 1200.0)  # 73 MB of samples
    before = _resident_mb()
    decoded = decode_audio(path, map_over_s=60.0)
    _, gain_db = normalize_level(np.multiply(decoded.samples, np.float32(0.01), out=decoded.samples),
                                 in_place=True)
    from core.media.mapped import release_pages

    assert gain_db > 0 and abs(decoded.duration_s - 1200.0) < 0.1
    grown = _resident_mb() - before
    release_pages(decoded.samples)
    # Heap pages the level's per-block float64 squares leave behind (~15 MB) are not the recording.
    assert grown < 30, f"{grown:.0f} MB resident for {decoded.samples.nbytes / 2**20:.0f} MB of samples"


def test_a_quiet_mapped_recording_the_engine_does_not_own_is_raised_into_a_mapped_copy(tmp_path, monkeypatch):
    """The RunPod handler decodes the upload itself and keeps its samples: raising a quiet four-hour recording
    must neither change them nor copy them into memory."""
    import tempfile

    from core.media.level import normalize_level
    from core.media.mapped import map_samples, mapping_of, new_scratch_file, release_pages

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = new_scratch_file()
    (0.003 * np.random.default_rng(4).standard_normal(SAMPLE_RATE * 1200)).astype("<f4").tofile(path)
    quiet = map_samples(path)
    first = quiet[:1000].copy()
    release_pages(quiet)
    before = _resident_mb()
    raised, gain_db = normalize_level(quiet)
    grown = _resident_mb() - before
    assert gain_db > 20 and mapping_of(raised) is not None and mapping_of(raised) is not mapping_of(quiet)
    assert np.array_equal(quiet[:1000], first)
    assert np.allclose(raised[:1000], first * np.float32(10 ** (gain_db / 20)), rtol=1e-3)
    assert grown < 30, f"{grown:.0f} MB resident for {quiet.nbytes / 2**20:.0f} MB of samples"  # heap: as above
    assert list(tmp_path.iterdir()) == []
