"""Stretches of audio that one speaker holds, for transcribing speaker by speaker when no word timestamps exist.

Without word alignment a whisperx segment can cover several speakers (VAD merges speech up to `chunk_size`),
so its single speaker label would be wrong. Transcribing each speaker's stretch on its own gives segments that
belong to one speaker each, with the timestamps whisper gives inside the stretch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from core.result import SpeakerTurn

JOIN_GAP_S = 1.0  # one speaker's turns closer than this are one stretch (a breath is not a turn change)
MIN_SPAN_S = 0.3  # shorter stretches (back-channel "mm") are left out: too short to transcribe reliably


def speaker_spans(turns: Iterable[SpeakerTurn], *, join_gap_s: float = JOIN_GAP_S,
                  min_span_s: float = MIN_SPAN_S) -> list[SpeakerTurn]:
    """Exclusive (non-overlapping) turns → time-ordered stretches, same-speaker neighbours joined, blips gone."""
    joined = _join(sorted((t for t in turns if t.end > t.start), key=lambda t: (t.start, t.end)), join_gap_s)
    return _join([span for span in joined if span.end - span.start >= min_span_s], join_gap_s)


def _join(turns: list[SpeakerTurn], gap_s: float) -> list[SpeakerTurn]:
    spans: list[SpeakerTurn] = []
    for turn in turns:
        last = spans[-1] if spans else None
        if last is not None and last.speaker == turn.speaker and turn.start - last.end <= gap_s:
            spans[-1] = SpeakerTurn(start=last.start, end=max(last.end, turn.end), speaker=last.speaker)
        else:
            spans.append(turn)
    return spans


def speaker_at(spans: list[SpeakerTurn], time_s: float) -> str:
    """The speaker whose stretch holds `time_s`, else the one nearest to it."""
    return min(spans, key=lambda span: 0.0 if span.start <= time_s <= span.end
               else min(abs(span.start - time_s), abs(span.end - time_s))).speaker


def change_points(spans: list[SpeakerTurn]) -> list[float]:
    """Where the speaker changes: halfway through the gap (or overlap) between two speakers' stretches."""
    return [(before.end + after.start) / 2 for before, after in itertools.pairwise(spans)
            if before.speaker != after.speaker]


def split_chunks(chunks: list[dict], spans: list[SpeakerTurn], *, min_piece_s: float = 0.2) -> list[dict]:
    """whisperx's merged VAD chunks (`start`, `end`, `segments` of speech) re-cut so none crosses a speaker change.

    Speech regions are split at the change points; consecutive pieces of one speaker stay one chunk (so
    whisper keeps its context), and each chunk gets a `speaker`. A piece too short to hold a word joins
    the piece before it.
    """
    if not spans:
        return chunks
    cuts = change_points(spans)
    result: list[dict] = []
    for chunk in chunks:
        pieces: list[tuple[float, float, str]] = []
        for start, end in chunk.get("segments") or [(chunk["start"], chunk["end"])]:
            bounds = [start, *(cut for cut in cuts if start < cut < end), end]
            for piece_start, piece_end in itertools.pairwise(bounds):
                speaker = speaker_at(spans, (piece_start + piece_end) / 2)
                if pieces and (piece_end - piece_start < min_piece_s or pieces[-1][2] == speaker):
                    pieces[-1] = (pieces[-1][0], piece_end, pieces[-1][2])
                else:
                    pieces.append((piece_start, piece_end, speaker))
        result += [{"start": start, "end": end, "segments": [(start, end)], "speaker": speaker}
                   for start, end, speaker in pieces]
    return result
