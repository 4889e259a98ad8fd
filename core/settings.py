"""Settings read once from the environment (the variables are listed in docs/configuration.md).

Nothing else in the project reads `os.environ` for these names; tests build `Settings(...)` directly. Each
default is written once, on its field; `from_env` only parses what is set.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

APP_MODES = ("ui", "runpod", "api")
DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "float16", "bfloat16", "float32", "int8", "int8_float16", "int8_float32", "int8_bfloat16")
LARGE_V3_TURBO = "large-v3-turbo"  # also what whisper's short name `turbo` means
FALLBACK_WHISPER_MODEL = LARGE_V3_TURBO
FALLBACK_DIARIZATION_MODEL = "pyannote/speaker-diarization-community-1"
DEFAULT_MAX_QUEUE = 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Process-wide configuration; `None` means "take it from the manifest / hardware"."""

    app_mode: str = "ui"
    models_dir: Path = Path("/models")
    # Where the voice library (core/speakers/voices.py) lives: `./data` in a checkout, `/data` in the image (a
    # volume, so enrolled voices outlive the container). Voiceprints are personal data and go nowhere else.
    data_dir: Path = Path("data")
    whisper_model: str | None = None
    device: str = "auto"
    compute_type: str = "auto"
    batch_size: int | None = None
    diarization_model: str | None = None
    hf_token: str | None = dataclasses.field(default=None, repr=False)
    preload: bool = True
    fetch_models: bool = False  # may start-up download missing default models from the hub (never a job)
    server_name: str = "127.0.0.1"  # this machine only unless asked (the image sets 0.0.0.0: a container's port)
    server_port: int = 7860
    ui_auth: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    max_upload_mb: int = 1024
    # Longer audio is refused before any model runs. Diarization clusters in windows (below), so its memory no
    # longer grows with the square of the length; what remains grows linearly (docs/long-recordings.md).
    max_audio_minutes: float = 600.0
    # Diarization clusters speakers in windows of this many minutes, linked across windows by voice
    # (core/speakers/windowed_clustering.py): one window's pairwise distances bound the clustering's memory.
    diarization_window_minutes: float = 15.0
    allow_private_urls: bool = False
    # RunPod: a generator handler that streams finished segments (`/stream`); `/run` and `/runsync` then return
    # RunPod's aggregate, the list of streamed items with the whole result last (docs/runpod.md).
    runpod_stream: bool = False
    download_timeout_s: float = 180.0  # one URL download, headers and body; a serverless job should not wait longer
    # APP_MODE=api: the OpenAI-compatible API on `port`, RunPod's load-balancer health check on `port_health`
    port: int = 8000
    max_queue: int = DEFAULT_MAX_QUEUE  # jobs waiting for the engine, web page and API together; more are refused
    port_health: int | None = None  # None: the same port as the API
    # Who may call the OpenAI-compatible API (openai_api/auth.py): these keys (Bearer) when set; else the page's
    # users of `ui_auth` by HTTP Basic, in either APP_MODE; else anyone.
    api_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    # Live transcription sessions (/v1/realtime) open at once; each shares the loaded models (docs/realtime.md)
    live_max_sessions: int = 4

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_audio_seconds(self) -> float:
        return self.max_audio_minutes * 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the documented variables that are set; a malformed value is an error naming the variable."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        parsers: dict[str, tuple[str, Callable[[str, str], Any]]] = {  # field: (variable, parser)
            "app_mode": ("APP_MODE", _lower),
            "models_dir": ("MODELS_DIR", lambda _name, raw: Path(raw)),
            "data_dir": ("DATA_DIR", lambda _name, raw: Path(raw)),
            "whisper_model": ("WHISPER_MODEL", _text),
            "device": ("DEVICE", _choice(DEVICES)),
            "compute_type": ("COMPUTE_TYPE", _choice(COMPUTE_TYPES)),
            "batch_size": ("BATCH_SIZE", _positive_int),
            "diarization_model": ("DIARIZATION_MODEL", _text),
            "preload": ("PRELOAD", _flag),
            "fetch_models": ("FETCH_MODELS", _flag),
            "server_name": ("GRADIO_SERVER_NAME", _text),
            "server_port": ("GRADIO_SERVER_PORT", _positive_int),
            "ui_auth": ("UI_AUTH", _parse_auth),
            "max_upload_mb": ("MAX_UPLOAD_MB", _positive_int),
            "max_audio_minutes": ("MAX_AUDIO_MINUTES", _positive_number),
            "diarization_window_minutes": ("DIARIZATION_WINDOW_MINUTES", _positive_number),
            "allow_private_urls": ("ALLOW_PRIVATE_URLS", _flag),
            "runpod_stream": ("RUNPOD_STREAM", _flag),
            "download_timeout_s": ("DOWNLOAD_TIMEOUT_S", _positive_number),
            "port": ("PORT", _positive_int),
            "port_health": ("PORT_HEALTH", _positive_int),
            "api_keys": ("API_KEYS", _parse_keys),
            "max_queue": ("MAX_QUEUE", _positive_int),
            "live_max_sessions": ("LIVE_MAX_SESSIONS", _positive_int),
        }
        values: dict[str, Any] = {}
        for field, (variable, parse) in parsers.items():
            raw = get(variable)
            if raw is not None:
                values[field] = parse(variable, raw)
        token = get("HF_TOKEN") or get("HUGGING_FACE_HUB_TOKEN")
        if token is not None:
            values["hf_token"] = token
        return cls(**values)


def _text(_name: str, raw: str) -> str:
    return raw


def _lower(_name: str, raw: str) -> str:
    return raw.lower()


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.lower()
        _check_choice(name, value, choices)
        return value

    return parse


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInput(f"{name}={value!r} is not valid; accepted: {', '.join(choices)}", field=name)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not an integer", field=name) from None
    if value <= 0:
        raise InvalidInput(f"{name} must be a positive integer, got {value}", field=name)
    return value


def _positive_number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number", field=name) from None
    if not value > 0 or value == float("inf"):
        raise InvalidInput(f"{name} must be a positive number, got {raw}", field=name)
    return value


def _flag(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name}={raw!r} is not a boolean; use 1 or 0", field=name)


def _parse_auth(_name: str, raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in raw.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise InvalidInput("UI_AUTH must be user:password[,user:password...]", field="UI_AUTH")
        pairs.append((user, password))
    return tuple(pairs)


def _parse_keys(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if not keys:
        raise InvalidInput(f"{name} must be one or more comma-separated keys", field=name)
    return keys


def is_loopback(host: str) -> bool:
    """Whether a server bound to `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
