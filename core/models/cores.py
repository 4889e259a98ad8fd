"""How many CPU cores this process may use (its affinity, as a container's cpuset limits it; not the host's count)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
