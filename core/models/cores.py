"""How many CPU cores this process may use (its affinity, as a container's cpuset limits it; not the host's count)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_threads_lock = threading.Lock()
_threads_asked: list[int] = []  # the counts asked by the `torch_threads` blocks running now, oldest first
_threads_before: int | None = None  # the setting before the first of them began


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` for a while, then back. The setting is the process's, and blocks
    overlap (a live session's labelling beside a batch job's embedding): the setting before the first block is
    the one the last block to end puts back, so an interleaving never leaves the process on fewer threads."""
    import torch

    global _threads_before
    count = max(1, count)
    with _threads_lock:
        if not _threads_asked:
            _threads_before = torch.get_num_threads()
        _threads_asked.append(count)
        torch.set_num_threads(count)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_asked.remove(count)
            torch.set_num_threads(_threads_asked[-1] if _threads_asked else _threads_before)
