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


def word_joiner(code: str | None) -> str:
    """How words join into text: nothing between them in languages written without spaces (whisperx's list)."""
    from whisperx.alignment import LANGUAGES_WITHOUT_SPACES

    return "" if code in LANGUAGES_WITHOUT_SPACES else " "
