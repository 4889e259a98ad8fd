"""Both peers' own payloads (tests/fixtures/peers, with attribution) through the real SDK server, asserting the
fields their documented clients read. Only audio locations change (the tests are offline: the lenient worker
fetches from a local media server) and the model name, because the peers' models cannot be installed here."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from tests import speech
from tests.servers import media_server

FIXTURES = Path(__file__).parent / "fixtures" / "peers"
SAMPLE_TEXT = "Hello, this is a sample of my voice, recorded so the worker can tell who is speaking."
OTHER_MALE = "voice_ked_diphone"  # a third voice that is not in the dialogue


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def default_model(models_dir: Path) -> str:
    return json.loads((models_dir / "manifest.json").read_text())["defaults"]["asr"]


@pytest.fixture(scope="module")
def strict(rp_workers):
    return rp_workers["strict"]


@pytest.fixture(scope="module")
def lenient(rp_workers):
    return rp_workers["lenient"]


@pytest.fixture(scope="module")
def media(dialogue, tmp_path_factory) -> Iterator[str]:
    """The dialogue and one voice sample per festival voice, served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("samples")
    served = {"dialogue.wav": dialogue.path.read_bytes()}
    for name, voice in (("speaker1.wav", speech.MALE), ("speaker2.wav", speech.FEMALE), ("speaker3.wav", OTHER_MALE)):
        soundfile.write(str(folder / name), speech.synthesize(SAMPLE_TEXT, voice), speech.SAMPLE_RATE)
        served[name] = (folder / name).read_bytes()
    with media_server(served) as base:
        yield base


def relocate(payload: dict[str, Any], base: str) -> dict[str, Any]:
    """Point every https://… audio location of a peer payload at the local media server."""
    payload = copy.deepcopy(payload)
    for key in ("audio", "audio_file"):
        if str(payload.get(key, "")).startswith("https://"):
            payload[key] = f"{base}/file/dialogue.wav"
    for sample in payload.get("speaker_samples", ()):
        sample["url"] = f"{base}/file/{sample['url'].rsplit('/', 1)[-1]}"
    return payload


# ---- the official faster-whisper worker ------------------------------------------------------------
def assert_faster_whisper_client_reads(output: dict[str, Any], dialogue, model: str) -> None:
    """What its README's output example and its handler give: every segment key with its type, and the top
    level keys. Decoder statistics are numbers or null (null where the batched decoder has none)."""
    assert output["detected_language"] == "en" and output["model"] == model and output["device"] == "cpu"
    assert isinstance(output["transcription"], str) and output["translation"] is None
    assert speech.word_error_rate(dialogue.script, output["transcription"]) < 0.25, output["transcription"]
    assert [segment["id"] for segment in output["segments"]] == list(range(1, len(output["segments"]) + 1))
    for segment in output["segments"]:
        assert isinstance(segment["start"], float) and isinstance(segment["end"], float)
        assert isinstance(segment["text"], str)
        for key in ("seek", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"):
            assert segment[key] is None or isinstance(segment[key], int | float), (key, segment[key])
        assert segment["tokens"] is None or all(isinstance(token, int) for token in segment["tokens"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["faster_whisper.test_input.json", "faster_whisper.hub_tests.json",
                                  "faster_whisper.readme_example.json"])
def test_faster_whisper_payloads(lenient, media, dialogue, models_dir, name):
    data = fixture(name)
    payload = data["tests"][0]["input"] if "tests" in data else data["input"]
    assert payload["model"] in ("turbo", "base")
    payload = {**relocate(payload, media), "model": default_model(models_dir)}  # their model is not installed here
    output = lenient.output(payload)
    assert_faster_whisper_client_reads(output, dialogue, default_model(models_dir))
    if "suppress_tokens" in payload:  # "plain text" (with a space) as its example spells it
        assert payload["transcription"] == "plain text" and "\n" not in output["transcription"]


@pytest.mark.slow
def test_faster_whisper_word_timestamps_and_translation_keys(strict, dialogue, models_dir):
    model = default_model(models_dir)
    output = strict.output({"audio_base64": base64.b64encode(dialogue.path.read_bytes()).decode(), "model": model,
                            "word_timestamps": True, "translate": True, "translation": "srt", "transcription": "vtt"})
    words = output["word_timestamps"]
    aligned = all(segment["words"] for segment in output["segments"])
    if aligned:
        assert len(words) == sum(len(segment["words"]) for segment in output["segments"])
        assert all(set(word) == {"word", "start", "end", "probability"} for word in words)
        assert output["word_timing"] in ("wav2vec2", "whisper")
    else:
        assert words == [] and any("alignment" in warning for warning in output["warnings"]), output["warnings"]
    assert output["transcription"].startswith("WEBVTT")
    # English audio: the translation is the transcript itself (no second pass), rendered as asked
    assert output["translation"].lstrip().startswith("1\n")
    translated = " ".join(segment["text"] for segment in output["translation_segments"])
    assert speech.word_error_rate(dialogue.script, translated) < 0.25


@pytest.mark.slow
def test_not_installed_model_is_refused_by_name(strict):
    message = strict.error({"audio": "https://example.com/a.wav", "model": "turbo"})
    assert "'turbo' is not installed" in message and "installed:" in message


# ---- the WhisperX worker ----------------------------------------------------------------------------
def assert_whisperx_client_reads(output: dict[str, Any], dialogue, *, diarized: bool) -> None:
    assert output["detected_language"] == "en"
    assert output["language_probability"] is None or 0 < output["language_probability"] <= 1
    assert speech.word_error_rate(dialogue.script, " ".join(s["text"] for s in output["segments"])) < 0.25
    for segment in output["segments"]:
        assert {"start", "end", "text", "words"} <= set(segment)
        for word in segment["words"]:
            assert {"word", "start", "end"} <= set(word)
            if diarized:
                assert "speaker" in word
        if diarized:
            assert "speaker" in segment
    if diarized:
        speakers = output["speakers"]
        assert isinstance(speakers, dict) and speakers
        for entry in speakers.values():
            assert isinstance(entry["name"], str) and isinstance(entry["time"], float) and entry["time"] > 0


@pytest.mark.slow
def test_whisperx_hub_test_and_basic_examples(lenient, media, dialogue):
    examples = fixture("whisperx.readme_examples.json")
    hub = fixture("whisperx.hub_tests.json")["tests"][0]["input"]
    for payload in (hub, examples["basic_transcription"]["input"]):
        assert_whisperx_client_reads(lenient.output(relocate(payload, media)), dialogue, diarized=False)


@pytest.mark.slow
def test_whisperx_base64_examples(strict, dialogue):
    """Its README sends audio_file as a data: URI or as raw base64."""
    encoded = base64.b64encode(dialogue.path.read_bytes()).decode()
    examples = fixture("whisperx.readme_examples.json")
    for name, value in (("base64_data_uri", f"data:audio/wav;base64,{encoded}"), ("base64_raw", encoded)):
        payload = {**examples[name]["input"], "audio_file": value}
        assert_whisperx_client_reads(strict.output(payload), dialogue, diarized=False)


@pytest.mark.slow
def test_whisperx_debug_example(lenient, media, dialogue):
    payload = relocate(fixture("whisperx.readme_examples.json")["language_detection_and_alignment"]["input"], media)
    output = lenient.output(payload)
    assert_whisperx_client_reads(output, dialogue, diarized=False)
    debug = output["debug"]
    assert debug["timings"]["transcribe"] > 0 and debug["timings"]["total"] > 0 and "fetch" in debug["timings"]
    assert debug["memory"]["peak_rss_mb"] >= debug["memory"]["rss_mb"] > 50
    assert debug["memory"]["gpu"] is None  # CPU worker


@pytest.mark.slow
def test_whisperx_diarization_example(lenient, media, dialogue):
    payload = relocate(fixture("whisperx.readme_examples.json")["full_configuration_with_diarization"]["input"],
                       media)
    output = lenient.output(payload)
    assert_whisperx_client_reads(output, dialogue, diarized=True)
    assert 2 <= len(output["speakers"]) <= 5
    assert all(entry["name"] == label for label, entry in output["speakers"].items())  # no samples: labels
    assert "YOUR_HUGGINGFACE_TOKEN" not in json.dumps(output)


@pytest.mark.slow
def test_whisperx_speaker_verification_example(lenient, media, dialogue):
    """Samples of both dialogue voices and of a third voice: the two speakers get the right names, the third
    name is left unused, segments carry the names."""
    payload = relocate(
        fixture("whisperx.readme_examples.json")["full_configuration_with_speaker_verification"]["input"], media)
    output = lenient.output(payload)
    assert_whisperx_client_reads(output, dialogue, diarized=True)
    names = {entry["name"] for entry in output["speakers"].values()}
    assert names == {"Speaker1", "Speaker2"}, output["speakers"]
    # each reference turn's words are mostly labelled with the right name
    expected = {"male": "Speaker1", "female": "Speaker2"}
    for start, end, who in dialogue.turns:
        spoken = [segment["speaker"] for segment in output["segments"]
                  if start - 0.3 <= (segment["start"] + segment["end"]) / 2 <= end + 0.3]
        assert spoken and max(set(spoken), key=spoken.count) == expected[who], (who, spoken)
    assert set(output["speakers"]) <= {f"SPEAKER_{i:02d}" for i in range(10)}  # keyed by diarization label


@pytest.mark.slow
def test_speaker_verification_problems_are_warnings(strict, dialogue):
    encoded = base64.b64encode(dialogue.path.read_bytes()).decode()
    short = np.zeros(800, dtype=np.float32)  # 50 ms: too short to embed
    output = strict.output({"audio_file": encoded, "diarization": True, "align_output": False,
                            "speaker_verification": True,
                            "speaker_samples": [{"name": "Tiny", "url": _wav_base64(short)}]})
    assert any("'Tiny' is too short" in warning for warning in output["warnings"]), output["warnings"]
    assert all(entry["name"] == label for label, entry in output["speakers"].items())
    output = strict.output({"audio_file": encoded, "align_output": False, "speaker_verification": True,
                            "speaker_samples": [{"name": "Ada", "url": encoded}]})
    assert any("needs diarization=true" in warning for warning in output["warnings"]), output["warnings"]


def _wav_base64(samples: np.ndarray) -> str:
    import io

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, speech.SAMPLE_RATE, format="WAV")
    return base64.b64encode(buffer.getvalue()).decode()
