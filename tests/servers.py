"""Local servers for the tests and the benchmark: a free port, waiting until it answers, stopping it, and a
media server (plain HTTP with misbehaving routes) that downloads are tested against.

The one copy of these helpers; the servers under test are the real ones (`app.py`, `rp_handler.py`).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
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


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /file/<name> (server.files), /redirect?to=URL, /loop, /status/<code>, /stream/<n>, /slow,
    /trickle-headers, /host."""

    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        route, _, rest = parts.path.lstrip("/").partition("/")
        query = urllib.parse.parse_qs(parts.query)
        if route == "file" and urllib.parse.unquote(rest) in self.server.files:
            body = self.server.files[urllib.parse.unquote(rest)]
            self._reply(200, body, {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"})
        elif route == "redirect":
            self._reply(302, b"", {"Location": query["to"][0]})
        elif route == "loop":
            self._reply(302, b"", {"Location": "/loop"})
        elif route == "status":
            self._reply(int(rest), b"nope", {})
        elif route == "lying-length":
            self._reply(200, b"x" * 10, {"Content-Length": str(10**12)})
        elif route == "stream":  # no Content-Length: only the streaming count can stop it
            self._reply(200, b"\0" * int(rest), {})
        elif route == "slow":
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(50):
                    self.wfile.write(b"\0" * 10)
                    self.wfile.flush()
                    time.sleep(0.1)
        elif route == "trickle-headers":  # one header byte at a time: only a total deadline stops it
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                for _ in range(600):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.1)
        elif route == "host":
            body = (self.headers.get("Host") or "").encode()
            self._reply(200, body, {"Content-Length": str(len(body))})
        else:
            self._reply(404, b"not found", {})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@contextlib.contextmanager
def media_server(files: dict[str, bytes] | None = None) -> Iterator[str]:
    """A local HTTP server in a thread; yields its base URL (http://127.0.0.1:PORT)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files = dict(files or {})
    with _serving(server) as url:
        yield url


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def folder_server(folder: Path) -> Iterator[str]:
    """The files of `folder` over HTTP on loopback (a user's link); yields the base URL."""
    import functools

    handler = functools.partial(_QuietFiles, directory=str(folder))
    with _serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


@contextlib.contextmanager
def _serving(server: http.server.ThreadingHTTPServer) -> Iterator[str]:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
