"""Model preloading for MODELS_DIR (`python -m builder`). The library takes every input as an argument; only
`builder.__main__` reads the command line and the environment (the token)."""

from __future__ import annotations

import hashlib
from pathlib import Path


class BuildError(Exception):
    """A requested model cannot be installed; the message names it and the fix (`__main__` prints it, exit 1)."""


def asr_digest(model_dir: Path) -> dict[str, int | str]:
    """Manifest fields of an installed CTranslate2 model: total size in bytes and the sha256 of `model.bin`, so an
    image's weights can be compared with another build's (or a published checksum) without loading them."""
    sha = hashlib.sha256()
    with (model_dir / "model.bin").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    size = sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file())
    return {"bytes": size, "sha256": sha.hexdigest()}
