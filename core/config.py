"""Settings read once from the environment (ARCHITECTURE.md section 2).

Nothing else in the project reads `os.environ` for these names; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from core.errors import InvalidInput

APP_MODES = ("ui", "runpod")
DEVICES = ("auto", "cpu", "cuda")
COMPUTE_TYPES = ("auto", "float16", "bfloat16", "float32", "int8", "int8_float16", "int8_float32", "int8_bfloat16")
FALLBACK_WHISPER_MODEL = "large-v3-turbo"
FALLBACK_DIARIZATION_MODEL = "pyannote/speaker-diarization-community-1"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Process-wide configuration; `None` means "take it from the manifest / hardware"."""

    app_mode: str = "ui"
    models_dir: Path = Path("/models")
    whisper_model: str | None = None
    device: str = "auto"
    compute_type: str = "auto"
    batch_size: int | None = None
    diarization_model: str | None = None
    hf_token: str | None = dataclasses.field(default=None, repr=False)
    preload: bool = True
    hub_offline: bool = False
    server_name: str = "0.0.0.0"
    server_port: int = 7860
    ui_auth: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    max_upload_mb: int = 1024
    allow_private_urls: bool = False

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse the documented variables; a malformed value is an error naming the variable."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        app_mode = (get("APP_MODE") or "ui").lower()
        device = (get("DEVICE") or "auto").lower()
        compute_type = (get("COMPUTE_TYPE") or "auto").lower()
        _check_choice("DEVICE", device, DEVICES)
        _check_choice("COMPUTE_TYPE", compute_type, COMPUTE_TYPES)
        return cls(
            app_mode=app_mode,
            models_dir=Path(get("MODELS_DIR") or "/models"),
            whisper_model=get("WHISPER_MODEL"),
            device=device,
            compute_type=compute_type,
            batch_size=_positive_int("BATCH_SIZE", get("BATCH_SIZE")),
            diarization_model=get("DIARIZATION_MODEL"),
            hf_token=get("HF_TOKEN") or get("HUGGING_FACE_HUB_TOKEN"),
            preload=_flag("PRELOAD", get("PRELOAD"), default=True),
            hub_offline=_flag("HF_HUB_OFFLINE", get("HF_HUB_OFFLINE"), default=False),
            server_name=get("GRADIO_SERVER_NAME") or "0.0.0.0",
            server_port=_positive_int("GRADIO_SERVER_PORT", get("GRADIO_SERVER_PORT")) or 7860,
            ui_auth=_parse_auth(get("UI_AUTH")),
            max_upload_mb=_positive_int("MAX_UPLOAD_MB", get("MAX_UPLOAD_MB")) or 1024,
            allow_private_urls=_flag("ALLOW_PRIVATE_URLS", get("ALLOW_PRIVATE_URLS"), default=False),
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInput(f"{name}={value!r} is not valid; accepted: {', '.join(choices)}", field=name)


def _positive_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not an integer", field=name) from None
    if value <= 0:
        raise InvalidInput(f"{name} must be a positive integer, got {value}", field=name)
    return value


def _flag(name: str, raw: str | None, *, default: bool) -> bool:
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name}={raw!r} is not a boolean; use 1 or 0", field=name)


def _parse_auth(raw: str | None) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    pairs = []
    for item in raw.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise InvalidInput("UI_AUTH must be user:password[,user:password...]", field="UI_AUTH")
        pairs.append((user, password))
    return tuple(pairs)
