"""Whisper's language table (from whisperx), used to validate `language` and fill the UI's list."""

from __future__ import annotations

from core.errors import InvalidInput


def supported_languages() -> dict[str, str]:
    """ISO code → English name, in whisperx's order."""
    from whisperx.utils import LANGUAGES

    return dict(LANGUAGES)


def normalize_language(value: str | None) -> str | None:
    """Accept a code (`en`) or a name (`English`); refuse anything Whisper does not know."""
    if value is None or not value.strip():
        return None
    from whisperx.utils import LANGUAGES, TO_LANGUAGE_CODE

    key = value.strip().lower()
    if key in LANGUAGES:
        return key
    if key in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[key]
    raise InvalidInput(
        f"language={value!r} is not a Whisper language; use an ISO code such as en, de, fr, es, ja "
        "(or leave it empty to detect)",
        field="language",
    )


def language_name(code: str | None) -> str:
    """`de` → `German`, for notes a person reads; an unknown code is returned as given."""
    if not code:
        return "this language"
    return supported_languages().get(code, code).title()


# Languages whose words Whisper's own timing cuts at unicode characters rather than spaces (faster-whisper's
# tokenizer, `split_to_word_tokens`): its "words" there are pieces of text written without spaces between them.
WHISPER_SPLITS_ON_UNICODE = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def word_joiner(code: str | None, *, timed_by_whisper: bool = True) -> str:
    """How a run of words joins back into text: nothing between pieces cut from text written without spaces.
    Which languages those are depends on who timed the words: Whisper's cross-attention cuts six languages at
    characters (`WHISPER_SPLITS_ON_UNICODE`), whisperx's wav2vec2 alignment only ja and zh (its own list)."""
    from whisperx.alignment import LANGUAGES_WITHOUT_SPACES

    unspaced = WHISPER_SPLITS_ON_UNICODE if timed_by_whisper else LANGUAGES_WITHOUT_SPACES
    return "" if code in unspaced else " "
