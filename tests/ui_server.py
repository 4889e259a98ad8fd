"""One real Gradio server per test process, shared by the UI test modules (API and browser).

Started with the same `serve()` the app uses, in a subprocess on a free port, with MODELS_DIR = the open
profile and a temporary directory of its own (TMPDIR), so tests can check that it leaves no temporary files;
stopped at interpreter exit. Its log is kept in test-artifacts/ for failures. The shared server runs with
ALLOW_PRIVATE_URLS=1, the explicit test override that lets the link box fetch from a server on loopback.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.servers import free_port, stop_process, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT_S = 240
LAUNCH = (
    "from core.logs import configure_logging; configure_logging();"
    "from core.service import shared; from ui.server import serve; serve(shared())"
)


@dataclasses.dataclass
class UiServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    tmp_dir: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process, timeout_s=15)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


_servers: dict[str, UiServer] = {}


def shared_server(models_dir: Path) -> UiServer:
    """The process-wide server for `models_dir`, started on first use."""
    key = str(models_dir)
    if key not in _servers:
        _servers[key] = start_server(models_dir, ALLOW_PRIVATE_URLS="1")
        atexit.register(_servers[key].stop)
    return _servers[key]


def start_server(models_dir: Path, *, timeout_s: float = START_TIMEOUT_S, **extra_env: str) -> UiServer:
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"ui-server-{port}.log"
    tmp_dir = Path(tempfile.mkdtemp(prefix="wxw-ui-server-"))
    env = {**os.environ, "TMPDIR": str(tmp_dir), "MODELS_DIR": str(models_dir), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "DEVICE": "cpu", "PRELOAD": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0", "GRADIO_ANALYTICS_ENABLED": "False",
           **extra_env}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-c", LAUNCH], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    server = UiServer(f"http://127.0.0.1:{port}/", process, log_path, tmp_dir)
    _wait_ready(server, timeout_s)
    return server


def _wait_ready(server: UiServer, timeout_s: float = START_TIMEOUT_S) -> None:
    try:
        wait_until_answering(server.url + "config", server.process, server.log_path, timeout_s,
                             ready=lambda status: True)  # any answer, e.g. 401 behind UI_AUTH
    except RuntimeError:
        server.stop()
        raise
