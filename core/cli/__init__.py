"""The command line (`python -m core`) and the options table of docs/configuration.md, generated from the options.

A front end like the others: may import anything in `core`, never gradio or runpod.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

VOICES_COMMAND = "voices"  # `python -m core voices ...`; a file named "voices" is `python -m core ./voices`


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m core voices ...` manages the voice library; anything else transcribes files."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [VOICES_COMMAND]:
        from core.cli import voices

        return voices.main(argv[1:])
    from core.cli import transcribe

    return transcribe.main(argv)


__all__ = ["main"]
