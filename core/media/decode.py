"""Decode any media once to 16 kHz mono float32, the form every stage (VAD, ASR, alignment, diarization) shares.

libsndfile reads wav/flac/ogg/mp3 in-process; everything else (video containers, m4a/aac, webm, opus in
odd containers) goes through ffmpeg. Both paths give the same validation and the same errors. A recording longer
than MAP_OVER_S is decoded by ffmpeg into a scratch file that stays on disk, mapped (`core/media/mapped.py`): its
samples are never all resident at once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np

from core.errors import AudioDecodeError, WorkerError
from core.media.mapped import map_samples, new_scratch_file, release_pages

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MAP_OVER_S = 20 * 60  # longer recordings are held mapped from disk (77 MB of samples at this length)
_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}
_FFMPEG_HINTS = (
    ("does not contain any stream", "it has no audio stream"),
    ("matches no streams", "it has no audio stream"),
    ("Output file is empty", "it has no audio stream"),
    ("moov atom not found", "the file is truncated or incomplete (no index: moov atom missing)"),
    ("Invalid data found when processing input", "it is not a media file ffmpeg can read, or it is corrupted"),
    ("could not find codec parameters", "it is not a media file ffmpeg can read, or it is corrupted"),
    ("Failed to read frame size", "it is not a media file ffmpeg can read, or it is corrupted"),
    ("misdetection possible", "it is not a media file ffmpeg can read, or it is corrupted"),
    ("Invalid argument", "it is not a media file ffmpeg can read, or it is corrupted"),
    ("End of file", "the file is truncated"),
)


@dataclasses.dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def decode_audio(path: str | Path, *, max_bytes: int | None = None, max_seconds: float | None = None,
                 label: str | None = None, map_over_s: float | None = None) -> DecodedAudio:
    """Read `path` into 16 kHz mono float32 or raise `AudioDecodeError` saying what is wrong with it. Messages
    start with `label` (the request field the media came from) or else the file name.

    `max_seconds` (MAX_AUDIO_MINUTES) is checked from the header when libsndfile can read one, and ffmpeg stops
    decoding just past it, so an over-long recording is refused without holding all of it in memory. Audio longer
    than `map_over_s` (default MAP_OVER_S) comes back as a view of a mapped scratch file (`core/media/mapped.py`)."""
    path = Path(path)
    map_over_s = MAP_OVER_S if map_over_s is None else map_over_s
    name = label or path.name
    field = label or "audio"
    if not path.is_file():
        raise AudioDecodeError(f"{name}: file not found", field=field)
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError(f"{name}: the file is empty (0 bytes)", field=field)
    _check_size(size, max_bytes, name, field)
    if _looks_like_text(path):
        raise AudioDecodeError(f"{name}: it is a text file, not a media file (audio or video)", field=field)
    samples, warnings = None, ()
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        header_s = _header_seconds(path)
        check_duration(header_s, max_seconds, name, field)
        # A long one goes through ffmpeg into a mapped file; libsndfile would hold it whole (and a 44.1 kHz stereo
        # read twice over, as float32, before resampling).
        samples = _read_with_soundfile(path) if header_s is None or header_s <= map_over_s else None
        if samples is not None and _riff_truncated(path, size):
            warnings = (f"{name}: the WAV file is truncated (shorter than its header says); "
                        "transcribed the part that is there",)
    if samples is None:
        samples, warnings = _read_with_ffmpeg(path, name, field, None if max_seconds is None else max_seconds + 1,
                                              map_over_s=map_over_s)
    check_duration(samples.size / SAMPLE_RATE, max_seconds, name, field)
    if samples.size == 0:
        raise AudioDecodeError(f"{name}: no audio could be decoded (zero samples)", field=field)
    return DecodedAudio(_finite(np.ascontiguousarray(samples, dtype=np.float32)), warnings)


def _check_size(size: int, max_bytes: int | None, name: str, field: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise AudioDecodeError(
            f"{name}: the file is {describe_size(size)}, over the limit of {describe_size(max_bytes)}", field=field
        )


def _finite(samples: np.ndarray, block: int = 1 << 22) -> np.ndarray:
    """NaN and infinities zeroed where they lie, a block at a time: no mask or copy as long as the recording
    (230 MB per hour of audio). `samples` is this module's own array (writable)."""
    for start in range(0, samples.size, block):
        part = samples[start:start + block]
        if not np.isfinite(part).all():
            np.nan_to_num(part, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        release_pages(part)  # mapped samples: what was just read does not stay resident
    return samples


def check_duration(seconds: float | None, max_seconds: float | None, name: str, field: str = "audio") -> None:
    """Refuse audio longer than the limit (MAX_AUDIO_MINUTES), before any model runs on it; the error names
    `field`, the request field the audio came from."""
    if seconds is None or max_seconds is None or seconds <= max_seconds:
        return
    raise AudioDecodeError(
        f"{name}: the audio is {seconds / 60:.1f} minutes long, over the limit of {max_seconds / 60:g} minutes "
        "(MAX_AUDIO_MINUTES); split it, or raise the limit", field=field)


def _header_seconds(path: Path) -> float | None:
    """Duration from the file's header (no decoding); None when libsndfile cannot tell."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return info.frames / info.samplerate if info.samplerate and info.frames > 0 else None


def describe_size(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size} bytes"


def _read_with_soundfile(path: Path) -> np.ndarray | None:
    """None when libsndfile cannot read it, so ffmpeg gets a chance (and produces the error message)."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32")  # mono stays 1-D: no second copy to average
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        logger.debug("libsndfile could not read %s (%s); trying ffmpeg", path.name, error)
        return None
    if data.size == 0:
        return None
    return resample(data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32), rate)


def _looks_like_text(path: Path) -> bool:
    """Plain text (a transcript or notes uploaded by mistake): ffmpeg's tty demuxer would call it a video
    with "no audio stream", which misleads. Media containers always hold NUL or non-UTF-8 bytes early on."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the 4 KB boundary
            return False
        text = head[: error.start].decode("utf-8")
    return all(char.isprintable() or char in "\r\n\t\f" for char in text)


def _riff_truncated(path: Path, size: int) -> bool:
    """libsndfile silently reads what is there of a cut-off WAV; the RIFF header still tells the full size."""
    with path.open("rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return False
    declared = int.from_bytes(header[4:8], "little") + 8
    return declared != 0xFFFFFFFF + 8 and size < declared  # 0xFFFFFFFF: streamed WAV of unknown length


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = math.gcd(rate, SAMPLE_RATE)
    return resample_poly(samples, SAMPLE_RATE // divisor, rate // divisor).astype(np.float32)


def _read_with_ffmpeg(path: Path, name: str, field: str, max_seconds: float | None = None, *,
                      map_over_s: float = MAP_OVER_S) -> tuple[np.ndarray, tuple[str, ...]]:
    """Decode with ffmpeg; with `max_seconds`, stop there (the caller then sees the audio is over its limit).
    Output longer than `map_over_s` stays in its file, mapped."""
    ffmpeg = _ffmpeg()
    limit = ["-t", f"{max_seconds:.3f}"] if max_seconds is not None else []
    # Into a file, not a pipe: read back with one allocation (or mapped), where a captured pipe holds the output
    # two or three times over (the pipe's pieces, their join, the array) — 2.7 GB at the peak for four hours.
    output = new_scratch_file()
    try:
        command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", "-i", str(path),
                   "-map", "0:a:0", "-vn", *limit, "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-y",
                   str(output)]
        completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, check=False)
        size = output.stat().st_size // 4 if output.is_file() else 0
        if size > map_over_s * SAMPLE_RATE:
            samples = map_samples(output)
        else:
            samples = np.fromfile(output, dtype="<f4") if size else np.zeros(0, dtype=np.float32)
    finally:
        output.unlink(missing_ok=True)
    stderr = completed.stderr.decode("utf-8", errors="replace").replace(str(path), name).strip()
    if completed.returncode != 0 and samples.size == 0:
        raise AudioDecodeError(f"{name}: could not decode audio: {_explain(stderr)}", field=field)
    warnings: tuple[str, ...] = ()
    if stderr and samples.size:
        logger.info("ffmpeg reported problems decoding %s: %s", name, stderr.splitlines()[-1])
        warnings = (f"{name}: the media is damaged or truncated; transcribed the decodable part",)
    return samples.astype(np.float32, copy=False), warnings


def _ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise WorkerError("ffmpeg is not installed on this machine; install it to read this format")
    return ffmpeg


def _explain(stderr: str) -> str:
    for needle, meaning in _FFMPEG_HINTS:
        if needle.lower() in stderr.lower():
            return meaning
    last_line = stderr.splitlines()[-1] if stderr else "unknown error"
    return f"ffmpeg failed ({last_line[:200]})"


def decode_span(path: str | Path, start_s: float, end_s: float, *, max_bytes: int | None = None,
                max_seconds: float | None = None, label: str | None = None) -> DecodedAudio:
    """Samples `start_s`..`end_s` of `path` (16 kHz mono float32; shorter where the file ends first), the same
    samples a full `decode_audio` holds at that span to within a sample, without decoding the rest: re-timing
    one corrected turn of a long recording costs the turn, not the hour. libsndfile seeks by frame; ffmpeg by
    `-ss`/`-t`. Both read a little more on each side so the resampler's edges fall outside the span.
    `max_seconds` is checked against the header or container's duration."""
    path = Path(path)
    name, field = label or path.name, label or "audio"
    if not path.is_file() or path.stat().st_size == 0:
        return decode_audio(path, max_bytes=max_bytes, label=label)  # raises the usual, specific error
    _check_size(path.stat().st_size, max_bytes, name, field)
    suffix = path.suffix.lower()
    length_s = _header_seconds(path) if suffix in _SOUNDFILE_SUFFIXES else _container_seconds(path)
    check_duration(length_s, max_seconds, name, field)
    start_s, end_s = max(0.0, start_s), max(start_s, end_s)
    first = round(start_s * SAMPLE_RATE)
    count = math.ceil(end_s * SAMPLE_RATE) - first
    samples = _span_with_soundfile(path, first, count) if suffix in _SOUNDFILE_SUFFIXES else None
    if samples is None:
        samples = _span_with_ffmpeg(path, name, field, first, count,
                                    length_s if suffix not in _SOUNDFILE_SUFFIXES else _container_seconds(path))
    return DecodedAudio(np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False))


_SPAN_PAD_S = 0.25  # read around a span: a resampler's edge effects stay outside it


def _span_with_soundfile(path: Path, first: int, count: int) -> np.ndarray | None:
    """Output samples `first`..`first + count` at 16 kHz. The read starts on an input frame that maps to a whole
    output sample, so the polyphase resampler's phase is the one a full decode has."""
    import soundfile

    try:
        rate = soundfile.info(str(path)).samplerate
        step_in = rate // math.gcd(rate, SAMPLE_RATE)  # input frames per whole number of output samples
        step_out = SAMPLE_RATE // math.gcd(rate, SAMPLE_RATE)
        pad = math.ceil(_SPAN_PAD_S * SAMPLE_RATE / step_out) * step_out
        start_out = max(0, (first - pad) // step_out * step_out)
        stop_out = first + count + pad
        data, _ = soundfile.read(str(path), start=start_out // step_out * step_in,
                                 stop=math.ceil(stop_out / step_out) * step_in, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        logger.debug("libsndfile could not read a span of %s (%s); trying ffmpeg", path.name, error)
        return None
    samples = resample(data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0], rate)
    return samples[first - start_out: first - start_out + count]


def _span_with_ffmpeg(path: Path, name: str, field: str, first: int, count: int,
                      length_s: float | None) -> np.ndarray:
    """`-ss` before `-i` seeks in the container instead of decoding up to the span (a few ms into an hour);
    `length_s` is the container's duration (ffprobe), when known."""
    ffmpeg = _ffmpeg()
    pad = round(_SPAN_PAD_S * SAMPLE_RATE)
    start_out = max(0, first - pad)
    if length_s is not None and start_out / SAMPLE_RATE >= length_s:  # some demuxers (ogg) return the last page
        return np.zeros(0, dtype=np.float32)
    seek = ["-ss", f"{start_out / SAMPLE_RATE:.6f}"] if start_out else []
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", *seek, "-i", str(path),
               "-map", "0:a:0", "-vn", "-t", f"{(first + count + pad - start_out) / SAMPLE_RATE:.6f}",
               "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]
    completed = subprocess.run(command, capture_output=True, check=False)
    if completed.returncode != 0 and not completed.stdout:
        stderr = completed.stderr.decode("utf-8", errors="replace").replace(str(path), name).strip()
        raise AudioDecodeError(f"{name}: could not decode audio: {_explain(stderr)}", field=field)
    samples = np.frombuffer(completed.stdout, dtype=np.float32)
    return samples[first - start_out: first - start_out + count].copy()


def _container_seconds(path: Path) -> float | None:
    """The container's duration by ffprobe (header or last page, no decoding); None when it cannot tell."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    completed = subprocess.run([ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(path)], capture_output=True, check=False, text=True)
    try:
        return float(completed.stdout.strip())
    except ValueError:
        return None
