"""The chunks Whisper decodes: whisperx's VAD cut-and-merge, each chunk padded so the words at its edges survive,
and the speech regions the VAD found, kept for timing words (`core.asr.speech_spans`).

whisperx cuts a chunk exactly where the VAD score crosses its onset threshold, which is after a word's first
sound: an espeak-ng German clip cut 31 ms into "Guten" was translated as a loop of "I hope you enjoyed this
video" and transcribed with its last words changed, where the same audio from 0 s comes out right. faster-whisper
pads its VAD speech by 400 ms (`VadOptions.speech_pad_ms`); so do we, never past half the gap to the next chunk
(no word is decoded twice) and never past 30 s (chunks are merged up to `chunk_size` minus the padding).
"""

from __future__ import annotations

from typing import Any

from whisperx.vads.vad import Vad

CHUNK_PAD_S = 0.4  # faster-whisper's speech_pad_ms
WHISPER_WINDOW_S = 30.0


class PaddedChunks(Vad):
    """Stands in for the ASR pipeline's VAD during one transcription: the same scores, the same cut-and-merge,
    padded chunks; `speech` holds the speech regions (seconds) of the last call."""

    def __init__(self, vad: Any, pad_s: float = CHUNK_PAD_S) -> None:
        self._vad = vad
        self.pad_s = pad_s
        self.speech: list[tuple[float, float]] = []
        self._duration_s = 0.0

    def __call__(self, file: dict[str, Any], **kwargs: Any) -> Any:
        self._duration_s = file["waveform"].shape[-1] / file["sample_rate"]
        return self._vad(file, **kwargs)

    @staticmethod
    def preprocess_audio(audio: Any) -> Any:
        from whisperx.vads.pyannote import Pyannote

        return Pyannote.preprocess_audio(audio)

    def merge_chunks(self, segments: Any, chunk_size: float, onset: float = 0.5,  # type: ignore[override]
                     offset: float | None = None) -> list[dict]:
        """pyannote VAD scores → whisperx's merged chunks, each padded (see the module's docstring)."""
        from whisperx.diarize import Segment as SegmentX
        from whisperx.vads.pyannote import Binarize

        longest = max(chunk_size - 2 * self.pad_s, min(chunk_size, 1.0))
        regions = Binarize(max_duration=longest, onset=onset, offset=offset)(segments).get_timeline()
        self.speech = [(float(region.start), float(region.end)) for region in regions]
        if not self.speech:
            return []
        chunks = Vad.merge_chunks([SegmentX(start, end, "UNKNOWN") for start, end in self.speech], longest,
                                  onset, offset)
        return pad_chunks(chunks, self.pad_s, self._duration_s)


def pad_chunks(chunks: list[dict], pad_s: float, duration_s: float) -> list[dict]:
    """Widen each chunk by up to `pad_s` on both sides: not past half the gap to a neighbour, the audio's ends,
    or Whisper's 30 s window."""
    padded = []
    for index, chunk in enumerate(chunks):
        before = chunks[index - 1]["end"] if index else 0.0
        after = chunks[index + 1]["start"] if index + 1 < len(chunks) else duration_s
        room = max(0.0, WHISPER_WINDOW_S - (chunk["end"] - chunk["start"])) / 2
        start = chunk["start"] - min(pad_s, room, (chunk["start"] - before) / 2 if index else chunk["start"])
        end = chunk["end"] + min(pad_s, room, (after - chunk["end"]) / 2 if index + 1 < len(chunks)
                                 else max(0.0, duration_s - chunk["end"]))
        padded.append({**chunk, "start": max(0.0, start), "end": min(end, duration_s) if duration_s else end})
    return padded
