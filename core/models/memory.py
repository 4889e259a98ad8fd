"""Memory: what this process uses (for a job's `debug` output, the WhisperX worker's `debug: true`), and handing a
finished job's freed memory back to the operating system.

A job allocates hundreds of MB to GB in many mid-sized blocks (VAD and segmentation chunks, mel features,
embedding batches, decoder buffers) from several threads. glibc keeps freed heap pages in its per-thread
arenas, so a long-running worker's RSS stays at its peak long after the job (measured: README "Performance",
"Memory after a long job"). `malloc_trim(0)` returns every free page of every arena; it is cheap next to a job,
so it runs after each job and, every TRIM_EVERY_S, during one (a long job's holes otherwise pile up).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import resource
import sys
from collections.abc import Callable, Iterator
from typing import Any

from core.periodic import periodically

logger = logging.getLogger(__name__)

TRIM_EVERY_S = 10.0  # a job's freed heap pages go back this often (a short job never waits for it)


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


@contextlib.contextmanager
def trimmed_while_running(every_s: float = TRIM_EVERY_S) -> Iterator[None]:
    """While a job runs, return free heap pages every `every_s` seconds. A long job's threads (ASR, VAD,
    segmentation, embeddings) free big buffers between long-lived small ones; glibc cannot give those holes back
    by itself, and they piled up: a RunPod worker one hour into a job held 2281 MB, of which `malloc_trim` gave
    back 913 MB at once (README "Long recordings")."""
    trim = _malloc_trim()
    if trim is None:
        yield
        return
    with periodically(lambda: trim(0), every_s, "malloc-trim"):
        yield


def memory_usage() -> dict[str, Any]:
    """Resident memory now and at its peak (MiB); GPU memory allocated now, at its peak and reserved (MiB) when
    torch has initialised CUDA, else `gpu: null`."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    usage: dict[str, Any] = {"rss_mb": _rss_mb(), "peak_rss_mb": round(peak_kib / 1024, 1), "gpu": None}
    torch = sys.modules.get("torch")  # never import torch just to report that it is not in use
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        mib = 2**20
        usage["gpu"] = {"allocated_mb": round(torch.cuda.memory_allocated() / mib, 1),
                        "peak_allocated_mb": round(torch.cuda.max_memory_allocated() / mib, 1),
                        "reserved_mb": round(torch.cuda.memory_reserved() / mib, 1)}
    return usage


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
