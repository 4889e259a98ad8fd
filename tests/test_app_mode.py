"""`app.py`: one entry point, two modes, run as the image runs it (`python app.py` with APP_MODE)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_app_token_never_logged_0123456789"


def app_env(models_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("APP_MODE", "WHISPER_MODEL", "DIARIZATION_MODEL")}
    env.update({"MODELS_DIR": str(models_dir), "DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYANNOTE_METRICS_ENABLED": "0", "GRADIO_ANALYTICS_ENABLED": "False"})
    env.update(overrides)
    return env


def test_an_unknown_mode_exits_with_the_valid_values(tmp_path):
    completed = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=app_env(tmp_path, APP_MODE="nonsense"),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert "APP_MODE='nonsense' is not valid" in completed.stderr
    assert "ui" in completed.stderr and "runpod" in completed.stderr


def test_importing_app_starts_nothing():
    probe = ("import sys, app; heavy = {'ui.server', 'rp_handler', 'gradio', 'runpod', 'torch', 'whisperx'}; "
             "print(sorted(heavy & set(sys.modules)))")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                               check=True)
    assert completed.stdout.strip() == "[]"


def test_demo_is_built_lazily_once(monkeypatch):
    built = []
    server = types.ModuleType("ui.server")
    server.create_demo = lambda settings=None: built.append(object()) or built[-1]
    package = types.ModuleType("ui")
    package.server = server
    monkeypatch.setitem(sys.modules, "ui", package)
    monkeypatch.setitem(sys.modules, "ui.server", server)
    monkeypatch.delitem(sys.modules, "app", raising=False)
    import app

    assert built == []
    assert app.demo is built[0]
    assert app.demo is built[0] and len(built) == 1
    with pytest.raises(AttributeError):
        _ = app.not_there


@pytest.mark.slow
def test_runpod_mode_runs_the_test_input(models_dir):
    job = json.loads((ROOT / "test_input.json").read_text(encoding="utf-8"))
    completed = subprocess.run(
        [sys.executable, "app.py", "--test_input", json.dumps(job)], cwd=ROOT,
        env=app_env(models_dir, APP_MODE="runpod", HF_TOKEN=SECRET), capture_output=True, text=True, timeout=600)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert "completed successfully" in output and "'segments'" in output
    assert "APP_MODE=runpod" in completed.stderr and "models (profile open)" in completed.stderr
    assert SECRET not in output


IDLE_WINDOW_S = 15
# An idle server (nothing queued, no page open) uses about 0.5 % of a core, Gradio's queue checking for work 20
# times a second; before, its 1 ms polling took 3-6 %. Not a timing: a bound that only a polling or busy-loop
# regression crosses, measured in CPU time the process used (not wall time), so a loaded machine does not fail it.
IDLE_CPU_BOUND = 0.02  # of one core
IDLE_TRIES = 3  # windows measured until one is under the bound: a passing burst of startup work is no regression


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_share(pid: int) -> list[float]:
    """CPU share of one core in successive windows, until one is under the bound (or IDLE_TRIES were taken)."""
    import time

    shares = []
    for _ in range(IDLE_TRIES):
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_WINDOW_S)
        shares.append((cpu_seconds(pid) - before) / (time.monotonic() - started))
        if shares[-1] <= IDLE_CPU_BOUND:
            break
    return shares


@pytest.mark.slow
def test_ui_mode_serves_the_page_and_is_quiet_when_idle(models_dir, tmp_path):
    port = free_port()
    env = app_env(models_dir, APP_MODE="ui", GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
                  HF_TOKEN=SECRET)
    log = tmp_path / "app.log"
    with open(log, "w", encoding="utf-8") as sink:  # a file, not a pipe: a chatty server never blocks on it
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
        try:
            status = wait_until_answering(f"http://127.0.0.1:{port}/", process, log, timeout_s=300)
            assert status == 200
            shares = idle_cpu_share(process.pid)
            assert min(shares) <= IDLE_CPU_BOUND, f"idle CPU per window: {[f'{s:.1%}' for s in shares]}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    output = log.read_text(encoding="utf-8")
    assert "APP_MODE=ui" in output
    assert SECRET not in output
