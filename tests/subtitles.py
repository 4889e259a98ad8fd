"""Test helper shared by the UI test modules: reading SRT back strictly (tests never import each other)."""

from __future__ import annotations

import re

SRT_CUE = re.compile(r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+?)(?:\n\n|\Z)", re.S)


def parse_srt(text: str) -> list[tuple[str, str, str, str]]:
    """(index, start, end, text) per cue; asserts that nothing but well-formed cues is there."""
    cues = SRT_CUE.findall(text)
    assert "".join(f"{i}\n{a} --> {b}\n{body}\n\n" for i, a, b, body in cues) == text, "not plain SRT"
    assert [int(cue[0]) for cue in cues] == list(range(1, len(cues) + 1))
    return cues
