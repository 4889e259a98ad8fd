"""NLTK `punkt_tab` data for alignment's sentence splitting, installed under MODELS_DIR/nltk_data.

whisperx.align loads `tokenizers/punkt_tab/<lang>` and, when missing, tries to download it at request
time, which fails offline. The default profile fetches NLTK's trained tables; the open profile writes an
English table from a fixed list of abbreviations (what Punkt needs most to avoid false sentence breaks),
in the same tab format, so nothing is downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.asr.sentences import ENGLISH_ABBREVIATIONS

logger = logging.getLogger(__name__)



def punkt_tab_dir(nltk_root: Path, language: str = "english") -> Path:
    return nltk_root / "tokenizers" / "punkt_tab" / language


def write_english_punkt_tab(nltk_root: Path) -> Path:
    """Write a minimal English punkt_tab (abbreviations only; no collocations or orthographic stats)."""
    target = punkt_tab_dir(nltk_root)
    target.mkdir(parents=True, exist_ok=True)
    (target / "abbrev_types.txt").write_text("\n".join(sorted(ENGLISH_ABBREVIATIONS)) + "\n", encoding="utf-8")
    (target / "collocations.tab").write_text("", encoding="utf-8")
    (target / "sent_starters.txt").write_text("", encoding="utf-8")
    (target / "ortho_context.tab").write_text("", encoding="utf-8")
    logger.info("wrote English punkt_tab (%d abbreviations) to %s", len(ENGLISH_ABBREVIATIONS), target)
    return target


def download_punkt_tab(nltk_root: Path) -> Path:
    """NLTK's trained punkt_tab for all languages (needs network; used by the default profile)."""
    import nltk

    nltk_root.mkdir(parents=True, exist_ok=True)
    if not nltk.download("punkt_tab", download_dir=str(nltk_root), quiet=True, raise_on_error=True):
        raise RuntimeError("nltk could not download punkt_tab")
    return nltk_root / "tokenizers" / "punkt_tab"
