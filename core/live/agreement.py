"""Which words of a turn's drafts are safe to show: those two drafts in a row agree on (LocalAgreement-2, as in
whisper_streaming, Macháček et al. 2023).

A partial decode is re-run on the growing turn about once a second; its last words change as more audio comes.
The protocol's deltas only append, so a word once sent is never taken back: a word is sent when the newest draft
and the one before begin with the same words up to it (compared without case and punctuation, shown as the
newest draft writes it). The final decode's text then replaces the drafts.

One exception, so that a long turn always shows text while it is spoken: when a turn's drafts start late (the
decoder was busy with the previous turns' finals, as in a quick exchange), a draft of LATE_DRAFT_S or more of
audio with nothing sent yet lets its words through but the last UNSURE_TAIL_WORDS, the ones a longer draft most
often changes. Measured on real recordings streamed at real-time pace, one turn of 5.5 s in 53 of 5 s or more
showed its first text only after it ended without this rule.
"""

from __future__ import annotations

import re

_WORD_CORE = re.compile(r"[\W_]+", re.UNICODE)
LATE_DRAFT_S = 3.0  # a draft of this much audio with nothing sent yet is trusted on its own...
UNSURE_TAIL_WORDS = 2  # ...all but its last this many words


def _key(word: str) -> str:
    return _WORD_CORE.sub("", word.lower()) or word


class StablePrefix:
    """The words of one turn sent so far, and what the next draft lets through."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._previous: list[str] = []

    def update(self, draft: str, seconds: float = 0.0) -> str:
        """Text to append (with its leading space when something was sent before), or "" when nothing new agrees;
        `seconds`: the audio the draft was decoded from (a late first draft is trusted on its own)."""
        words = draft.split()
        agreed = 0
        for old, new in zip(self._previous, words, strict=False):
            if _key(old) != _key(new):
                break
            agreed += 1
        if not self.sent and seconds >= LATE_DRAFT_S:
            agreed = max(agreed, len(words) - UNSURE_TAIL_WORDS)
        self._previous = words
        if agreed <= len(self.sent) or [_key(w) for w in words[: len(self.sent)]] != [_key(w) for w in self.sent]:
            return ""
        fresh = words[len(self.sent): agreed]
        return self._append(fresh)

    def rest_of(self, final: str) -> str:
        """What to append so that the deltas read as `final`, when `final` begins with the words sent; else ""."""
        words = final.split()
        if [_key(w) for w in words[: len(self.sent)]] != [_key(w) for w in self.sent]:
            return ""
        return self._append(words[len(self.sent):])

    def _append(self, words: list[str]) -> str:
        if not words:
            return ""
        text = " ".join(words)
        if self.sent:
            text = " " + text
        self.sent += words
        return text
