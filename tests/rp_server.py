"""The real RunPod worker for tests: `python rp_handler.py --rp_serve_api` in a subprocess, one `strict` (the
production guards) and one `lenient` (ALLOW_PRIVATE_URLS=1, so it may fetch from the local media server) per test
session. Each has its own TMPDIR; every job is followed by a check that it left no files behind."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.servers import free_port, stop_process, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
MAX_UPLOAD_MB = 2


@dataclasses.dataclass
class Worker:
    url: str
    process: subprocess.Popen
    log_path: Path
    tmpdir: Path
    baseline: frozenset[str] = frozenset()  # TMPDIR entries the process made at start-up (torch, runpod)

    def run(self, payload: Any, timeout_s: float = 600) -> dict[str, Any]:
        """POST /runsync and return the reply; then check the job removed every file it made."""
        response = requests.post(f"{self.url}/runsync", json={"input": payload}, timeout=timeout_s)
        response.raise_for_status()
        reply = response.json()
        leftovers = sorted(self.tmp_entries() - self.baseline)
        assert leftovers == [], f"the job left {leftovers} in TMPDIR"
        return reply

    def output(self, payload: Any) -> dict[str, Any]:
        reply = self.run(payload)
        assert reply.get("status") == "COMPLETED", reply.get("error")
        return reply["output"]

    def error(self, payload: Any) -> str:
        reply = self.run(payload)
        assert reply.get("status") == "FAILED" and "output" not in reply, reply
        return reply["error"]

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, needle: str, timeout_s: float = 30) -> str:
        """The log once it contains `needle` (the handler logs each job's end before it replies, but the file
        may lag the reply)."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.logs()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in the worker log after {timeout_s}s:\n{text[-2000:]}")
            time.sleep(0.1)

    def tmp_entries(self) -> frozenset[str]:
        return frozenset(str(path.relative_to(self.tmpdir)) for path in self.tmpdir.rglob("*"))


def worker_env(models_dir: Path, tmpdir: Path, **extra: str) -> dict[str, str]:
    drop = ("ALLOW_PRIVATE_URLS", "MAX_UPLOAD_MB", "RUNPOD_LOG_LEVEL", "RUNPOD_DEBUG_LEVEL")
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(MODELS_DIR=str(models_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="0",
               TMPDIR=str(tmpdir), DEVICE="cpu", **extra)
    return env


def launch(models_dir: Path, home: Path, *args: str, **extra: str) -> Worker:
    tmpdir = home / "tmp"
    tmpdir.mkdir(parents=True)
    port = free_port()
    log_path = home / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "rp_handler.py", "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port",
             str(port), *args], cwd=ROOT, env=worker_env(models_dir, tmpdir, **extra), stdout=log,
            stderr=subprocess.STDOUT)
    return Worker(f"http://127.0.0.1:{port}", process, log_path, tmpdir)


def wait_ready(worker: Worker, timeout_s: float = 240) -> None:
    wait_until_answering(f"{worker.url}/openapi.json", worker.process, worker.log_path, timeout_s)
    worker.baseline = worker.tmp_entries()


def start_workers(models_dir: Path, home: Path) -> dict[str, Worker]:
    """Both workers start together (start-up is mostly imports and model loads, ~10 s each). The lenient one
    asks the SDK for DEBUG logs, which the worker must refuse (DEBUG logs every handler output)."""
    started = {
        "strict": launch(models_dir, home / "strict", MAX_UPLOAD_MB=str(MAX_UPLOAD_MB)),
        "lenient": launch(models_dir, home / "lenient", "--rp_log_level", "DEBUG", MAX_UPLOAD_MB=str(MAX_UPLOAD_MB),
                          ALLOW_PRIVATE_URLS="1", RUNPOD_LOG_LEVEL="DEBUG"),
    }
    try:
        for worker in started.values():
            wait_ready(worker)
    except BaseException:
        stop_workers(started)
        raise
    return started


def stop_workers(workers: dict[str, Worker]) -> None:
    for worker in workers.values():
        stop_process(worker.process)
