"""Local server processes for the tests and the benchmark: a free port, waiting until it answers, stopping it.

The one copy of these helpers; the servers themselves are the real ones (`app.py`, `rp_handler.py`).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """Terminate, then kill if it does not exit in `timeout_s`; always reaped (no zombie)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else ""


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, timeout_s: float, *,
                         ready: Callable[[int], bool] = lambda status: status == 200) -> int:
    """Poll `url` until `ready(status)`; an HTTP error status counts as an answer (e.g. 401 behind a login).
    Raises `RuntimeError` with the log's tail when the process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log_tail(log)}")
        status = None
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (urllib.error.URLError, OSError):
            pass
        if status is not None and ready(status):
            return status
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout_s:.0f} s:\n{log_tail(log)}")
