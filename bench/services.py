"""The front ends as users run them: a real process per mode, timed from spawn to ready and per request.

RunPod: `python app.py --rp_serve_api` with `APP_MODE=runpod` (the SDK's local API, `/runsync`).
Gradio: `python app.py` with `APP_MODE=ui` (`gradio_client` on `/transcribe`). The OpenAI-compatible API alone:
`APP_MODE=api` (ready when `/ping` answers 200). All with `PRELOAD=1`, so "ready" means the port answers with the
default models loaded.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.measure import stopwatch
from tests.servers import folder_server, free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = float(os.environ.get("BENCH_READY_TIMEOUT_S", "900"))  # a busy shared box starts slowly


@dataclasses.dataclass
class Service:
    mode: str
    url: str
    process: subprocess.Popen
    log: Path
    cold_start_s: float

    def stop(self) -> None:
        stop_process(self.process)


@contextlib.contextmanager
def running(mode: str, models_dir: Path, env: dict[str, str] | None = None) -> Iterator[Service]:
    """Start `app.py` in `mode`, wait until it serves, yield it, stop it (whatever happened)."""
    port = free_port()
    environment = {**os.environ, "APP_MODE": mode if mode in ("runpod", "api") else "ui",
                   "MODELS_DIR": str(models_dir), "PRELOAD": "1",
                   "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0", "GRADIO_ANALYTICS_ENABLED": "False",
                   "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PORT": str(port),
                   **(env or {})}
    environment.pop("PORT_HEALTH", None)
    command = [sys.executable, "app.py"]
    if mode == "runpod":
        command += ["--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port),
                    "--rp_log_level", "ERROR"]
    log = Path(tempfile.mkstemp(prefix=f"bench-{mode}-", suffix=".log")[1])
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT)
    service = Service(mode, f"http://127.0.0.1:{port}", process, log, 0.0)
    try:
        probe = {"runpod": "/openapi.json", "api": "/ping"}.get(mode, "/")
        _wait_ready(service, probe)
        service.cold_start_s = time.perf_counter() - started
        yield service
    finally:
        service.stop()
        log.unlink(missing_ok=True)


def _wait_ready(service: Service, probe: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.mode} exited with {service.process.returncode}:\n"
                               f"{service.log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(service.url + probe, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{service.mode} not ready after {READY_TIMEOUT_S}s")


def runsync(service: Service, job_input: dict[str, Any], timeout_s: float = 600) -> dict[str, Any]:
    """One job through RunPod's local API; returns the handler's output (or its `error`)."""
    body = json.dumps({"input": job_input}).encode()
    request = urllib.request.Request(service.url + "/runsync", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        reply = json.loads(response.read())
    return reply.get("output") or {"error": reply.get("error", reply)}


@contextlib.contextmanager
def serving_files(folder: Path) -> Iterator[str]:
    """A local HTTP server for `folder` (what a RunPod user does with long audio: pass a URL, since `/runsync`
    payloads are capped at 20 MB). Yields its base URL; the worker needs ALLOW_PRIVATE_URLS=1 to fetch it."""
    with folder_server(folder) as url:
        yield url


def audio_input(audio: Path, **options: Any) -> dict[str, Any]:
    return {"audio_base64": base64.b64encode(audio.read_bytes()).decode(), **options}


def timed_runpod(service: Service, job_input: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    with stopwatch() as clock:
        output = runsync(service, job_input)
    if "error" in output and "segments" not in output:
        raise RuntimeError(f"RunPod job failed: {output['error']}")
    return clock["seconds"], output


def request_once(service: Service, client: Any, audio: Path, options: dict[str, Any],
                 url: str | None = None) -> dict[str, Any]:
    """One job through either front end; a refused job comes back as `{"error": message}` from both."""
    if service.mode == "runpod":
        source = {"audio": url} if url else audio_input(audio)
        return runsync(service, {**source, **options}, timeout_s=3 * 3600)
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        return client.predict(handle_file(str(audio)), api_name="/transcribe", **options)
    except AppError as error:  # a gr.Error on the server: its message is the user's
        return {"error": str(error)}


def gradio_client(service: Service) -> Any:
    from gradio_client import Client

    return Client(service.url, verbose=False)


def timed_gradio(client: Any, audio: Path, options: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    from gradio_client import handle_file

    with stopwatch() as clock:
        result = client.predict(handle_file(str(audio)), api_name="/transcribe", **options)
    return clock["seconds"], result
