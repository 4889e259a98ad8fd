"""No job ever touches the network, and the product does not need HF_HUB_OFFLINE (or any other variable) to
stay off it: the CLI, the RunPod worker and the Gradio app run a diarized job inside a network namespace with
only loopback (`unshare -n`), with every *_OFFLINE / telemetry variable unset. A Python audit hook
(tests/net_audit/sitecustomize.py) records any attempt to resolve or connect to a non-loopback host, even one a
library would swallow; there must be none, and no network error in any log or result."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

NETWORK_TROUBLE = re.compile(r"urlopen|name resolution|Name or service|getaddrinfo|Max retries|NewConnectionError|"
                             r"Network is unreachable|OfflineModeIsEnabled|huggingface\.co|ConnectionError", re.I)
UNSET = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "PYANNOTE_METRICS_ENABLED",
         "GRADIO_ANALYTICS_ENABLED", "ALLOW_PRIVATE_URLS")


def isolated(command: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 600) -> subprocess.CompletedProcess:
    """`command` in a new network namespace holding only loopback (as root; unprivileged via a user namespace)."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is missing; .ci/run runs on Debian, where it is always present")
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    script = "ip link set lo up 2>/dev/null || true; exec \"$@\""
    return subprocess.run([*unshare, "sh", "-c", script, "sh", *command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


@pytest.fixture()
def offline_env(models_dir, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    audit = tmp_path / "network-attempts.txt"
    env.update(MODELS_DIR=str(models_dir), DEVICE="cpu", WXW_NET_AUDIT=str(audit),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "net_audit"), str(ROOT)]))
    return env, audit


def assert_never_tried(audit: Path, *logs: str) -> None:
    attempts = audit.read_text() if audit.exists() else ""
    assert attempts == "", f"network attempts:\n{attempts}"
    for log in logs:
        assert not NETWORK_TROUBLE.search(log), NETWORK_TROUBLE.search(log).group(0)


def test_cli(offline_env, dialogue, tmp_path):
    env, audit = offline_env
    out = tmp_path / "out"
    completed = isolated([sys.executable, "-m", "core", str(dialogue.path), "--diarize", "--formats", "json",
                          "--output-dir", str(out)], env, ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((out / f"{dialogue.path.stem}.json").read_text())
    assert result["word_timing"] == "whisper" and len(result["speakers"]) == 2
    assert all(word["start"] is not None for segment in result["segments"] for word in segment["words"])
    assert_never_tried(audit, completed.stderr, json.dumps(result))


def test_runpod_worker(offline_env, dialogue, tmp_path):
    env, audit = offline_env
    job = {"input": {"audio_base64": base64.b64encode(dialogue.path.read_bytes()).decode(), "diarization": True,
                     "output_formats": ["json", "srt"]}}
    (tmp_path / "test_input.json").write_text(json.dumps(job))  # the SDK's own local-test file
    completed = isolated([sys.executable, str(ROOT / "rp_handler.py")], {**env, "APP_MODE": "runpod"}, tmp_path)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-3000:]
    assert_never_tried(audit, completed.stdout, completed.stderr)


# Starts the app as it is deployed, then calls it as a user's script would. The client is test code, not the
# product: its own telemetry (huggingface_hub's, on by default) is turned off in its process only.
GRADIO_DRIVER = textwrap.dedent("""
    import os, subprocess, sys, time, json
    app, port, wav = sys.argv[1], sys.argv[2], sys.argv[3]
    server = subprocess.Popen([sys.executable, app], stdout=open("ui.log", "w"), stderr=subprocess.STDOUT,
                              env=dict(os.environ))
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from gradio_client import Client, handle_file
    try:
        for _ in range(600):
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if server.poll() is not None:
                    raise SystemExit("server exited")
                time.sleep(0.5)
        result = client.predict(handle_file(wav), api_name="/transcribe", diarization=True)
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(30)
""")


def test_gradio_app(offline_env, dialogue, tmp_path):
    env, audit = offline_env
    port = free_port()
    env.update(APP_MODE="ui", GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), PRELOAD="1")
    completed = isolated([sys.executable, "-c", GRADIO_DRIVER, str(ROOT / "app.py"), str(port), str(dialogue.path)],
                         env, tmp_path)
    server_log = (tmp_path / "ui.log").read_text() if (tmp_path / "ui.log").exists() else ""
    assert completed.returncode == 0, (completed.stderr + server_log)[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["word_timing"] == "whisper" and len(result["speakers"]) == 2
    assert_never_tried(audit, completed.stderr, server_log, json.dumps(result))
