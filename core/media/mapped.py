"""A long recording's samples on disk, mapped into memory, with resident pages dropped behind the readers.

Four hours of 16 kHz float32 are 920 MB, and no stage needs them all at once: VAD, segmentation, ASR,
embeddings and alignment each read a few seconds at a time, front to back. A long recording is therefore decoded
into a scratch file that is mapped (`np.memmap`, shared and writable, so scaling it in place stays valid) and
unlinked at once: nothing is left on disk however the process ends. While a job runs, `released_behind` drops
this process's pages of the mapping every fraction of a second (`madvise(MADV_DONTNEED)`; the data stays in the
page cache, where the kernel may reclaim it, and a later read faults it back in). Resident memory then holds
what the stages touched in the last interval, not the recording.

The scratch file goes to the temporary directory (`TMPDIR`): it should be on disk, not a tmpfs, or the pages
only move from this process to the tmpfs.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.periodic import periodically

RELEASE_EVERY_S = 0.25


def map_samples(path: Path) -> np.memmap:
    """`path` (raw little-endian float32) mapped shared and writable, then unlinked: the mapping keeps the data
    for as long as something references it."""
    try:
        return np.memmap(path, dtype="<f4", mode="r+")
    finally:
        path.unlink(missing_ok=True)


def new_scratch_file() -> Path:
    """An empty scratch file for decoded samples, in the temporary directory."""
    handle, name = tempfile.mkstemp(prefix="wxw-samples-", suffix=".f32")
    os.close(handle)
    return Path(name)


def mapped_like(samples: np.ndarray) -> np.memmap:
    """A new mapped scratch array of `samples`' length (float32, zeros), unlinked like the others."""
    path = new_scratch_file()
    with path.open("r+b") as handle:
        handle.truncate(max(1, samples.size) * 4)
    return map_samples(path)[: samples.size]


def mapping_of(samples: np.ndarray) -> mmap.mmap | None:
    """The `mmap` under `samples` (a memmap or a view of one), or None for samples in ordinary memory."""
    array: object = samples
    while isinstance(array, np.ndarray):
        found = getattr(array, "_mmap", None)
        if isinstance(found, mmap.mmap):
            return found
        array = array.base
    return array if isinstance(array, mmap.mmap) else None


def release_pages(samples: np.ndarray) -> bool:
    """Drop this process's resident pages of mapped `samples` (no effect on their values); False if not mapped."""
    mapping = mapping_of(samples)
    if mapping is None or mapping.closed:
        return False
    mapping.madvise(mmap.MADV_DONTNEED)
    return True


@contextlib.contextmanager
def released_behind(samples: np.ndarray, every_s: float = RELEASE_EVERY_S) -> Iterator[None]:
    """While the block runs, keep mapped `samples` from accumulating in resident memory; nothing for samples in
    ordinary memory."""
    if mapping_of(samples) is None:
        yield
        return
    try:
        with periodically(lambda: release_pages(samples), every_s, "release-pages"):
            yield
    finally:
        release_pages(samples)
