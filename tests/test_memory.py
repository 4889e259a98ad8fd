"""After a job the engine hands freed heap pages back to the OS (glibc keeps them otherwise)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_release_memory_returns_freed_heap_pages():
    """In a fresh process: 300 MB in 100 KB blocks (below glibc's mmap threshold, so from the heap), one more
    block above them keeps free() from trimming the heap's top, then they are freed: RSS stays up until
    `release_memory()`."""
    script = textwrap.dedent("""
        import numpy as np
        from core.models.memory import release_memory

        def rss_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        blocks = [np.ones(12_500) for _ in range(3000)]
        pin = np.ones(12_500)  # allocated last: on top of the heap
        del blocks
        held = rss_mb()
        trimmed = release_memory()
        print(trimmed, held, rss_mb())
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                               cwd=Path(__file__).resolve().parents[1])
    trimmed, held, after = completed.stdout.split()
    assert trimmed == "True"
    assert float(held) - float(after) > 200, completed.stdout


def test_freed_heap_pages_go_back_while_a_job_runs():
    """The same heap holes, freed during a job: the job's trimming thread gives them back within its period,
    without waiting for the job to end; a process without it keeps them."""
    script = textwrap.dedent("""
        import sys, time
        import numpy as np
        from core.models.memory import trimmed_while_running

        def rss_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

        def held_after(seconds):
            blocks = [np.ones(12_500) for _ in range(3000)]
            pin = np.ones(12_500)
            before = rss_mb()
            del blocks
            time.sleep(seconds)
            return before - rss_mb(), pin

        if sys.argv[1] == "trim":
            with trimmed_while_running(every_s=0.05):
                given_back, _ = held_after(0.5)
        else:
            given_back, _ = held_after(0.5)
        print(given_back)
    """)
    given_back = {}
    for mode in ("trim", "plain"):
        completed = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True,
                                   cwd=Path(__file__).resolve().parents[1])
        given_back[mode] = float(completed.stdout.split()[-1])
    assert given_back["trim"] > 200 and given_back["plain"] < 50, given_back
