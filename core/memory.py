"""Hand a finished job's freed memory back to the operating system.

A job allocates hundreds of MB to GB in many mid-sized blocks (VAD and segmentation chunks, mel features,
embedding batches, decoder buffers) from several threads. glibc keeps freed heap pages in its per-thread
arenas, so a long-running worker's RSS stays at its peak long after the job (measured: README "Performance",
"Memory after a long job"). `malloc_trim(0)` returns every free page of every arena; it is cheap next to a job.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None on a C library without it (musl, macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the process already runs on
    except (OSError, AttributeError):
        return None


def release_memory() -> bool:
    """Collect cycles, then return free heap pages to the OS; True when the allocator could be trimmed."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
