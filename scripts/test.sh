#!/usr/bin/env bash
# The test command: set up (with test tools) on a fresh machine, lint, then run the whole suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 GRADIO_ANALYTICS_ENABLED=False
export WXW_TEST_MODELS_DIR="${WXW_TEST_MODELS_DIR:-$PWD/models}"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
