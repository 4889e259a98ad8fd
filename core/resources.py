"""How much memory this process uses, for a job's `debug` output (the WhisperX worker's `debug: true`)."""

from __future__ import annotations

import os
import resource
import sys
from typing import Any


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
