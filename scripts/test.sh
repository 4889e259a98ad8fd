#!/usr/bin/env bash
# The test command: set up (with test tools) on a fresh machine, lint, then run the whole suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 GRADIO_ANALYTICS_ENABLED=False
export WXW_TEST_MODELS_DIR="${WXW_TEST_MODELS_DIR:-$PWD/models}"
.venv/bin/ruff check .
# Two processes (pytest-xdist), whole modules each, so a module's fixtures (servers, engines) start once; the
# longest modules first (tests/conftest.py). TEST_WORKERS=0 runs it in this one process.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
