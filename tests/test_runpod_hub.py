"""`.runpod/hub.json` and `.runpod/tests.json` in the form RunPod's Hub reads (as in the official workers'
files), and consistent with this worker: every env variable is one the worker reads, every test input is a
valid request. No models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.settings import Settings
from rp_worker.inputs import parse_input

ROOT = Path(__file__).resolve().parents[1]
HUB = json.loads((ROOT / ".runpod" / "hub.json").read_text(encoding="utf-8"))
TESTS = json.loads((ROOT / ".runpod" / "tests.json").read_text(encoding="utf-8"))
INPUT_TYPES = {"string", "number", "boolean", "select"}


def _image_cuda() -> tuple[int, int]:
    match = re.search(r"nvidia/cuda:(\d+)\.(\d+)", (ROOT / "Dockerfile.base").read_text(encoding="utf-8"))
    assert match, "Dockerfile.base names its CUDA image"
    return int(match[1]), int(match[2])


def test_hub_json_has_the_hub_fields():
    assert {"title", "description", "type", "category", "iconUrl", "config"} <= set(HUB)
    assert HUB["type"] == "serverless" and HUB["category"] == "audio"
    config = HUB["config"]
    assert config["runsOn"] == "GPU" and config["gpuCount"] == 1 and config["containerDiskInGb"] >= 20
    assert all(part in {"ADA_24", "AMPERE_16", "AMPERE_24", "ADA_48_PRO", "AMPERE_48", "AMPERE_80", "ADA_80_PRO"}
               for part in config["gpuIds"].split(","))


@pytest.mark.parametrize("allowed", [HUB["config"]["allowedCudaVersions"], TESTS["config"]["allowedCudaVersions"]])
def test_cuda_versions_can_run_the_image(allowed):
    """A host driver older than the image's CUDA cannot run it."""
    image = _image_cuda()
    assert allowed and all(tuple(int(p) for p in version.split(".")) >= image for version in allowed), allowed


@pytest.mark.parametrize("entry", HUB["config"]["env"], ids=lambda entry: entry["key"])
def test_hub_env_variables_are_ones_the_worker_reads(entry):
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert f"`{entry['key']}`" in configuration, f"{entry['key']} is not documented in docs/configuration.md"
    if "value" in entry:
        value = entry["value"]
    else:
        spec = entry["input"]
        assert {"name", "type", "description", "default"} <= set(spec) and spec["type"] in INPUT_TYPES
        if spec["type"] == "select":
            assert spec["default"] in spec["options"]
        value = spec["default"]
    Settings.from_env({entry["key"]: str(value)})  # parses (a bad default would raise, naming the variable)


def test_app_mode_is_the_worker():
    assert {"key": "APP_MODE", "value": "runpod"} in HUB["config"]["env"]
    assert Settings.from_env({"APP_MODE": "runpod"}).app_mode == "runpod"


@pytest.mark.parametrize("test", TESTS["tests"], ids=lambda test: test["name"])
def test_hub_tests_are_valid_requests(test):
    assert set(test) == {"name", "input", "timeout"} and 10_000 <= test["timeout"] <= 600_000
    request = parse_input(test["input"])
    assert request.field in ("audio", "audio_base64", "audio_file")


def test_hub_test_input_is_ours():
    """One Hub test is `test_input.json`, the job `python rp_handler.py --test_input` runs."""
    ours = json.loads((ROOT / "test_input.json").read_text(encoding="utf-8"))["input"]
    assert any(test["input"] == ours for test in TESTS["tests"])
    config = TESTS["config"]
    assert config["gpuCount"] == 1 and config["gpuTypeId"].startswith("NVIDIA ")


def test_the_hub_gets_one_dockerfile_made_from_the_two_layers_and_a_handler():
    """The Hub builds `.runpod/Dockerfile` (with `.runpod/handler.py` and the README beside it or in the root):
    the base's and the app's steps in one file, open profile (no token in the Hub's build), never edited by hand."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hub_dockerfile", ROOT / "scripts" / "hub_dockerfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / ".runpod" / "Dockerfile").read_text(encoding="utf-8") == module.hub_dockerfile(), (
        "run scripts/hub_dockerfile.py")
    text = module.hub_dockerfile()
    assert text.count("\nFROM ") == 1 and "\nARG MODEL_PROFILE=open\n" in text and "COPY core/ ./core/" in text
    assert (ROOT / ".runpod" / "handler.py").is_file() and (ROOT / "README.md").is_file()
