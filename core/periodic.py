"""A background chore repeated while a block of code runs (releasing a job's memory as it goes)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def periodically(action: Callable[[], object], every_s: float, name: str) -> Iterator[None]:
    """Call `action` every `every_s` seconds in a daemon thread until the block ends (the thread is joined)."""
    stop = threading.Event()

    def repeat() -> None:
        while not stop.wait(every_s):
            action()

    thread = threading.Thread(target=repeat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
